/**
 * The step models compute sign(x) as 2·(x ≥ 0) − 1 (backends/ort-train/lowering.ts), the exporter as a
 * `Where` on the same comparison: both must give +1 at 0 and at −0 and keep the sign of the smallest
 * magnitudes. The engine's predictions on such inputs must be the exported model's to the bit.
 */
import { describe, expect, it } from 'vitest';
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import { createOrtEngine } from '../../backends/ort-train/index.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import { initWeights } from '../../src/weights/init.js';

describe('sign in the step models', () => {
  it('is +1 at 0 and −0 and keeps the sign of subnormals, as the exported model', async () => {
    const b = new GraphBuilder({ name: 'sign_only', input: [1, 2, 4], classes: 8, binarize: { activations: 'ste_sign', weights: 'ste_sign' } });
    const signs = b.sign(b.input(), { quantizer: 'ste_sign' });
    const graph = b.finish(b.dense(b.flatten(signs), { name: 'head', units: 8 }));
    // The head reads each sign through its own unit: logit j is the sign of input j (plus a zero bias).
    const weights = initWeights(graph, 1);
    const kernel = weights.get('head/kernel')!;
    kernel.fill(0);
    for (let j = 0; j < 8; j++) kernel[j * 8 + j] = 1;
    weights.get('head/bias')?.fill(0);
    const x = Float32Array.of(0, -0, 1e-45, -1e-45, 1.2e-38, -1.2e-38, 3, -3);
    const engine = await createOrtEngine({ graph, weights, optimizer: { name: 'sgd', momentum: 0, weightDecay: 0 }, batchSize: 1 });
    const logits = await engine.predict(x, 1);
    await engine.dispose();
    expect([...logits]).toEqual([1, 1, 1, -1, 1, -1, 1, -1]);
    const session = await createSession(exportOnnx(graph, weights));
    expect([...(await runOnnx(session, x, 1))]).toEqual([...logits]);
    await session.release();
  });
});
