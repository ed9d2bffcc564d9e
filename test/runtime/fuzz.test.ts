/**
 * The runtime is native code fed files from strangers. Mutated models — random bytes flipped, files cut
 * short, and structured edits (dims, attributes, operators, inputs) — must each end in a clean
 * RuntimeModelError or a correct run: never a crash, a hang or another exception.
 */
import { describe, expect, it } from 'vitest';
import { exportOnnx } from '../../backends/onnx/index.js';
import { onnx } from '../../backends/onnx/proto.js';
import { createRuntime, RuntimeModelError, type KernelSet } from '../../backends/runtime/index.js';
import { compile } from '../../src/compile.js';
import { Random } from '../../src/random.js';
import { initWeights, seededInput } from '../../src/weights/init.js';
import { jsKernels } from '../helpers/js-kernels.js';
import { nativeKernels, nativeMissing } from './helpers.js';
import { CONSTRUCT_GRAPHS } from './construct-graphs.js';
import { twoVariants } from './onnx-graphs.js';
import { constructCases } from '../onnx/constructs.js';
import { busyWeights } from '../helpers/values.js';


const SPEC = `
model fuzz {
  input 3x8x8
  classes 5
  binarize activations = approx_sign, weights = magnitude_aware_sign
  block unit(ch, stride = 1) = residual(shortcut = project(ch, stride) if stride > 1 or channels != ch) { bconv 3x3 ch /stride; bn }
  block project(ch, stride) { avgpool 2x2 /stride padding=same; conv 1x1 ch; bn }
  conv 3x3 16 padding=1; bn; maxpool 2x2 /1 padding=same
  unit(16); unit(24, stride = 2)
  concat { bn; bconv 3x3 8; bn }
  global_avgpool
  bdense 12
  dense 5
}`;

const graph = compile(SPEC, 'fuzz.sofar').graph!;
// A plain copy of the export, which the fuzzing below corrupts freely.
const original = new Uint8Array(exportOnnx(graph, initWeights(graph, 0), { binaryOps: true }));
const x = seededInput(graph, 2, 0);

/**
 * The models fuzzed: the spec's export; the hand-written graphs of the newer operators (depthwise convs,
 * Sigmoid, Mul, Div, Slice, Pad, Reshape, ...); and exports whose constant subgraphs the loader folds
 * (a binary kernel unpacked for a real input) or that hold Greater → Cast (ste_heaviside).
 */
const exported = (pattern: RegExp): [string, Uint8Array] => {
  const c = constructCases().find((k) => pattern.test(k.name))!;
  return [c.name.split(' (')[0], new Uint8Array(exportOnnx(c.graph, busyWeights(c.graph, 1), { binaryOps: true }))];
};
const MODELS: [string, Uint8Array][] = [
  ['the spec', original],
  exported(/real inputs/),
  exported(/heaviside/),
  ...Object.entries(CONSTRUCT_GRAPHS).map(([name, [input, build]], i) => [name.split(':')[0], new Uint8Array(twoVariants(input, i, build).runtime)] as [string, Uint8Array]),
];

/** Loads and runs; returns 'ok' or 'refused', and lets anything else fail the test. */
function attempt(bytes: Uint8Array, kernels: KernelSet): 'ok' | 'refused' {
  try {
    const runtime = createRuntime(bytes, { kernels, batch: 2 });
    const n = runtime.input.reduce((a, b) => a * b, 1);
    const y = runtime.run(n === 3 * 8 * 8 ? x.subarray(0, 2 * n) : new Float32Array(2 * n).fill(0.5), 2);
    expect(y.length).toBe(2 * runtime.output.reduce((a, b) => a * b, 1));
    runtime.release();
    return 'ok';
  } catch (e) {
    if (e instanceof RuntimeModelError) {
      expect(e.message.length).toBeGreaterThan(10);
      return 'refused';
    }
    throw e;
  }
}

function structuredMutation(rng: Random, source: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(source);
  const g = model.graph!;
  const node = g.node![rng.int(g.node!.length)];
  const init = g.initializer![rng.int(g.initializer!.length)];
  const pick = <T>(xs: T[]) => xs[rng.int(xs.length)];
  const big = () => pick([0, -1, 1, 2, 3, 7, 64, 4096, 2 ** 31 - 1]);
  switch (rng.int(9)) {
    case 0: // a weight's dims
      init.dims = init.dims!.map((d) => (rng.uniform() < 0.5 ? big() : d));
      break;
    case 1: // a weight's bytes cut short or grown
      init.rawData = init.rawData!.subarray(0, rng.int(init.rawData!.length + 1));
      break;
    case 2: // an integer attribute
      for (const a of node.attribute ?? []) if (a.ints?.length) a.ints = a.ints.map((v) => (rng.uniform() < 0.5 ? big() : v));
      for (const a of node.attribute ?? []) if (a.type === onnx.AttributeProto.AttributeType.INT) a.i = big();
      break;
    case 3: // another operator
      node.opType = pick(['Cast', 'Gather', 'Where', 'Greater', 'MatMul', 'Conv', 'BinaryConv2D', 'BinaryDense', 'Sign', 'Gemm', 'Relu', 'Softmax', 'Add', 'Concat', 'Mean', 'Mul', 'Sub', 'Div', 'Sigmoid', 'Round', 'Slice', 'Pad', 'Reshape', 'Unsqueeze', 'Squeeze', 'PRelu', 'Clip']);
      break;
    case 4: // inputs dropped, repeated or renamed
      node.input = rng.uniform() < 0.5 ? node.input!.slice(0, rng.int(node.input!.length)) : [...node.input!, pick(node.input!)];
      if (rng.uniform() < 0.3) node.input = node.input!.map(() => pick([...g.node!.map((m) => m.output![0]), 'nowhere']));
      break;
    case 5: // the model's input shape
      g.input![0].type!.tensorType!.shape!.dim = g.input![0].type!.tensorType!.shape!.dim!.map((d, i) => (i > 0 && rng.uniform() < 0.5 ? { dimValue: big() } : d));
      break;
    case 6: // nodes out of order, or one removed
      if (rng.uniform() < 0.5) g.node!.reverse();
      else g.node!.splice(rng.int(g.node!.length), 1);
      break;
    case 7: // the domain or its version
      model.opsetImport = model.opsetImport!.map((o) => (o.domain === 'ai.sofar' ? { domain: 'ai.sofar', version: big() } : o));
      if (rng.uniform() < 0.5) node.domain = pick(['', 'ai.sofar', 'com.example']);
      break;
    default: // a weight's type
      init.dataType = pick([1, 2, 3, 6, 7, 10, 11]);
  }
  return onnx.ModelProto.encode(model);
}

describe('the runtime loader under mutated model files', () => {
  const kernelSets: [string, () => KernelSet][] = [['reference kernels', jsKernels]];
  if (nativeMissing() === null) kernelSets.push(['native kernels', nativeKernels]);

  for (const [label, kernels] of kernelSets) {
    for (const [model, source] of MODELS) {
      // The reference kernels are slow on the binary graphs: fewer mutations there.
      const count = source === original ? 300 : label === 'native kernels' ? 150 : 50;
      it(`refuses or runs each of ${count} structured mutations of ${model} on the ${label}; never crashes`, () => {
        expect(attempt(source, kernels())).toBe('ok');
        const rng = new Random(11, `fuzz-structured-${label}-${model}`);
        const outcomes = { ok: 0, refused: 0 };
        for (let i = 0; i < count; i++) outcomes[attempt(structuredMutation(rng, source), kernels())]++;
        expect(outcomes.refused).toBeGreaterThan(count / 3);
      });

      it(`refuses files of ${model} cut short and bytes flipped on the ${label}`, () => {
        const rng = new Random(12, `fuzz-bytes-${label}-${model}`);
        const outcomes = { ok: 0, refused: 0 };
        const runs = source === original ? 200 : 100;
        for (let i = 0; i < runs; i++) {
          const bytes = source.slice(0, i % 3 === 0 ? rng.int(source.length) : source.length);
          for (let k = 0; k < 1 + rng.int(8); k++) bytes[rng.int(bytes.length)] = rng.int(256);
          outcomes[attempt(bytes, kernels())]++;
        }
        expect(outcomes.refused).toBeGreaterThan(runs / 4);
      });
    }
  }

  it('says what is wrong: an unknown operator, a truncated file, a weight of the wrong size', () => {
    expect(() => createRuntime(original.subarray(0, 1000), { kernels: jsKernels() })).toThrow(RuntimeModelError);
    const model = onnx.ModelProto.decode(original);
    model.graph!.node![3].opType = 'Softmax';
    expect(() => createRuntime(onnx.ModelProto.encode(model), { kernels: jsKernels() })).toThrow(/Softmax\): operator not supported by SoFAr's runtime/);
    const bad = onnx.ModelProto.decode(original);
    const kernel = bad.graph!.initializer!.find((t) => t.name!.endsWith('/bits'))!;
    kernel.dims = [kernel.dims![0], 3, 3, 9];
    expect(() => createRuntime(onnx.ModelProto.encode(bad), { kernels: jsKernels() })).toThrow(/packed kernel/);
  });
});
