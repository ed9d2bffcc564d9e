/**
 * Which of a batch plan's first steps run one sample at a time (Execution's SampleSplit). A batch's maps
 * are the batch size times a sample's: where they outgrow the cache, every step reads its input back from
 * memory, while one sample's maps stay in cache from the step that writes them to the next. Later steps
 * have smaller maps and larger weights, and gain from the batch (weights read once for all its samples,
 * fewer and fuller kernel calls), so only a prefix runs sample by sample.
 *
 * How much a step loses over the batch depends on the machine (its L3, its memory, its neighbours) far more
 * than on the model: a cost model gives a few candidate prefixes, and the runtime's first runs time them
 * (split-trial.ts) and keep the fastest. The outputs are the same at every split, so the trial costs no exactness.
 */
import { carriedMaps, OFFSET_ARGS } from './execute.js';
import type { Plan } from './plan.js';

/**
 * What the choice weighs, in microseconds per sample: a step run sample by sample pays its call, the
 * threads' start and their join once per sample instead of once per batch; the maps alive after the last
 * such step are copied into the batch plan's; a step run over the batch reads the bytes of its maps beyond
 * the cores' L2 from the L3 or memory. The first two were fitted on 2 vCPUs of an AMD EPYC (family 26,
 * Zen 5). The third was 5 µs a MiB there and about 35 on another host's family 25 (Zen 4), where splits
 * that lost on the first won by up to 22 % (QuickNet at batch 32): the candidates span that range.
 */
export interface SplitCosts {
  stepUs: number;
  carryUsPerMiB: number;
  spillUsPerMiB: number;
}
/** The spill costs whose best prefixes are the candidates, from a fast L3 to a contended one. */
export const SPILL_US_PER_MIB = [5, 10, 20, 40, 80];
export const FITTED_COSTS: SplitCosts = { stepUs: 5, carryUsPerMiB: 100, spillUsPerMiB: SPILL_US_PER_MIB[0] };
const L2_BYTES_PER_CORE = 2 ** 20;
const MIB = 2 ** 20;

/** Whether the two plans make the same calls over maps that grow with the batch, one sample's rows after another's. */
export function sameCalls(one: Plan, batch: Plan): boolean {
  if (one.batch !== 1 || one.steps.length !== batch.steps.length || one.maps.length !== batch.maps.length) return false;
  if (one.steps.some((s, i) => s.kernel !== batch.steps[i].kernel)) return false;
  return one.maps.every((m, j) => {
    const b = batch.maps[j];
    return m.first === b.first && m.last === b.last && m.size * batch.batch === b.size;
  });
}

/** Bytes of the maps that step i reads or writes. */
export function mapBytesOfStep(plan: Plan, i: number): number {
  const step = plan.steps[i];
  const offsets = OFFSET_ARGS[step.kernel].map((a) => step.args[a]).filter((o) => o >= 0);
  const touched = plan.maps.filter((m) => m.first <= i && m.last >= i && offsets.some((o) => o >= m.offset && o < m.offset + m.bytes));
  return touched.reduce((sum, m) => sum + m.size, 0);
}

/**
 * How many of the batch plan's first steps run sample by sample on `one` (0: none): the count that the costs
 * put lowest. On the Zen 5 host with its fitted costs (batch 8 and 32, outputs identical): ReActNet-A
 * 1.05-1.10x, DRF-c2d2 1.14-1.17x; Bi-Real, QuickNet, QuickNetSmall and RF-c4d8 kept the whole batch (RF-c4d8
 * lost 10 % at batch 8 with its 56x56 stage sample by sample: 21 more calls a sample, its batch's maps in L3).
 */
export function chooseSampleSteps(one: Plan, batch: Plan, threads: number, costs: SplitCosts = FITTED_COSTS): number {
  if (batch.batch === 1 || !sameCalls(one, batch)) return 0;
  const cache = threads * L2_BYTES_PER_CORE;
  const spill = batch.steps.map((_, i) => (Math.max(0, mapBytesOfStep(batch, i) - cache) / batch.batch / MIB) * costs.spillUsPerMiB);
  let tail = spill.reduce((a, b) => a + b, 0);
  let best = { steps: 0, cost: tail };
  for (let k = 1; k <= batch.steps.length; k++) {
    tail -= spill[k - 1];
    const carried = carriedMaps(one, batch, k).reduce((sum, m) => sum + m.one.size, 0);
    const cost = costs.stepUs * k + (carried / MIB) * costs.carryUsPerMiB + tail;
    if (cost < best.cost) best = { steps: k, cost };
  }
  return best.steps;
}

/**
 * The prefixes worth timing: none, and the best under each spill cost (ascending, distinct). Where the two
 * plans make different calls (a fusion that holds for one sample only: Real-to-Binary Net's gate as its
 * conv's multiplier), no prefix carries over, but every step can: the plan for one sample runs whole, sample
 * by sample, against the batch plan (candidates 0 and all of its steps).
 */
export function sampleStepCandidates(one: Plan, batch: Plan, threads: number): number[] {
  if (batch.batch === 1) return [0];
  if (!sameCalls(one, batch)) return [0, batch.steps.length];
  const best = SPILL_US_PER_MIB.map((spillUsPerMiB) => chooseSampleSteps(one, batch, threads, { ...FITTED_COSTS, spillUsPerMiB }));
  return [...new Set([0, ...best])].sort((a, b) => a - b);
}
