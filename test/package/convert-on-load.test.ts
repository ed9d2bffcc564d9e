/**
 * SoFAr's runtime converts SoFAr's own standard exports on load (issue 24, item 10): a standard export
 * records its typed graph, so `createRuntime` (Node), `loadRuntime` (sofar/web) and `sofar run/bench/eval
 * --runtime sofar` take `sofar train`'s model.onnx as it is: the logits are onnxruntime's on the same file
 * (1e-4 of their scale) and, bit for bit, those of the `--binary-ops` export of the same weights. An
 * export that records no graph (SoFAr before this) is still refused with the typed error and the way out;
 * a graph record that does not fit the file is refused, not run.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { register as registerBench } from '../../cli/commands/bench.js';
import { register as registerEval } from '../../cli/commands/eval.js';
import { register as registerRun } from '../../cli/commands/run.js';
import { UserError } from '../../cli/common.js';
import { exportOnnx } from '../../backends/onnx/index.js';
import { GRAPH_METADATA_KEY } from '../../backends/onnx/encode.js';
import { readModelMetadata } from '../../backends/onnx/proto.js';
import { weightsFromStandardExport } from '../../backends/onnx/weights-from-export.js';
import { createRuntime, RuntimeModelError } from '../../backends/runtime/index.js';
import * as web from '../../backends/runtime/web.js';
import { compileFile } from '../../src/compile.js';
import { graphToJson } from '../../src/graph/json.js';
import type { Graph } from '../../src/graph/types.js';
import { seededInput } from '../../src/weights/init.js';
import { inProcessCli } from '../helpers/cli.js';
import { skipWithout } from '../helpers/requirements.js';
import { tempDir } from '../helpers/temp.js';
import { trainedLikeExport, withGraphRecord, withoutGraphRecord } from '../helpers/trained-export.js';
import { busyWeights } from '../helpers/values.js';
import { nativeKernels, ortLogits, skipNative } from '../runtime/helpers.js';
import { maxRelativeError } from '../runtime/util.js';
import { wasmBytes, wasmMissing } from '../web/helpers.js';

const sofar = inProcessCli([registerRun, registerBench, registerEval], { muteStderr: true });
const dir = tempDir('sofar-convert-on-load-');
const FASHION = '/usr/share/datasets/fashion-mnist';

describe.skipIf(skipNative())('createRuntime on a standard export', () => {
  // bireal-small: magnitude-aware kernels and folded batch norms; reactnet-small: RSign / RPReLU shifts.
  const cases = [
    ['specs/fashion/bireal-small.sofar', {}],
    ['specs/fashion/bireal-small.sofar', { integer: true }],
    ['specs/fashion/bireal-small.sofar', { packBits: false }],
    ['specs/fashion/reactnet-small.sofar', {}],
  ] as const;
  it.each(cases)('%s %j: converted on load, onnxruntime\'s logits on the same file', async (spec, variant) => {
    const graph = compileFile(spec).graph!;
    const bytes = trainedLikeExport(graph, 3, variant);
    const x = seededInput(graph, 3, 4);
    const runtime = createRuntime(bytes, { kernels: nativeKernels(), batch: 3 });
    const logits = runtime.run(x, 3);
    expect(maxRelativeError(logits, await ortLogits(bytes, x, 3))).toBeLessThan(1e-4);
    const direct = createRuntime(exportOnnx(graph, busyWeights(graph, 3), { binaryOps: true }), { kernels: nativeKernels(), batch: 3 });
    expect(logits, 'the --binary-ops export of the same weights').toEqual(direct.run(x, 3));
    const from = readModelMetadata(bytes)['sofar.variant'];
    expect(runtime.converted).toBe(`converted on load from SoFAr's '${from}' standard export to the --binary-ops form (weights kept)`);
    expect(runtime.model.converted).toEqual({ from });
    expect(direct.converted).toBeNull();
    // The converted model keeps what the export records (normalisation, parameters), not the graph.
    expect(runtime.model.metadata).toMatchObject({ 'sofar.variant': 'binary-ops', 'sofar.normalisation': expect.stringContaining('fashion-mnist'), 'sofar.params': '{}' });
    expect(runtime.model.metadata[GRAPH_METADATA_KEY]).toBeUndefined();
    runtime.release();
    direct.release();
  });

  it('an export that records no graph is refused with the typed error and the way out', () => {
    const graph = compileFile('specs/fashion/bireal-small.sofar').graph!;
    const old = withoutGraphRecord(trainedLikeExport(graph, 1));
    const error = (() => {
      try {
        return createRuntime(old, { kernels: nativeKernels() });
      } catch (e) {
        return e;
      }
    })() as RuntimeModelError;
    expect(error).toBeInstanceOf(RuntimeModelError);
    expect(error.otherExport).toEqual({ variant: 'float', spec: 'fashion_bireal_small' });
    expect(error.message).toMatch(/operator not supported/);
  });

  it('a graph record that does not fit the file is refused, saying why', () => {
    const graph = compileFile('specs/fashion/bireal-small.sofar').graph!;
    const other = compileFile('specs/fashion/rf-c3-small.sofar').graph!;
    const bytes = trainedLikeExport(graph, 1);
    const cases: [Uint8Array, RegExp][] = [
      [withGraphRecord(bytes, graphToJson(other, { indent: 0 })), /could not be converted to the --binary-ops form on load: the model has no (initializer|binary kernel) '/],
      [withGraphRecord(bytes, '{"format":"sofar-graph","version":99}'), /could not be converted .*graph version 99 is not supported/],
      [withGraphRecord(bytes, 'not json'), /could not be converted .*not JSON/],
      [withGraphRecord(bytes, graphToJson(hugeKernel(graph), { indent: 0 })), /could not be converted .*binary kernel '.*\/bits' holds \d+ bytes, \[1073741824, /],
    ];
    for (const [file, message] of cases) {
      expect(() => createRuntime(file, { kernels: nativeKernels() })).toThrow(message);
      expect(() => createRuntime(file, { kernels: nativeKernels() })).toThrow(RuntimeModelError);
    }
  });
});

describe.skipIf(skipWithout(wasmMissing()))('sofar/web on a standard export', () => {
  it('loadRuntime converts it too; one without a graph record gets the hint', async () => {
    const graph = compileFile('specs/fashion/bireal-small.sofar').graph!;
    const bytes = trainedLikeExport(graph, 2);
    const runtime = await web.loadRuntime(bytes.slice().buffer, { wasm: wasmBytes() });
    const x = seededInput(graph, 2, 1);
    expect(runtime.converted).toMatch(/^converted on load from SoFAr's 'float' standard export/);
    expect(maxRelativeError(runtime.run(x, 2), await ortLogits(bytes, x, 2))).toBeLessThan(1e-4);
    runtime.release();
    await expect(web.loadRuntime(withoutGraphRecord(bytes), { wasm: wasmBytes() })).rejects.toThrow(
      /this is SoFAr's 'float' export of fashion_bireal_small, for ONNX runtimes; SoFAr's runtime runs the --binary-ops form: convert it with sofar convert MODEL\.onnx --binary-ops/,
    );
  });
});

describe.skipIf(skipNative())('sofar run / bench / eval --runtime sofar on a standard export', () => {
  const spec = 'specs/fashion/bireal-small.sofar';
  const logits = async (...args: string[]) => Float32Array.from((JSON.parse(await sofar(...args)).output as number[][]).flat());

  it('run gives onnxruntime\'s logits on the same file; bench times it', async () => {
    const file = join(dir, 'model.onnx');
    writeFileSync(file, trainedLikeExport(compileFile(spec).graph!, 5));
    const ort = await logits('run', file, '--samples', '3', '--seed', '1', '--json');
    expect(maxRelativeError(await logits('run', file, '--runtime', 'sofar', '--samples', '3', '--seed', '1', '--json'), ort)).toBeLessThan(1e-4);
    const stats = JSON.parse(await sofar('bench', file, '--runtime', 'sofar', '--runs', '3', '--warmup', '1', '--threads', '1', '--json')) as { runtime: string; p50Ms: number };
    expect(stats.runtime).toMatch(/^SoFAr runtime, native/);
    expect(stats.p50Ms).toBeGreaterThan(0);
    const old = join(dir, 'old.onnx');
    writeFileSync(old, withoutGraphRecord(readFileSync(file)));
    const error = (await sofar('run', old, '--runtime', 'sofar').catch((e) => e)) as UserError;
    expect(error).toBeInstanceOf(UserError);
    expect(error.diagnostics[0].hint).toMatch(/--runtime ort, or convert it with sofar convert MODEL\.onnx --binary-ops/);
  });

  it.skipIf(skipWithout(readableFashion() ? null : `Fashion-MNIST at ${FASHION} (apt-get install dataset-fashion-mnist)`))(
    'eval: the trained Bi-Real small, exported as sofar train now writes it, scores as onnxruntime does on it',
    async () => {
      // The trained fixture's weights (3 Fashion-MNIST epochs) in today's standard export, graph recorded.
      const fixture = new Uint8Array(readFileSync(resolve('test/runtime/fixtures/bireal-small-fashion.onnx')));
      const graph = compileFile(spec).graph!;
      const metadata = readModelMetadata(fixture);
      const file = join(dir, 'trained.onnx');
      writeFileSync(file, exportOnnx(graph, weightsFromStandardExport(graph, fixture), { metadata: { 'sofar.normalisation': metadata['sofar.normalisation'], 'sofar.params': '{}' } }));
      const ort = JSON.parse(await sofar('eval', file, '--data', 'fashion-mnist', '--limit', '2000', '--json')) as { accuracy: number; samples: number };
      const binary = JSON.parse(await sofar('eval', file, '--runtime', 'sofar', '--data', 'fashion-mnist', '--limit', '2000', '--json')) as { accuracy: number; samples: number };
      // The run validated at 88.32 % on all 10,000 (bench/results/fashion-mnist/bireal-small-3-epochs.metrics.jsonl).
      expect(ort.accuracy).toBeGreaterThan(0.85);
      expect(binary.samples).toBe(2000);
      expect(Math.abs(binary.accuracy - ort.accuracy)).toBeLessThanOrEqual(1 / 2000);
    },
  );
});

/** `graph` with its first binary kernel claiming 2^30 output channels. */
function hugeKernel(graph: Graph): Graph {
  const copy = JSON.parse(JSON.stringify(graph)) as Graph;
  const kernel = copy.nodes.flatMap((n) => n.params).find((p) => p.binary)!;
  kernel.shape = [2 ** 30, ...kernel.shape.slice(1)];
  return copy;
}

function readableFashion(): boolean {
  try {
    readFileSync(join(FASHION, 't10k-labels-idx1-ubyte.gz'));
    return true;
  } catch {
    return false;
  }
}
