/**
 * Lays maps `parts` of shape `[N, C, rows, cols]` — row-major over a `factor` grid — onto one map
 * `[N, C, size]`: part (r, q) lands on cells (factor[0]·m + r, factor[1]·n + q). Cells the parts do not
 * reach get 0; parts reaching past `size` are cropped. Replicated by Concat and Reshape: ORT's Concat
 * copies whole rows, several times faster than Expand, Resize or a scatter here.
 */
import type { Pair } from '../../src/graph/types.js';
import type { Emitter } from './emitter.js';

export function interleave(e: Emitter, parts: readonly string[], factor: Pair, c: number, grid: Pair, size: Pair): string {
  const [fh, fw] = factor;
  const cells = parts.map((p) => e.op('Reshape', [p, e.i64([0, c, grid[0], 1, grid[1], 1])]));
  const rows = Array.from({ length: fh }, (_, r) => (fw === 1 ? cells[r] : e.op('Concat', cells.slice(r * fw, (r + 1) * fw), { axis: 5 })));
  const joined = fh === 1 ? rows[0] : e.op('Concat', rows, { axis: 3 });
  const covered: Pair = [grid[0] * fh, grid[1] * fw];
  let y = e.op('Reshape', [joined, e.i64([0, c, ...covered])], {}, { hint: 'dx' });
  if (covered[0] > size[0] || covered[1] > size[1]) {
    y = e.op('Slice', [y, e.i64([0, 0]), e.i64([Math.min(covered[0], size[0]), Math.min(covered[1], size[1])]), e.i64([2, 3])], {}, { hint: 'dx' });
  }
  if (covered[0] < size[0] || covered[1] < size[1]) {
    y = e.op('Pad', [y, e.i64([0, 0, 0, 0, 0, 0, Math.max(size[0] - covered[0], 0), Math.max(size[1] - covered[1], 0)])], {}, { hint: 'dx' });
  }
  return y;
}
