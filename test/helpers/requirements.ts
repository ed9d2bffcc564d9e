/**
 * Tests that need something outside npm (Debian's python3-onnx, NumPy, Fashion-MNIST) skip with a
 * warning where it is missing, so `npm test` runs anywhere. `.ci/run` installs all of them and sets
 * SOFAR_TEST_REQUIRE_ALL=1: there a missing requirement runs the test anyway, and it fails, instead of
 * passing CI by skipping.
 */
export const REQUIRE_ALL = process.env.SOFAR_TEST_REQUIRE_ALL === '1';

const warned = new Set<string>();

/** True when a test should skip: `missing` names what is absent (null when present) and CI does not require it. */
export function skipWithout(missing: string | null): boolean {
  if (missing === null || REQUIRE_ALL) return false;
  if (!warned.has(missing)) {
    warned.add(missing);
    console.warn(`SKIPPED: ${missing}`);
  }
  return true;
}
