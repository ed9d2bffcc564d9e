/**
 * The constructs of today's binary nets (issue 20) in the generated model.py: eval-mode logits equal a
 * float64 reference written from docs/semantics.md (test/torch/reference.ts) within 1e-4 of their
 * scale; where the loss is smooth, training-mode gradients equal central differences of the loss in
 * float64; each new quantizer's forward and pseudo-gradient equal the semantics' formulas; a fixed
 * kernel is a buffer that optimizer steps leave alone. One Python process runs every model.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { emitModelPy } from '../../backends/torch/index.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import type { QuantizerRef, WeightMap } from '../../src/graph/types.js';
import { Random } from '../../src/random.js';
import { seededInput } from '../../src/weights/init.js';
import { maxAbs, maxAbsDiff, refSign } from '../helpers/reference.js';
import { skipWithout } from '../helpers/requirements.js';
import { busyWeights, normalValues } from '../helpers/values.js';
import { relativeError } from '../ort-train/graphs.js';
import { BLUR, constructCases } from './graphs.js';
import { project, readFloats, readTensors, runJobs, torchMissing, writeFloats, type Job, type JobResult, type QuantizerJob } from './helpers.js';
import { refActivation } from '../helpers/reference.js';
import { constructReference, refWeights } from './reference.js';

const N = 4;
const skip = skipWithout(torchMissing());

describe('class names of the emitted blocks', () => {
  it('are Python identifiers without stray underscores for computed stage names', () => {
    const b = new GraphBuilder({ name: 'reactnet-a', input: [2, 6, 6], classes: 3 });
    let x = b.input();
    for (const i of [1, 2]) {
      b.scope(`section_${i}`, () => {
        x = b.relu(b.conv(x, { filters: 2, kernel: 3 }));
      });
    }
    const py = emitModelPy(b.finish(b.dense(b.globalAvgpool(x), { units: 3 })));
    const classes = [...py.matchAll(/^class (\w+)\(nn\.Module\)/gm)].map((m) => m[1]);
    expect(classes).toContain('Section');
    expect(classes).toContain('ReactnetA');
    expect(py).not.toMatch(/'section_'/);
    expect(py).toMatch(/self\.section_1 = Section\(\)/);
  });
});

describe.skipIf(skip)('model.py: the constructs of issue 20', () => {
  const cases = constructCases();
  const forward = new Map<string, { torch: Float32Array; ref: Float64Array }>();
  const gradients = new Map<string, { autograd: WeightMap; fd: WeightMap }>();
  let quantizers: { job: QuantizerJob; result: JobResult }[] = [];
  let steps: { before: WeightMap; after: WeightMap };

  beforeAll(async () => {
    const jobs: (Job | QuantizerJob)[] = [];
    const caseOf = new Map<Job | QuantizerJob, string>();
    for (const [i, { name, graph, quantized }] of cases.entries()) {
      const weights = busyWeights(graph, 11 + i);
      const dir = project(graph, weights, `construct-${i}`);
      const x = seededInput(graph, N, 7 + i);
      const input = writeFloats(join(dir, 'x.bin'), x);
      forward.set(name, { torch: new Float32Array(), ref: constructReference(graph, weights, x, N) });
      jobs.push({ kind: 'forward', dir, input, n: N, output: join(dir, 'y.bin') });
      if (!quantized) jobs.push({ kind: 'fd', dir, input, n: N, output: join(dir, 'grads.safetensors'), labels: [0, 1, 2, 1] });
      for (const job of jobs.slice(-2)) if (!caseOf.has(job)) caseOf.set(job, name);
    }
    const dir = (jobs[0] as Job).dir;
    quantizers = quantizerJobs(dir).map((job) => ({ job, result: { seconds: 0 } }));
    jobs.push(...quantizers.map((q) => q.job));
    // Two Adam steps with weight decay on the blur model: the fixed kernel stays, the rest moves.
    const blur = jobs.find((j): j is Job => j.kind === 'forward' && caseOf.get(j) === 'fixed depthwise blur kernel')!;
    const step = (state: string, output: string): Job => ({ ...blur, kind: 'step', state, output, labels: [0, 1, 2, 1], args: ['--weight-decay', '0.1'], lr: 0.05 });
    jobs.push(step(join(blur.dir, 'init.safetensors'), join(blur.dir, 'step1.safetensors')), step(join(blur.dir, 'step1.safetensors'), join(blur.dir, 'step2.safetensors')));
    const answers = await runJobs(jobs);
    for (const [k, job] of jobs.entries()) {
      if (job.kind === 'forward') forward.get(caseOf.get(job)!)!.torch = readFloats(job.output);
      if (job.kind === 'fd') gradients.set(caseOf.get(job)!, { autograd: readTensors(job.output), fd: readTensors(`${job.output}.fd`) });
      if (job.kind === 'quantizer') quantizers.find((q) => q.job === job)!.result = answers[k];
    }
    steps = { before: readTensors(join(blur.dir, 'init.safetensors')), after: readTensors(join(blur.dir, 'step2.safetensors')) };
  }, 240_000);

  for (const { name, graph, quantized } of cases) {
    it(`${name}: eval logits = the float64 reference`, () => {
      const { torch, ref } = forward.get(name)!;
      expect(torch.length).toBe(N * graph.classes);
      const diff = maxAbsDiff(torch, ref);
      expect(diff, `max |diff| ${diff}, max |output| ${maxAbs(ref)}`).toBeLessThanOrEqual(1e-4 * maxAbs(ref));
    });
    if (quantized) continue;
    it(`${name}: gradients = central differences of the loss (float64)`, () => {
      const { autograd, fd } = gradients.get(name)!;
      const trainable = graph.nodes.flatMap((n) => n.params).filter((p) => p.trainable);
      expect([...autograd.keys()].sort()).toEqual(trainable.map((p) => p.name).sort());
      for (const [param, want] of fd) {
        const err = relativeError(autograd.get(param)!, want);
        expect(err, `${param}: relative error ${err}`).toBeLessThanOrEqual(1e-5);
      }
    });
  }

  it('each new quantizer: forward and pseudo-gradient as docs/semantics.md defines them', () => {
    expect(quantizers.length).toBe(8);
    for (const { job, result } of quantizers) {
      const label = `${job.name} ${JSON.stringify(job.args)} ${job.shape ?? ''}`;
      if (job.use === 'activation') {
        const want = expectedActivation(job);
        // + 0: a gradient stopped from a negative dy is −0.
        expect((result.y as number[]).map((v) => v + 0), label).toEqual(want.y);
        expect((result.dx as number[]).map((v) => v + 0), label).toEqual(want.dx);
        continue;
      }
      const want = expectedWeights(job, result.dq as number[]);
      expect(maxAbsDiff(result.q as number[], want.q), `${label}: forward`).toBeLessThanOrEqual(1e-12);
      expect(maxAbsDiff(result.dw as number[], want.dw), `${label}: gradient`).toBeLessThanOrEqual(1e-9 * maxAbs(want.dw));
      expect(maxAbs(want.dw), label).toBeGreaterThan(0);
    }
  });

  it('a fixed kernel is a buffer that optimizer steps (with weight decay) leave unchanged', () => {
    const kernel = 'blur/kernel';
    expect([...steps.after.get(kernel)!]).toEqual([0, 1, 2, 3].flatMap(() => BLUR).map(Math.fround));
    expect(steps.after.has(`${kernel}/m`)).toBe(false);
    expect([...steps.after.get('stem/kernel')!]).not.toEqual([...steps.before.get('stem/kernel')!]);
  });
});

// ---------------------------------------------------------------- quantizer cases and their formulas

const WEIGHT_CLASSES: Record<string, string> = { xnor_weight_scale: 'XnorWeightScale', magnitude_aware_sign_unclipped: 'MagnitudeAwareSignUnclipped' };

function quantizerJobs(dir: string): QuantizerJob[] {
  // Values on the edges of every formula: 0, ±clip, the [0, 1] bounds, and dorefa's exact halves.
  const edges = [-1.5, -1, -0.5, 0, 1 / 3, 0.5, 1, 1.25, 2, -0.25, 0.75, 1.0000001];
  const activation = (name: string, args: Record<string, number>): QuantizerJob => ({
    kind: 'quantizer',
    dir,
    name,
    use: 'activation',
    args,
    tensors: { x: [...edges, ...normalValues(20, 3)], dy: [...normalValues(32, 4)] },
  });
  const weight = (name: string, shape: number[], seed: number): QuantizerJob => {
    const rng = new Random(seed, 'torch-quantizer-test');
    const count = shape.reduce((a, b) => a * b, 1);
    // Conv layers take [2, C, 5, 5] inputs, dense layers [2, in]. Latent weights across [−1.5, 1.5], so that the clip at 1 matters; one exactly 0 and one exactly 1.
    const kernel = Array.from({ length: count }, (_, i) => (i === 0 ? 0 : i === 1 ? 1 : 3 * rng.uniform() - 1.5));
    const conv = shape.length === 4;
    const x = [...normalValues(conv ? 2 * shape[1] * 25 : 2 * shape[0], seed + 1)];
    const outputs = conv ? 2 * shape[0] * 25 : 2 * shape[1];
    return { kind: 'quantizer', dir, name: WEIGHT_CLASSES[name], use: 'weight', args: {}, tensors: { kernel, x, dy: [...normalValues(outputs, seed + 2)] }, shape };
  };
  return [
    activation('ste_heaviside', { clip: 1 }),
    activation('ste_heaviside', { clip: 1.25 }),
    activation('dorefa', { k_bit: 1 }),
    activation('dorefa', { k_bit: 2 }),
    weight('xnor_weight_scale', [3, 2, 3, 3], 5),
    weight('xnor_weight_scale', [6, 4], 6),
    weight('magnitude_aware_sign_unclipped', [3, 2, 3, 3], 7),
    weight('magnitude_aware_sign_unclipped', [6, 4], 8),
  ];
}

function expectedActivation(job: QuantizerJob): { y: number[]; dx: number[] } {
  const q = { name: job.name, args: job.args } as QuantizerRef;
  const { x, dy } = job.tensors;
  const passes = (v: number) => (job.name === 'dorefa' ? v >= 0 && v <= 1 : Math.abs(v) <= job.args.clip);
  return { y: x.map((v) => refActivation(q, v)), dx: x.map((v, i) => (passes(v) ? dy[i] : 0)) };
}

/** The quantized kernel and dL/dW from dL/dq, by the table of docs/semantics.md. */
function expectedWeights(job: QuantizerJob, dq: number[]): { q: number[]; dw: number[] } {
  const shape = job.shape!;
  const w = Float64Array.from(job.tensors.kernel);
  const name = job.name === 'XnorWeightScale' ? 'xnor_weight_scale' : 'magnitude_aware_sign_unclipped';
  const q = [...refWeights({ name, args: {} } as QuantizerRef, w, shape, shape.length === 4 ? 0 : 1)];
  if (name === 'magnitude_aware_sign_unclipped') return { q, dw: dq };
  // xnor: 1{|W| ≤ 1} · (α_o dq + sgn(W)/n · Σ_{j∈o} dq_j sign(W_j)), sgn(0) = 0.
  const axis = shape.length === 4 ? 0 : 1;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channels = shape[axis];
  const n = w.length / channels;
  const channel = (i: number) => Math.floor(i / inner) % channels;
  const alpha = new Float64Array(channels);
  const through = new Float64Array(channels);
  w.forEach((v, i) => {
    alpha[channel(i)] += Math.min(1, Math.abs(v)) / n;
    through[channel(i)] += dq[i] * refSign(v);
  });
  const dw = [...w].map((v, i) => (Math.abs(v) <= 1 ? alpha[channel(i)] * dq[i] + (Math.sign(v) / n) * through[channel(i)] : 0));
  return { q, dw };
}
