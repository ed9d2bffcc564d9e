/**
 * dL/dx of a strided convolution by output phases, on the CPU's blocked kernels: onnxruntime's
 * `ConvTranspose` ran the strided input gradients of the Fashion-MNIST nets at ~40 Gf-MAC/s and barely
 * used a second thread (stride 2, 28×28×32 → 14×14×64 at batch 128: 11 ms).
 *
 * Along one axis (size H, kernel K, stride s, leading pad p), input row y = s·m + r receives
 * dy[i]·w[k] for s·i + k − p = y, so only the taps k ≡ r + p (mod s) reach phase r:
 * k = k0 + s·t with k0 = (r + p) mod s, t < T = ⌈(K − k0) / s⌉, from row i = m + ⌊(r + p) / s⌋ − t.
 * Each phase (r, r') is thus a stride-1 convolution of dy with a T × T' sub-kernel (taps reversed) and
 * pads that put its output on the phase's grid; the s·s' phase maps interleave into dx. Together they
 * do the forward conv's MACs, on the blocked direct kernels.
 */
import type { OpAttrs, Pads, Pair } from '../../src/graph/types.js';
import { BEFORE_START, type Emitter } from './emitter.js';
import { interleave } from './interleave.js';
import { fillsBlocks, nchwcConv } from './nchwc.js';

type ConvAttrs = OpAttrs['conv'];

/** One output phase along one axis: the first tap, the tap count, and the sub-conv's pads. */
interface AxisPhase {
  firstTap: number;
  taps: number;
  padBefore: number;
  padAfter: number;
}

/** Phase r of an axis of input size `size`, output size `out`; `rows`: the phase maps' common size. */
function axisPhase(r: number, size: { kernel: number; stride: number; padBefore: number; out: number; rows: number }): AxisPhase | null {
  const { kernel, stride, padBefore, out, rows } = size;
  const firstTap = (r + padBefore) % stride;
  if (firstTap >= kernel) return null;
  const taps = Math.ceil((kernel - firstTap) / stride);
  const pad = taps - 1 - Math.floor((r + padBefore) / stride);
  return { firstTap, taps, padBefore: pad, padAfter: rows - out - pad + taps - 1 };
}

/**
 * dL/dx `[N, C, H, W]` of a strided conv with kernel `w` `[O, C, kh, kw]`, or null where the phases do
 * not apply (dilation, groups, channels off the NCHWc blocks, a phase no tap reaches): the caller keeps
 * `ConvTranspose` there.
 */
export function phasedInputGrad(e: Emitter, dy: string, w: string, a: ConvAttrs, inShape: readonly number[], outShape: readonly number[], block: number): string | null {
  const [c, h, wd] = inShape;
  const [o, oh, ow] = outShape;
  const [sh, sw] = a.stride;
  if (!fillsBlocks(block, a.groups, c, o) || a.dilation.some((d) => d !== 1)) return null;
  const rows = Math.ceil(h / sh);
  const cols = Math.ceil(wd / sw);
  const phases: { r: AxisPhase; q: AxisPhase }[] = [];
  for (let r = 0; r < sh; r++) {
    for (let q = 0; q < sw; q++) {
      const pr = axisPhase(r, { kernel: a.kernel[0], stride: sh, padBefore: a.pads[0], out: oh, rows });
      const pq = axisPhase(q, { kernel: a.kernel[1], stride: sw, padBefore: a.pads[1], out: ow, rows: cols });
      if (!pr || !pq) return null;
      // A phase whose pads would crop all of dy (a tiny output behind wide pads): ConvTranspose.
      if (oh - Math.max(-pr.padBefore, 0) - Math.max(-pr.padAfter, 0) < 1 || ow - Math.max(-pq.padBefore, 0) - Math.max(-pq.padAfter, 0) < 1) return null;
      phases.push({ r: pr, q: pq });
    }
  }
  const transposed = e.op('Transpose', [w], { perm: [1, 0, 2, 3] }, { hint: 'wT' });
  const maps = phases.map(({ r, q }) => {
    const last = (p: AxisPhase, s: number) => p.firstTap + s * (p.taps - 1);
    const end = (p: AxisPhase) => (p.firstTap - 1 < 0 ? BEFORE_START : p.firstTap - 1);
    const sub = e.op('Slice', [transposed, e.i64([last(r, sh), last(q, sw)]), e.i64([end(r), end(q)]), e.i64([2, 3]), e.i64([-sh, -sw])], {}, { hint: 'wphase' });
    // A negative pad crops dy instead: the phase's first (or last) rows read none of it.
    const crop = [-r.padBefore, -q.padBefore, -r.padAfter, -q.padAfter].map((p) => Math.max(p, 0));
    const input = crop.some((p) => p > 0) ? e.op('Slice', [dy, e.i64([crop[0], crop[1]]), e.i64([oh - crop[2], ow - crop[3]]), e.i64([2, 3])], {}, { hint: 'dycrop' }) : dy;
    const pads: Pads = [Math.max(r.padBefore, 0), Math.max(q.padBefore, 0), Math.max(r.padAfter, 0), Math.max(q.padAfter, 0)];
    const kernel: Pair = [r.taps, q.taps];
    return nchwcConv(e, input, sub, { kernel, pads, dilation: [1, 1] }, { in: o, out: c }, block, 'dxphase');
  });
  return interleave(e, maps, [sh, sw], c, [rows, cols], [h, wd]);
}
