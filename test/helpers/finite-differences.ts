/** What the gradient tests' finite differences share. */

/** `f()` with `values[i]` raised by `h`, then lowered by `h` (and restored after): the two sides of a central difference. */
export function nudged<T>(values: Float64Array, i: number, h: number, f: () => T): { up: T; down: T } {
  const saved = values[i];
  values[i] = saved + h;
  const up = f();
  values[i] = saved - h;
  const down = f();
  values[i] = saved;
  return { up, down };
}
