/**
 * Runs a plan on a kernel set: the arena is filled with the weights once, the load-time steps re-lay
 * them, and each inference is the plan's steps, one kernel call after another.
 */
import type { Arena, KernelSet } from './kernels.js';
import type { KernelName, Plan, Step } from './plan.js';

/** Which arguments of each kernel are buffer offsets (the rest are sizes and scalars). */
export const OFFSET_ARGS: Record<KernelName, number[]> = {
  packSigns: [0, 1],
  packSignsAffine: [0, 1, 2, 3],
  bconv2d: [0, 1, 2, 3, 4, 5, 6, 7],
  bconv2dPackKernel: [0, 1],
  bconv2dPrepacked: [0, 1, 2, 3, 4, 5, 6, 7],
  bconv2dPrepackedPost: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  bconv2dEpilogue: [0, 1, 2, 3, 4, 5, 6],
  bconv2dEpiloguePack2: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  conv2dF32PackWeights: [0, 1],
  conv2dF32: [0, 1, 2, 3, 4, 5],
  conv2dF32Maxpool: [0, 1, 2, 3, 4],
  conv2dF32Avgpool2: [0, 1, 2, 3, 4, 5],
  denseF32: [0, 1, 2, 3],
  maxpoolF32: [0, 1],
  maxpoolReluF32: [0, 1],
  avgpoolF32: [0, 1],
  globalAvgpoolF32: [0, 1],
  affineF32: [0, 1, 2, 3],
  reluF32: [0, 1],
  preluF32: [0, 1, 2],
  clipF32: [0, 1],
  signF32: [0, 1],
  copyF32: [0, 1],
  addF32: [0, 1, 2],
  maxF32: [0, 1, 2],
  scaleF32: [0, 2],
  sumF32: [0, 1, 2, 3, 5, 6],
  nchwToNhwc: [0, 1],
  nhwcToNchw: [0, 1],
  dwconv2dF32: [0, 1, 2, 3, 4],
  sigmoidF32: [0, 1],
  roundF32: [0, 1],
  heavisideF32: [0, 1],
  divF32: [0, 1, 2],
  copyStridedF32: [0, 1],
  padChannelsF32: [0, 1],
  mulF32: [0, 1, 2],
  mulChannelsF32: [0, 1, 2],
};

type Bound = { fn: (buf: ArrayBuffer, ...args: number[]) => void; args: number[] };

export class Execution {
  readonly arena: Arena;
  private readonly steps: Bound[];
  private readonly input: Float32Array;
  private readonly output: Float32Array;

  constructor(
    readonly plan: Plan,
    private readonly kernels: KernelSet,
  ) {
    this.arena = kernels.arena(plan.arenaBytes);
    const { buffer, base } = this.arena;
    const bytes = new Uint8Array(buffer, base, plan.arenaBytes);
    for (const c of plan.constants) bytes.set(c.data, c.offset);
    for (const step of this.bind(plan.init)) step.fn(buffer, ...step.args);
    this.steps = this.bind(plan.steps);
    this.input = new Float32Array(buffer, base + plan.input.offset, plan.input.floats);
    this.output = new Float32Array(buffer, base + plan.output.offset, plan.output.floats);
  }

  /** Logits (or the output map, NCHW) for n ≤ plan.batch samples, NCHW row-major. */
  run(x: Float32Array, n: number, threads: number): Float32Array {
    const per = this.plan.input.floats / this.plan.batch;
    this.input.set(x.subarray(0, n * per));
    // Rows past n hold stale samples; kernels run on the whole planned batch, whose rows are independent.
    if (n < this.plan.batch) this.input.fill(0, n * per);
    this.kernels.setThreads(threads);
    const buffer = this.arena.buffer;
    for (const step of this.steps) step.fn(buffer, ...step.args);
    const outPer = this.plan.output.floats / this.plan.batch;
    return this.output.slice(0, n * outPer);
  }

  /** Milliseconds per step over `reps` runs (median each), for per-layer figures; the inputs are whatever the arena holds. */
  profile(threads: number, reps: number): number[] {
    this.kernels.setThreads(threads);
    const buffer = this.arena.buffer;
    const times = this.steps.map(() => [] as number[]);
    for (let r = 0; r < reps; r++) {
      this.steps.forEach((step, i) => {
        const start = performance.now();
        step.fn(buffer, ...step.args);
        times[i].push(performance.now() - start);
      });
    }
    return times.map((t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]);
  }

  release(): void {
    this.arena.release();
  }

  private bind(steps: Step[]): Bound[] {
    const base = this.arena.base;
    return steps.map((s) => {
      const fn = (this.kernels[s.kernel] as (buf: ArrayBuffer, ...args: number[]) => void).bind(this.kernels);
      const args = base === 0 ? s.args : s.args.map((a, i) => (OFFSET_ARGS[s.kernel].includes(i) && a >= 0 ? a + base : a));
      return { fn, args };
    });
  }
}
