/**
 * The roofline profile of a plan: each step's operation, shape, time, MACs and rate against the peak of
 * its kind (binary or float), and the model's limit — its binary MACs at the binary peak plus its float
 * MACs at the float peak — beside its measured time. A function of plain data: the plan, the median time
 * of each step (`BinaryRuntime.profile`) and the peaks.
 */
import { OFFSET_ARGS } from './execute.js';
import type { Plan, Step } from './plan.js';

/** MACs a second of binary (bit) and float multiply-accumulates. */
export interface Rates {
  binaryMacsPerSecond: number;
  floatMacsPerSecond: number;
}

/**
 * The peaks measured on the machine at hand. The ceilings (`binaryMacsPerSecond`, `floatMacsPerSecond`) are
 * what the shares and the limit are taken against: the cores' register-only rates of the GEMMs' inner steps
 * where the kernel set measures them (basis 'register-only': no kernel can run faster), else what SoFAr's
 * kernels reach on ideal shapes (basis 'kernels'). `kernels`: those ideal shapes' rates, beside the ceilings.
 */
export interface Peaks extends Rates {
  basis: 'register-only' | 'kernels';
  kernels?: Rates;
  /** How they were measured, for the report. */
  method: string;
}

export interface StepProfile {
  step: number;
  kernel: string;
  shape: string;
  ms: number;
  macs: number;
  kind: 'binary' | 'float' | 'other';
  /** MACs a second (0 for steps without MACs). */
  macsPerSecond: number;
  /** macsPerSecond over the ceiling of its kind, Peaks' binaryMacsPerSecond or floatMacsPerSecond (null without MACs). */
  shareOfPeak: number | null;
  /** macsPerSecond over what SoFAr's kernels reach on an ideal shape of its kind (null without MACs or without Peaks' kernels). */
  shareOfKernelPeak: number | null;
}

export interface Roofline {
  steps: StepProfile[];
  totalMs: number;
  binaryMacs: number;
  floatMacs: number;
  /** binaryMacs / binary peak + floatMacs / float peak: the fastest the MACs could run. */
  limitMs: number;
  /** limitMs / totalMs: how close the model runs to its limit. */
  shareOfLimit: number;
  peaks: Peaks;
}

const CONV_KERNELS = new Set(['bconv2d', 'bconv2dPrepacked', 'bconv2dPrepackedPost', 'bconv2dEpilogue', 'bconv2dEpiloguePack2', 'bconv2dEpilogueRes2', 'conv2dF32', 'conv2dF32Maxpool', 'conv2dF32MaxpoolPack']);

/** The operation of a step with its MACs: convolutions and dense layers; every other step has none. */
export function stepCost(step: Step): { shape: string; macs: number; kind: StepProfile['kind'] } {
  const ints = step.args.slice(OFFSET_ARGS[step.kernel].length);
  if (CONV_KERNELS.has(step.kernel)) {
    const [n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups] = ints;
    const ho = Math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
    const wo = Math.floor((w + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
    // conv2dF32Maxpool(Pack): the conv's ints, relu, xNchw, then the pool's window (its max ops are not MACs; 1×1 /1: none)
    const [pkh, pkw, psh] = ints.slice(18, 21);
    const pooled = step.kernel.startsWith('conv2dF32Maxpool') && (pkh > 1 || pkw > 1 || psh > 1);
    const pool = pooled ? ` + maxpool ${pkh}x${pkw}${psh > 1 ? ` /${psh}` : ''}` : '';
    const shape = `${kh}x${kw} ${cin}→${cout} at ${h}x${w}${sh > 1 ? ` /${sh}` : ''}${groups > 1 ? ` g${groups}` : ''}${n > 1 ? ` ×${n}` : ''}${pool}`;
    return { shape, macs: n * ho * wo * cout * kh * kw * (cin / groups), kind: step.kernel.startsWith('conv2dF32') ? 'float' : 'binary' };
  }
  if (step.kernel === 'conv2dF32Avgpool2') {
    // n h w cin cout over x's size; the 1×1 conv runs on the pooled (h/2)×(w/2) map (the pool's adds are not MACs)
    const [n, h, w, cin, cout] = ints;
    const ho = Math.floor(h / 2), wo = Math.floor(w / 2);
    return { shape: `avgpool 2x2 /2 + 1x1 ${cin}→${cout} at ${ho}x${wo}${n > 1 ? ` ×${n}` : ''}`, macs: n * ho * wo * cout * cin, kind: 'float' };
  }
  if (step.kernel === 'dwconv2dF32') {
    const [n, h, w, c, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw] = ints;
    const ho = Math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
    const wo = Math.floor((w + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
    return { shape: `depthwise ${kh}x${kw} ${c} at ${h}x${w}${sh > 1 ? ` /${sh}` : ''}`, macs: n * ho * wo * c * kh * kw, kind: 'float' };
  }
  if (step.kernel === 'denseF32') {
    const [n, inputs, outputs] = ints;
    return { shape: `${inputs}→${outputs}${n > 1 ? ` ×${n}` : ''}`, macs: n * inputs * outputs, kind: 'float' };
  }
  return { shape: '', macs: 0, kind: 'other' };
}

/**
 * A peak from rounds of a probe (each round's rate, MACs a second): the fastest round's. A peak is the best
 * the cores reach; a shared machine's slow phases (a thread descheduled for a round) only lower rounds.
 */
export function peakRate(roundRates: readonly number[]): number {
  return Math.max(...roundRates);
}

export function roofline(plan: Plan, stepMs: readonly number[], peaks: Peaks, samples = 1): Roofline {
  const steps = plan.steps.map((step, i): StepProfile => {
    const cost = stepCost(step);
    // a plan for one sample run `samples` times a run (BinaryRuntime.profiled): each step's MACs that many times
    const shape = samples > 1 && cost.macs > 0 ? `${cost.shape} ×${samples} one at a time` : cost.shape;
    const macs = cost.macs * samples, kind = cost.kind;
    const ms = stepMs[i];
    const macsPerSecond = macs && ms > 0 ? macs / (ms / 1e3) : 0;
    const peakOf = (rates: Rates) => (kind === 'binary' ? rates.binaryMacsPerSecond : rates.floatMacsPerSecond);
    const shareOfPeak = kind === 'other' ? null : macsPerSecond / peakOf(peaks);
    const shareOfKernelPeak = kind === 'other' || !peaks.kernels ? null : macsPerSecond / peakOf(peaks.kernels);
    return { step: i, kernel: step.kernel, shape, ms, macs, kind, macsPerSecond, shareOfPeak, shareOfKernelPeak };
  });
  const sum = (kind: StepProfile['kind']) => steps.filter((s) => s.kind === kind).reduce((a, s) => a + s.macs, 0);
  const binaryMacs = sum('binary');
  const floatMacs = sum('float');
  const totalMs = steps.reduce((a, s) => a + s.ms, 0);
  const limitMs = (binaryMacs / peaks.binaryMacsPerSecond + floatMacs / peaks.floatMacsPerSecond) * 1e3;
  return { steps, totalMs, binaryMacs, floatMacs, limitMs, shareOfLimit: totalMs > 0 ? limitMs / totalMs : 0, peaks };
}
