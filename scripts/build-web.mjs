#!/usr/bin/env node
/**
 * Builds the browser page into dist/web (run by `npm run build`, after tsc): type-checks web/ with the
 * DOM's types, bundles web/app.ts (with sofar/web) into app.js with esbuild, and copies the HTML, CSS,
 * test images, the bundled model and the WebAssembly kernels next to it. `sofar serve` serves the result.
 *
 * esbuild and TypeScript are dev dependencies: in an installed package (no devDependencies) there is
 * nothing to build and dist/web comes with the package.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const web = join(root, 'web');
const out = join(root, 'dist', 'web');
const wasm = join(root, 'native', 'wasm', 'sofar_kernels.wasm');
const require = createRequire(import.meta.url);

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  console.warn('sofar: build-web skipped (esbuild is not installed; run npm ci in a clone)');
  process.exit(0);
}

const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(web, 'tsconfig.json')], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
// Both bundles: ESM for current browsers, minified, with source maps and the licences beside them.
const browserBundle = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022', 'chrome100', 'firefox100', 'safari16'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
};
await esbuild.build({ ...browserBundle, entryPoints: [join(web, 'app.ts')], outfile: join(out, 'app.js') });
// The playground: the front end (parser, elaborator, checker, cost, ELK drawing) bundled for the
// browser. grammar/chevrotain.ts loads chevrotain through Node APIs; its browser twin takes its place.
const browserChevrotain = {
  name: 'sofar-browser-chevrotain',
  setup(build) {
    build.onResolve({ filter: /\/chevrotain\.js$/ }, (args) => (args.importer.startsWith(join(root, 'grammar')) ? { path: join(root, 'grammar', 'chevrotain.browser.ts') } : undefined));
  },
};
await esbuild.build({
  ...browserBundle,
  entryPoints: [join(web, 'playground.ts')],
  outfile: join(out, 'playground.js'),
  loader: { '.sofar': 'text' },
  plugins: [browserChevrotain],
});
for (const name of ['index.html', 'style.css', 'playground.html', 'playground.css', 'models', 'samples']) {
  if (existsSync(join(web, name))) cpSync(join(web, name), join(out, name), { recursive: true });
}
for (const module of [wasm, join(root, 'native', 'wasm', 'sofar_kernels_threads.wasm')]) {
  if (existsSync(module)) cpSync(module, join(out, basename(module)));
  else console.warn(`sofar: ${module} is missing; the page will say so (build it from native/ first)`);
}
console.log(`sofar: built the page in ${out}`);
