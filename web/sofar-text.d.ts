/** Spec files bundled into the playground as text (esbuild's text loader, scripts/build-web.mjs). */
declare module '*.sofar' {
  const text: string;
  export default text;
}
