/**
 * Runs a plan on a kernel set: the arena is filled with the weights once, the load-time steps re-lay
 * them, and each inference is the plan's steps, one kernel call after another.
 */
import type { Arena, KernelSet } from './kernels.js';
import type { KernelName, Plan, Step } from './plan.js';
import { SplitTrial } from './split-trial.js';

/** Where the batch plan starts after the one-sample plan in a shared arena: a huge page, so both keep their alignment. */
const ARENA_ALIGN = 2 << 20;

/** Which arguments of each kernel are buffer offsets (the rest are sizes and scalars). */
export const OFFSET_ARGS: Record<KernelName, number[]> = {
  packSigns: [0, 1],
  packSignsAffine: [0, 1, 2, 3],
  packSignsAffine2: [0, 1, 2, 3, 4, 5, 6],
  bconv2d: [0, 1, 2, 3, 4, 5, 6, 7],
  bconv2dPackKernel: [0, 1],
  bconv2dPrepacked: [0, 1, 2, 3, 4, 5, 6, 7],
  bconv2dPrepackedPost: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  bconv2dEpilogue: [0, 1, 2, 3, 4, 5, 6],
  bconv2dEpiloguePack2: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  bconv2dEpilogueRes2: [0, 1, 2, 3, 4, 5, 6, 7],
  conv2dF32PackWeights: [0, 1],
  conv2dF32: [0, 1, 2, 3, 4, 5],
  conv2dF32Maxpool: [0, 1, 2, 3, 4, 5],
  conv2dF32MaxpoolPack: [0, 1, 2, 3, 4, 5, 6, 7, 8],
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

/** One plan in its part of an arena (from `base`): weights copied in, load-time steps run, steps bound. */
class BoundPlan {
  readonly steps: Bound[];
  readonly input: Float32Array;
  readonly output: Float32Array;

  constructor(
    readonly plan: Plan,
    kernels: KernelSet,
    buffer: ArrayBuffer,
    readonly base: number,
  ) {
    const bytes = new Uint8Array(buffer, base, plan.arenaBytes);
    for (const c of plan.constants) bytes.set(c.data, c.offset);
    const bind = (steps: Step[]): Bound[] =>
      steps.map((s) => {
        const fn = (kernels[s.kernel] as (buf: ArrayBuffer, ...args: number[]) => void).bind(kernels);
        const args = base === 0 ? s.args : s.args.map((a, i) => (OFFSET_ARGS[s.kernel].includes(i) && a >= 0 ? a + base : a));
        return { fn, args };
      });
    for (const step of bind(plan.init)) step.fn(buffer, ...step.args);
    this.steps = bind(plan.steps);
    this.input = new Float32Array(buffer, base + plan.input.offset, plan.input.floats);
    this.output = new Float32Array(buffer, base + plan.output.offset, plan.output.floats);
  }
}

/**
 * A batch plan's first steps run one sample at a time on a plan for one sample, whose maps stay in the
 * cores' caches where a whole batch's would not; the maps still alive after them are carried into the
 * batch plan's maps, sample by sample, and the batch plan runs the rest. How many: one of `candidates`,
 * which the first runs time (split-trial.ts); a single candidate is used as it is. A count between none
 * and all of the batch plan's steps needs plans that make the same calls (split.ts sameCalls); all of them
 * runs the plan for one sample whole, whatever its calls, and carries each sample's output.
 */
export interface SampleSplit {
  /** The plan of the same model for one sample. */
  plan: Plan;
  /** The counts of the batch plan's first steps that may run sample by sample (0: none). */
  candidates: number[];
}

type PlanMap = Plan['maps'][number];

/** Milliseconds that `run` takes. */
function timed(run: () => void): number {
  const start = performance.now();
  run();
  return performance.now() - start;
}

const median = (ms: number[]) => ms.sort((a, b) => a - b)[Math.floor(ms.length / 2)];

/** The maps written before step `steps` (or the input) and read at or after it: what the batch plan takes over. */
export function carriedMaps(one: Plan, batch: Plan, steps: number): { one: PlanMap; batch: PlanMap }[] {
  return batch.maps.flatMap((b, j) => (b.first < steps && b.last >= steps ? [{ one: one.maps[j], batch: b }] : []));
}

/**
 * What a split after `steps` of the batch plan's steps carries: the maps alive after them, or where every step
 * runs sample by sample, the output (which also holds where the plans' calls differ).
 */
function carried(one: Plan, batch: Plan, steps: number, wholeBase: number): Carry[] {
  if (steps === batch.steps.length) return [{ from: one.output.offset, to: wholeBase + batch.output.offset, bytes: one.output.floats * 4 }];
  return carriedMaps(one, batch, steps).map(({ one, batch }) => ({ from: one.offset, to: wholeBase + batch.offset, bytes: one.size }));
}

/** Byte offsets (from the arena's base) of one carried map: in the one-sample plan, in the batch plan, its size per sample. */
interface Carry {
  from: number;
  to: number;
  bytes: number;
}

export class Execution {
  readonly arena: Arena;
  private readonly whole: BoundPlan;
  private readonly sample: { bound: BoundPlan; trial: SplitTrial; carries: Map<number, Carry[]> } | null;

  constructor(
    readonly plan: Plan,
    private readonly kernels: KernelSet,
    split?: SampleSplit,
  ) {
    // The one-sample plan first, at the arena's start, where a batch-1 runtime would have it (same cache sets).
    const wholeBase = split ? Math.ceil(split.plan.arenaBytes / ARENA_ALIGN) * ARENA_ALIGN : 0;
    this.arena = kernels.arena(wholeBase + plan.arenaBytes);
    const { buffer, base } = this.arena;
    this.whole = new BoundPlan(plan, kernels, buffer, base + wholeBase);
    if (split) {
      const bound = new BoundPlan(split.plan, kernels, buffer, base);
      const carries = new Map(split.candidates.map((k) => [k, carried(split.plan, plan, k, wholeBase)]));
      this.sample = { bound, trial: new SplitTrial(split.candidates), carries };
    } else {
      this.sample = null;
    }
  }

  /** How many of the plan's first steps the next run runs one sample at a time. */
  get sampleSteps(): number {
    return this.sample?.trial.next() ?? 0;
  }

  /** The split's candidates and whether the first runs' trial of them is over. */
  get sampleSplit(): { steps: number; candidates: readonly number[]; settled: boolean } {
    const trial = this.sample?.trial;
    return { steps: this.sampleSteps, candidates: trial?.candidates ?? [0], settled: trial?.settled ?? true };
  }

  /** Logits (or the output map, NCHW) for n ≤ plan.batch samples, NCHW row-major. */
  run(x: Float32Array, n: number, threads: number): Float32Array {
    const per = this.plan.input.floats / this.plan.batch;
    this.kernels.setThreads(threads);
    const buffer = this.arena.buffer;
    const trial = this.sample && !this.sample.trial.settled ? this.sample.trial : null;
    const start = trial ? performance.now() : 0;
    const split = this.sampleSteps;
    if (this.sample && split > 0) {
      const { bound } = this.sample;
      // Rows past n: zeros, as below.
      for (let i = 0; i < this.plan.batch; i++) {
        if (i < n) bound.input.set(x.subarray(i * per, (i + 1) * per));
        else if (i === n) bound.input.fill(0);
        for (let s = 0, k = this.oneSampleSteps(split); s < k; s++) bound.steps[s].fn(buffer, ...bound.steps[s].args);
        this.carry(split, i);
      }
    } else {
      this.whole.input.set(x.subarray(0, n * per));
      // Rows past n hold stale samples; kernels run on the whole planned batch, whose rows are independent.
      if (n < this.plan.batch) this.whole.input.fill(0, n * per);
    }
    const steps = this.whole.steps;
    for (let s = split; s < steps.length; s++) steps[s].fn(buffer, ...steps[s].args);
    const outPer = this.plan.output.floats / this.plan.batch;
    const y = this.whole.output.slice(0, n * outPer);
    trial?.record(performance.now() - start);
    return y;
  }

  /**
   * The steps a run runs, which profile() times: the batch plan's, or, where every step runs one sample at
   * a time, the plan for one sample's, each `samples` times a run.
   */
  get profiled(): { plan: Plan; samples: number } {
    const sample = this.sample && this.sampleSteps === this.plan.steps.length ? this.sample : null;
    return sample ? { plan: sample.bound.plan, samples: this.plan.batch } : { plan: this.plan, samples: 1 };
  }

  /**
   * Milliseconds per step of `profiled`'s plan over `reps` runs (median each), for per-layer figures; the
   * inputs are whatever the arena holds. A step run sample by sample counts all its samples (and the last
   * such step the carries).
   */
  profile(threads: number, reps: number): number[] {
    if (this.profiled.samples > 1) return this.profileSampleBySample(threads, reps);
    this.kernels.setThreads(threads);
    const buffer = this.arena.buffer;
    const times = this.whole.steps.map(() => [] as number[]);
    for (let r = 0; r < reps; r++) {
      const sampleSteps = this.sampleSteps;
      const sums = new Array<number>(sampleSteps).fill(0);
      if (this.sample && sampleSteps > 0) {
        const { bound } = this.sample;
        for (let i = 0; i < this.plan.batch; i++) {
          for (let s = 0; s < sampleSteps; s++) sums[s] += timed(() => bound.steps[s].fn(buffer, ...bound.steps[s].args));
          sums[sampleSteps - 1] += timed(() => this.carry(sampleSteps, i));
        }
      }
      this.whole.steps.forEach((step, i) => {
        times[i].push(i < sampleSteps ? sums[i] : timed(() => step.fn(buffer, ...step.args)));
      });
    }
    return times.map(median);
  }

  /** profile() where every step runs one sample at a time: the plan for one sample's steps, each summed over the batch. */
  private profileSampleBySample(threads: number, reps: number): number[] {
    this.kernels.setThreads(threads);
    const buffer = this.arena.buffer;
    const { bound } = this.sample!;
    const times = bound.steps.map(() => [] as number[]);
    const split = this.plan.steps.length;
    for (let r = 0; r < reps; r++) {
      const sums = new Array<number>(bound.steps.length).fill(0);
      for (let i = 0; i < this.plan.batch; i++) {
        bound.steps.forEach((step, s) => (sums[s] += timed(() => step.fn(buffer, ...step.args))));
        sums[sums.length - 1] += timed(() => this.carry(split, i));
      }
      sums.forEach((ms, s) => times[s].push(ms));
    }
    return times.map(median);
  }

  /** How many of the one-sample plan's steps a split after `split` of the batch plan's runs: all of them where it takes every step. */
  private oneSampleSteps(split: number): number {
    return split === this.plan.steps.length ? this.sample!.bound.steps.length : split;
  }

  release(): void {
    this.arena.release();
  }

  /** Sample i's maps alive after the first `split` steps, from the one-sample plan into the batch plan's rows. */
  private carry(split: number, i: number): void {
    const bytes = new Uint8Array(this.arena.buffer, this.arena.base);
    for (const c of this.sample!.carries.get(split)!) bytes.copyWithin(c.to + i * c.bytes, c.from, c.from + c.bytes);
  }
}
