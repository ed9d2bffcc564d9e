/**
 * `sofar/web` in Node: the bundled model on the WebAssembly kernels gives the native runtime's logits,
 * images go through training's normalisation, and files that are not --binary-ops models are refused
 * with the reason.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { exportOnnx } from '../../backends/onnx/index.js';
import { createRuntime } from '../../backends/runtime/index.js';
import type { RuntimeModel } from '../../backends/runtime/model.js';
import { compileKernels, FASHION_MNIST_CLASSES, imageToInput, loadRuntime, modelInfo, RuntimeModelError, topClasses } from '../../backends/runtime/web.js';
import { compileFile } from '../../src/compile.js';
import { NORMALISATION, normaliseImages } from '../../src/data/normalise.js';
import { initWeights, seededInput } from '../../src/weights/init.js';
import { skipWithout } from '../helpers/requirements.js';
import { withoutGraphRecord } from '../helpers/trained-export.js';
import { nativeKernels, skipNative } from '../runtime/helpers.js';
import { maxRelativeError } from '../runtime/util.js';
import { MODEL, wasmBytes, wasmMissing } from './helpers.js';

describe('modelInfo', () => {
  const model = (metadata: Record<string, string>, shape: number[]) => ({ name: 'm', input: { name: 'x', shape }, output: { name: 'logits', shape: [10] }, nodes: [], metadata }) as unknown as RuntimeModel;

  it('reads the normalisation the model records, and guesses it from the input shape only without one', () => {
    const recorded = { dataset: 'mnist', mean: [0.1307], std: [0.3081] };
    expect(modelInfo(model({ 'sofar.normalisation': JSON.stringify(recorded) }, [1, 28, 28]))).toMatchObject({ dataset: 'mnist', normalisation: { mean: [0.1307], std: [0.3081] }, normalisationRecorded: true });
    expect(modelInfo(model({ 'sofar.normalisation': JSON.stringify(recorded) }, [1, 16, 16]))).toMatchObject({ dataset: 'mnist', normalisation: { mean: [0.1307], std: [0.3081] } });
    expect(modelInfo(model({}, [1, 28, 28]))).toMatchObject({ dataset: 'fashion-mnist', normalisation: { mean: [0.286], std: [0.353] }, normalisationRecorded: false });
    expect(modelInfo(model({ 'sofar.normalisation': 'not json' }, [3, 8, 8]))).toMatchObject({ dataset: null, normalisation: { mean: [0, 0, 0], std: [1, 1, 1] } });
  });
});

describe.skipIf(skipWithout(wasmMissing()))('sofar/web on the WebAssembly kernels', () => {
  const model = new Uint8Array(readFileSync(MODEL));

  it('reads the bundled model: summary, classes, normalisation', async () => {
    const runtime = await loadRuntime(model, { wasm: wasmBytes() });
    const info = modelInfo(runtime.model);
    expect(runtime.kernels).toBe('wasm (simd128)');
    expect(info).toMatchObject({ name: 'fashion_bireal_small', variant: 'binary-ops', input: [1, 28, 28], classes: 10, dataset: 'fashion-mnist', classNames: FASHION_MNIST_CLASSES });
    // Recorded in the model (sofar.normalisation), as sofar run reads it, not guessed from its shape.
    expect(info.normalisationRecorded).toBe(true);
    expect(info.weights).toMatch(/checkpoint/);
    expect(info.summary!.params.total).toBe(309_418);
    expect(info.summary!.memoryBytes).toBe(94_888);
    expect(info.normalisation).toEqual({ mean: [0.286], std: [0.353] });
    runtime.release();
  });

  it.skipIf(skipNative())("gives the native runtime's logits, several runtimes side by side", async () => {
    const wasm = await compileKernels(wasmBytes());
    const [a, b] = await Promise.all([loadRuntime(model, { wasm }), loadRuntime(model.slice().buffer, { wasm, batch: 4 })]);
    const native = createRuntime(model, { kernels: nativeKernels(), threads: 1, batch: 4 });
    const x = seededInput({ input: [1, 28, 28] }, 4, 3);
    const reference = native.run(x, 4);
    expect(maxRelativeError(b.run(x, 4), reference)).toBeLessThan(1e-4);
    expect(maxRelativeError(a.run(x.subarray(0, 784), 1), reference.subarray(0, 10))).toBeLessThan(1e-4);
    // A larger batch than planned re-plans inside the module's memory.
    expect(maxRelativeError(a.run(x, 4), reference)).toBeLessThan(1e-4);
    for (const r of [a, b, native]) r.release();
  });

  it('feeds images as training normalises them (grey: the byte itself, colour: the luma)', () => {
    const info = { input: [1, 2, 2], normalisation: NORMALISATION['fashion-mnist'] };
    const grey = [0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 255, 255, 7, 7, 7, 0];
    expect(imageToInput(grey, info)).toEqual(normaliseImages(Uint8Array.from([0, 128, 255, 7]), 1, [1, 2, 2], info.normalisation));
    const colour = [255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 10, 20, 30, 255];
    expect(imageToInput(colour, info)).toEqual(normaliseImages(Uint8Array.from([76, 150, 29, 18]), 1, [1, 2, 2], info.normalisation));
    const rgb = imageToInput(colour, { input: [3, 2, 2], normalisation: { mean: [0, 0, 0], std: [1, 1, 1] } });
    expect(Array.from(rgb).map((v) => Math.round(v * 255))).toEqual([255, 0, 0, 10, 0, 255, 0, 20, 0, 0, 255, 30]);
    expect(() => imageToInput(grey.slice(4), info)).toThrow(/takes 2×2 pixels/);
  });

  it('ranks classes with softmax scores', () => {
    const top = topClasses(Float32Array.from([0, 3, 1, 2]), ['a', 'b', 'c'], 3);
    expect(top.map((c) => [c.index, c.name])).toEqual([[1, 'b'], [3, 'class 3'], [2, 'c']]);
    const total = [0, 3, 1, 2].reduce((s, v) => s + Math.exp(v), 0);
    expect(top[0].probability).toBeCloseTo(Math.exp(3) / total, 12);
  });

  it('refuses a file that is not a --binary-ops model, saying why', async () => {
    const wasm = await compileKernels(wasmBytes());
    await expect(loadRuntime(new TextEncoder().encode('hello, not a model'), { wasm })).rejects.toThrow(RuntimeModelError);
    await expect(loadRuntime(new TextEncoder().encode('hello, not a model'), { wasm })).rejects.toThrow(/not a model SoFAr's runtime can run: not a readable ONNX model/);
    const graph = compileFile('specs/fashion/bireal-small.sofar').graph!;
    // A standard export that records no graph (SoFAr's before it did; test/package/convert-on-load.test.ts: those that do run).
    const standard = withoutGraphRecord(exportOnnx(graph, initWeights(graph, 0)));
    await expect(loadRuntime(standard, { wasm })).rejects.toThrow(/SoFAr's 'float' export of fashion_bireal_small.*--binary-ops/);
  });
});
