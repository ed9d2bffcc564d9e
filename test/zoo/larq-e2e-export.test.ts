/**
 * Issue 20, "Done when" (build, summarise, export) on every new spec: it builds at its published size
 * and summarises there (Larq's fields; their values against Larq's figures are test/frontend/larq-zoo.test.ts);
 * at the size the other end-to-end checks use (./cases.ts) it keeps every parameter's name and shape;
 * and its three ONNX variants (standard, `--int`, `--binary-ops`) pass the official checker with
 * full_check, the standard one running in onnxruntime.
 */
import { describe, expect, it } from 'vitest';
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import { formatSummaryTable } from '../../cli/summary-table.js';
import { summarize } from '../../src/cost.js';
import type { Graph } from '../../src/graph/types.js';
import { initWeights, seededInput } from '../../src/weights/init.js';
import { expectCheckerPassesAsync } from '../onnx/zoo.js';
import { batchOf, E2E_CASES, loadCase } from './cases.js';

/** Every parameter's name and shape; the `flattened` one's rows (its input width) left out. */
const shapes = (g: Graph, flattened?: string) => g.nodes.flatMap((n) => n.params.map((p) => `${p.name} ${(p.name === flattened ? p.shape.slice(1) : p.shape).join('x')}`));

describe('every new spec builds, summarises and exports', () => {
  for (const c of E2E_CASES) {
    it(`${c.name}: graph and summary at its published size`, () => {
      const graph = loadCase(c, false);
      const s = summarize(graph);
      expect(s.params.total).toBeGreaterThan(0);
      expect(s.params.binary).toBeGreaterThan(0);
      // Low-bit MACs: 1-bit, or DoReFa-Net's 2-bit ("ternarized"); a real stem and head besides.
      const lowBit = s.binarizedRatio + s.ternarizedRatio;
      expect(lowBit).toBeGreaterThan(0.5);
      expect(lowBit).toBeLessThan(1);
      const table = formatSummaryTable(s, { layers: false });
      for (const label of ['Total params', 'Model size', 'Number of MACs', 'Ratio of MACs that are']) expect(table).toContain(label);
      if (c.size !== undefined) expect(shapes(loadCase(c), c.flattened), `${c.name} at ${c.size}: the same parameters`).toEqual(shapes(graph, c.flattened));
    });

    it(`${c.name}: standard, --int and --binary-ops exports pass the official checker`, async () => {
      const graph = loadCase(c);
      const weights = initWeights(graph, 0);
      const variants = [exportOnnx(graph, weights), exportOnnx(graph, weights, { integer: true }), exportOnnx(graph, weights, { binaryOps: true })];
      await expectCheckerPassesAsync(variants);
      const n = batchOf(graph);
      const session = await createSession(variants[0]);
      try {
        const y = await runOnnx(session, seededInput(graph, n, 0), n);
        expect(y.length).toBe(n * graph.classes);
        expect(y.every(Number.isFinite)).toBe(true);
      } finally {
        await session.release();
      }
    }, 900_000); // XNOR-Net at 224×224: three 62 M-parameter models through full_check
  }
});
