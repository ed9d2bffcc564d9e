/**
 * Issue 20's "Done when" on the real specs: the 15 new ImageNet specs (Larq Zoo's 14 and ReActNet-A)
 * and the two Fashion-MNIST ones. Each end-to-end file (test/zoo/larq-e2e-*.test.ts) runs one concern
 * on all of them, so vitest runs the concerns side by side.
 *
 * The ImageNet specs take `size` (default 224, the size of every published figure); the training steps
 * and the cross-backend checks run them at `size` below, which keeps each net's layers and parameter
 * shapes and costs a small fraction of 224×224:
 * - 32 for the nets that end in a global pool (ResNets, DenseNets, QuickNets, MeliusNet, Real-to-Binary,
 *   ReActNet-A): every stride still halves a map of at least 1×1;
 * - 64 for BinaryAlexNet and DoReFa-Net: their 3×3 /2 max pools need a 3×3 map (the smallest sizes
 *   that build are 57 and 44); every layer stays, and every parameter's shape but one: the first
 *   dense layer after the flatten reads 1×1×256 = 256 values instead of 6×6×256 = 9216 (`flattened`);
 * - 224 for XNOR-Net: its 6×6 VALID binary conv is a dense layer only on the 6×6 map that 217–224 give,
 *   and below 217 the spec does not build.
 */
import { expect } from 'vitest';
import { compileFile } from '../../src/compile.js';
import { hasErrors } from '../../src/diagnostics.js';
import type { Graph } from '../../src/graph/types.js';

export interface E2eCase {
  name: string;
  path: string;
  /** The `size` the end-to-end checks build it at; absent for the Fashion specs (28×28, no parameter). */
  size?: number;
  /** The one parameter whose shape follows the size: a dense layer on a flattened map (its input rows). */
  flattened?: string;
}

const larq = (name: string, size = 32, flattened?: string): E2eCase => ({ name, path: `specs/larq/${name}.sofar`, size, ...(flattened ? { flattened } : {}) });

export const E2E_CASES: readonly E2eCase[] = [
  larq('binary_alexnet', 64, 'classifier/dense_block1/bdense/kernel'),
  larq('bireal_net'),
  larq('binary_resnet_e_18'),
  larq('binary_densenet28'),
  larq('binary_densenet37'),
  larq('binary_densenet37_dilated'),
  larq('binary_densenet45'),
  larq('meliusnet22'),
  larq('xnornet', 224),
  larq('dorefanet', 64, 'classifier/fully_connected_block1/bdense/kernel'),
  larq('real_to_binary_net'),
  larq('quicknet'),
  larq('quicknet_small'),
  larq('quicknet_large'),
  { name: 'reactnet_a', path: 'specs/reactnet-a.sofar', size: 32 },
  { name: 'fashion/quicknet-small', path: 'specs/fashion/quicknet-small.sofar' },
  { name: 'fashion/reactnet-small', path: 'specs/fashion/reactnet-small.sofar' },
];

/** The spec's graph at its published size (224×224 for ImageNet) or, with `small`, at the case's size. */
export function loadCase(c: E2eCase, small = true): Graph {
  const params = small && c.size !== undefined ? { size: c.size } : undefined;
  const { graph, diagnostics } = compileFile(c.path, params ? { params } : {});
  expect(hasErrors(diagnostics), diagnostics.map((d) => d.message).join('\n')).toBe(false);
  const g = graph!;
  if (params) expect(g.input).toEqual([3, c.size, c.size]);
  return g;
}

/** Samples a check runs: 2 at ≤ 64×64, 1 above. */
export const batchOf = (graph: Graph): number => (graph.input[1] <= 64 ? 2 : 1);
