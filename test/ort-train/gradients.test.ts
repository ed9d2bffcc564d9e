/**
 * Gradients of the generated ONNX training step, node kind by node kind: against the float64 reference
 * (test/ort-train/reference.ts, straight-through rules included), against central finite differences
 * of the float64 loss for every parameter the loss is smooth in, and against the tfjs backend's
 * `gradients` — each within a relative difference of 1e-4 of the tensor's scale.
 */
import { describe, expect, it } from 'vitest';
import { buildStepModel, ortLossAndGradients } from '../../backends/ort-train/index.js';
import { NCHWC_DOMAIN, nchwcBlockSize } from '../../backends/ort-train/nchwc.js';
import { onnx } from '../../backends/onnx/proto.js';
import { gradients as tfjsGradients } from '../../backends/tfjs/index.js';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import type { StepNoise } from '../../src/train/engine.js';
import { Random } from '../../src/random.js';
import { binaryCases, blockedCases, busyWeights, floatCases, labels, normalValues, relativeError, someNoise, type Case } from './graphs.js';
import { referencePass, smoothParams, toFloat64 } from './reference.js';
import { nudged } from '../helpers/finite-differences.js';
import { constructCases } from '../onnx/constructs.js';


const N = 4;
const TOLERANCE = 1e-4;

interface Setup {
  graph: Graph;
  weights: WeightMap;
  x: Float32Array;
  y: Int32Array;
  noise: StepNoise;
}

function setup(c: Case, seed: number): Setup {
  const graph = c.graph;
  return {
    graph,
    weights: busyWeights(graph, seed),
    x: normalValues(N * graph.input.reduce((a, b) => a * b, 1), seed + 1),
    y: labels(N, seed + 2),
    noise: someNoise(graph, N, seed + 3),
  };
}

/** Central differences of the float64 reference loss at a few seeded entries of each smooth parameter. */
function finiteDifferences(s: Setup, names: Iterable<string>, perParam = 4): Map<string, { index: number; value: number }[]> {
  const w64 = toFloat64(s.weights);
  const pass = () => referencePass(s.graph, w64, s.x, s.y, N, s.noise);
  const base = pass().signature.join();
  const h = 1e-6;
  const rng = new Random(11, 'fd-entries');
  const out = new Map<string, { index: number; value: number }[]>();
  for (const name of names) {
    const values = w64.get(name)!;
    const picks: { index: number; value: number }[] = [];
    for (let k = 0; k < Math.min(perParam, values.length); k++) {
      const index = rng.int(values.length);
      const { up, down } = nudged(values, index, h, pass);
      // Skip an entry whose nudge moves a sign, ReLU side or pooling winner: not differentiable there.
      if (up.signature.join() !== base || down.signature.join() !== base) continue;
      picks.push({ index, value: (up.loss - down.loss) / (2 * h) });
    }
    out.set(name, picks);
  }
  return out;
}

function compareAll(label: string, actual: WeightMap, expected: Map<string, ArrayLike<number>>) {
  expect([...actual.keys()].sort(), label).toEqual([...expected.keys()].sort());
  for (const [name, want] of expected) {
    const got = actual.get(name)!;
    expect(got.length, `${label} ${name}`).toBe(want.length);
    const err = relativeError(got, want);
    expect(err, `${label} ${name}: relative error ${err}`).toBeLessThanOrEqual(TOLERANCE);
  }
}

/** ORT's loss and gradients on case `c` (its values drawn from `seed`), held to those of the float64 reference. */
async function ortAgainstReference(c: Case, seed: number) {
  const s = setup(c, seed);
  const ort = await ortLossAndGradients(s.graph, s.weights, { x: s.x, y: s.y, n: N }, s.noise, 1);
  const ref = referencePass(s.graph, toFloat64(s.weights), s.x, s.y, N, s.noise, { gradients: true });
  expect(Math.abs(ort.loss - ref.loss)).toBeLessThan(1e-5 * Math.max(1, ref.loss));
  compareAll('ort vs reference', ort.gradients, ref.grads);
  return { s, ort, ref };
}

describe('ORT gradients of real-valued layers', () => {
  for (const c of floatCases()) {
    it(c.name, async () => {
      const { s, ort, ref } = await ortAgainstReference(c, 7);

      const smooth = smoothParams(s.graph);
      expect(smooth.size).toBe(ref.grads.size); // every parameter of these graphs is smooth
      let checked = 0;
      for (const [name, picks] of finiteDifferences(s, smooth)) {
        const scale = Math.max(...ref.grads.get(name)!.map(Math.abs), 1e-3);
        for (const { index, value } of picks) {
          expect(Math.abs(ref.grads.get(name)![index] - value) / scale, `reference ${name}[${index}]`).toBeLessThan(1e-6);
          expect(Math.abs(ort.gradients.get(name)![index] - value) / scale, `ort ${name}[${index}]`).toBeLessThan(TOLERANCE);
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(10);

      const tf = await tfjsGradients(s.graph, s.weights, { x: s.x, y: s.y, n: N }, s.noise);
      compareAll('tfjs vs ort', tf, new Map(ort.gradients));
    });
  }
});

describe('ORT gradients through quantizers (straight-through estimators)', () => {
  for (const c of binaryCases()) {
    it(c.name, async () => {
      const { s, ort, ref } = await ortAgainstReference(c, 21);
      // Straight-through gradients are not zero: the test would pass vacuously otherwise.
      const binary = s.graph.nodes.flatMap((n) => n.params).filter((p) => p.binary);
      expect(binary.length).toBeGreaterThan(0);
      for (const p of binary) expect(Math.max(...ort.gradients.get(p.name)!.map(Math.abs)), p.name).toBeGreaterThan(0);

      const tf = await tfjsGradients(s.graph, s.weights, { x: s.x, y: s.y, n: N }, s.noise);
      compareAll('tfjs vs ort', tf, new Map(ort.gradients));
    });
  }
});

describe('ORT gradients of issue 20 constructs and quantizers', () => {
  for (const c of constructCases()) {
    it(c.name, async () => {
      const { s, ort, ref } = await ortAgainstReference(c, 31);
      // Straight-through gradients of binary kernels are not zero (else the comparison says little).
      for (const p of s.graph.nodes.flatMap((n) => n.params).filter((q) => q.binary)) {
        expect(Math.max(...ort.gradients.get(p.name)!.map(Math.abs)), p.name).toBeGreaterThan(0);
      }
      // Where the loss is smooth in a parameter, the reference itself agrees with finite differences.
      const smooth = smoothParams(s.graph);
      for (const [name, picks] of finiteDifferences(s, smooth, 2)) {
        const scale = Math.max(...ref.grads.get(name)!.map(Math.abs), 1e-3);
        for (const { index, value } of picks) {
          expect(Math.abs(ref.grads.get(name)![index] - value) / scale, `reference ${name}[${index}]`).toBeLessThan(1e-6);
          expect(Math.abs(ort.gradients.get(name)![index] - value) / scale, `ort ${name}[${index}]`).toBeLessThan(TOLERANCE);
        }
      }
    });
  }
});

describe('ORT gradients through the blocked (NCHWc) convolutions, strided input gradients by phases', () => {
  for (const c of blockedCases()) {
    it(c.name, async () => {
      // The CPU path must really take the blocked kernels, else this compares the plain Conv again.
      const block = await nchwcBlockSize();
      expect(block === 8 || block === 16, `NCHWc block ${block}`).toBe(true);
      const model = onnx.ModelProto.decode(buildStepModel(c.graph, 'gradients', undefined, undefined, true, block).bytes);
      const nodes = model.graph?.node ?? [];
      expect(nodes.filter((n) => n.domain === NCHWC_DOMAIN && n.opType === 'Conv').length).toBeGreaterThan(0);
      // Strided convs take their input gradient by output phases (phases.ts), not ConvTranspose.
      const strided = c.graph.nodes.some((n) => n.op === 'conv' && n.attrs.stride.some((st) => st > 1));
      expect(nodes.some((n) => n.opType === 'ConvTranspose')).toBe(false);
      expect(nodes.some((n) => (n.output?.[0] ?? '').includes('/dxphase'))).toBe(strided);
      const { s, ort } = await ortAgainstReference(c, 41);
      const tf = await tfjsGradients(s.graph, s.weights, { x: s.x, y: s.y, n: N }, s.noise);
      compareAll('tfjs vs ort', tf, new Map(ort.gradients));
    });
  }
});
