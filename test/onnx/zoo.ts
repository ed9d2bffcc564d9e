/**
 * The zoo specs as the ONNX tests use them: compile, export with seeded weights, validate with the
 * official checker, run one sample in onnxruntime-node.
 */
import { existsSync } from 'node:fs';
import { expect } from 'vitest';
import { createSession, exportOnnx, runOnnx, type ExportOptions } from '../../backends/onnx/index.js';
import { compileFile } from '../../src/compile.js';
import { hasErrors } from '../../src/diagnostics.js';
import type { Graph, WeightMap } from '../../src/graph/types.js';
import { initWeights, seededInput } from '../../src/weights/init.js';
import { checkerMissing, checkOnnx, checkOnnxAsync } from '../helpers/onnx-checker.js';
import { skipWithout } from '../helpers/requirements.js';

export const ZOO = {
  'bireal-resnet18': 'specs/bireal-resnet18.sofar',
  'bireal-resnet34': 'specs/bireal-resnet34.sofar',
  binarydensenet28: 'specs/binarydensenet28.sofar',
  binarydensenet37: 'specs/binarydensenet37.sofar',
  binarydensenet45: 'specs/binarydensenet45.sofar',
  'rf-c4d8-resnet37': 'specs/rf-c4d8-resnet37.sofar',
  'drf-c2d2-densenet51': 'specs/drf-c2d2-densenet51.sofar',
  'fractalnet-cifar': 'specs/fractalnet-cifar.sofar',
  'fashion/bireal-small': 'specs/fashion/bireal-small.sofar',
  'fashion/rf-c3-small': 'specs/fashion/rf-c3-small.sofar',
  'fashion/drf-c2-small': 'specs/fashion/drf-c2-small.sofar',
} as const;

export type ZooName = keyof typeof ZOO;

export function loadZoo(name: ZooName): Graph {
  const path = ZOO[name];
  expect(existsSync(path), `${path} is part of the zoo`).toBe(true);
  const { graph, diagnostics } = compileFile(path);
  expect(hasErrors(diagnostics), diagnostics.map((d) => d.message).join('\n')).toBe(false);
  return graph!;
}

export interface ZooExport {
  graph: Graph;
  weights: WeightMap;
  bytes: Uint8Array;
}

export function exportZoo(name: ZooName, seed = 0, options: ExportOptions = {}): ZooExport {
  const graph = loadZoo(name);
  const weights = initWeights(graph, seed);
  return { graph, weights, bytes: exportOnnx(graph, weights, options) };
}

/** Another variant of the same model and weights. */
export function reexport(model: ZooExport, options: ExportOptions): ZooExport {
  return { ...model, bytes: exportOnnx(model.graph, model.weights, options) };
}

/** The official checker with full_check on every model; skipped (with a warning) where it is missing. */
export function expectCheckerPasses(models: Uint8Array[]): void {
  if (skipWithout(checkerMissing())) return;
  const result = checkOnnx(models);
  expect(result.message).toBe('ok');
}

/** The same, in a child process while the test goes on (the checker takes seconds on big files). */
export async function expectCheckerPassesAsync(models: Uint8Array[]): Promise<void> {
  if (skipWithout(checkerMissing())) return;
  const result = await checkOnnxAsync(models);
  expect(result.message).toBe('ok');
}

/** Loads the model in onnxruntime-node and runs one seeded sample: logits [1, classes], all finite. */
export async function expectRuns({ graph, bytes }: ZooExport): Promise<Float32Array> {
  const session = await createSession(bytes);
  try {
    const y = await runOnnx(session, seededInput(graph, 1, 0), 1);
    expect(y.length).toBe(graph.classes);
    expect(y.every(Number.isFinite)).toBe(true);
    expect(Math.max(...y) - Math.min(...y)).toBeGreaterThan(0);
    return y;
  } finally {
    await session.release();
  }
}
