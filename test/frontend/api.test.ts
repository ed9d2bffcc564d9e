/** The API example of docs/api.md, as written there (imports through the package's public entry points). */
import { expect, it } from 'vitest';
import { createSession, runOnnx, exportOnnx } from '../../backends/onnx/index.js';
import { compileFile, GraphBuilder, initWeights, summarize, type Tensor } from '../../src/index.js';

it('the API guide example compiles a spec, builds a fractal in TypeScript and runs it in ONNX Runtime', async () => {
  const { graph, diagnostics } = compileFile('specs/fashion/bireal-small.sofar');
  expect(diagnostics).toEqual([]);
  expect(summarize(graph!).ops).toBe(1_594_368);

  const b = new GraphBuilder({ name: 'tiny', input: [1, 28, 28], classes: 10, binarize: { activations: 'approx_sign', weights: 'magnitude_aware_sign' } });
  const unit = (x: Tensor) => b.block('unit', () => b.residual(x, (y) => b.batchnorm(b.bconv(y, { kernel: 3, filters: 32 }))));
  let x = b.batchnorm(b.conv(b.input(), { kernel: 3, filters: 32 }));
  x = b.scope('stage1', () => b.fractal(x, { columns: 3, dropPath: 0.1 }, unit));
  const tiny = b.finish(b.dense(b.globalAvgpool(x), { units: 10 }));
  expect(tiny.nodes.some((n) => n.name === 'stage1/fractal/col3/unit4/bconv')).toBe(true);

  const session = await createSession(exportOnnx(tiny, initWeights(tiny, 0)));
  const logits = await runOnnx(session, new Float32Array(28 * 28).fill(0.5), 1);
  expect(logits).toHaveLength(10);
  await session.release();
});

it('the main entry exports what a training script needs', async () => {
  const api = await import('../../src/index.js');
  for (const name of ['loadDataset', 'train', 'evaluate', 'readCheckpoint', 'writeCheckpoint', 'checkCheckpointFits', 'assertValid', 'parseExpression']) {
    expect(typeof (api as Record<string, unknown>)[name], name).toBe('function');
  }
  // The data loader works from the main entry alone.
  const { graph } = api.compileFile('test/train/fixtures/tiny.sofar');
  expect(api.loadDataset('synthetic', graph!).train.n).toBe(1024);
});
