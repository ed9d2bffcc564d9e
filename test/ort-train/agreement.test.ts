/**
 * The training engine validates the model the exporter writes: both run the one forward lowering
 * (backends/onnx/lower.ts), so the engine's evaluation and `sofar eval` of the exported model agree on
 * every prediction. Checked on a residual-fractal net trained for real by `sofar train` (three-column
 * mean joins, magnitude-aware kernels, float convs followed by batch norms) over Fashion-MNIST's test
 * images: predictions in onnxruntime's default session, as `sofar eval` opens it; logits to the bit
 * with its layout optimisations off (at `all` they reorder a float conv's sums when its weights are
 * constants, which the engine's fed weights never are).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { register as registerTrain } from '../../cli/commands/train.js';
import { createSession, exportOnnx, runOnnx } from '../../backends/onnx/index.js';
import { createOrtEngine } from '../../backends/ort-train/index.js';
import { readCheckpoint } from '../../src/checkpoint/index.js';
import { compileFile } from '../../src/compile.js';
import { loadDataset } from '../../src/data/index.js';
import { inProcessCli } from '../helpers/cli.js';
import { skipWithout } from '../helpers/requirements.js';
import { tempDir } from '../helpers/temp.js';

const SPEC = join(import.meta.dirname, '..', '..', 'specs', 'fashion', 'rf-c3-small.sofar');
const PARAMS = { width: 8 };
const TEST_IMAGES = 2000;
const out = tempDir('sofar-agree-');

const sofar = inProcessCli([registerTrain], { muteStderr: true });

function argmaxes(logits: Float32Array, classes: number): number[] {
  return Array.from({ length: logits.length / classes }, (_, i) => {
    const row = logits.subarray(i * classes, (i + 1) * classes);
    let best = 0;
    for (let k = 1; k < classes; k++) if (row[k] > row[best]) best = k;
    return best;
  });
}

describe.skipIf(skipWithout(existsSync('/usr/share/datasets/fashion-mnist') ? null : 'Fashion-MNIST (apt install dataset-fashion-mnist)'))('engine and export', () => {
  it('agree on every prediction of a trained rf-c3-small, and to the bit without layout optimisations', async () => {
    await sofar('train', SPEC, '--set', `width=${PARAMS.width}`, '--data', 'fashion-mnist', '--limit', '3000', '--epochs', '1', '--batch', '50', '--engine', 'ort', '--out', out);
    const { graph } = compileFile(SPEC, { params: PARAMS });
    const { weights } = readCheckpoint(out);
    const test = loadDataset('fashion-mnist', graph!, { only: 'test', testLimit: TEST_IMAGES }).test;

    const engine = await createOrtEngine({ graph: graph!, weights, optimizer: { name: 'adam', momentum: 0.9, weightDecay: 0 }, batchSize: 500, threads: 2 });
    const model = exportOnnx(graph!, weights);
    const asEval = await createSession(model, { threads: 2 });
    const unreordered = await createSession(model, { threads: 2, optimization: 'extended' });
    const per = test.x.length / test.n;
    const classes = graph!.classes;
    const [fromEngine, fromEval, exact] = [0, 1, 2].map(() => new Float32Array(test.n * classes));
    for (let start = 0; start < test.n; start += 500) {
      const n = Math.min(500, test.n - start);
      const x = test.x.subarray(start * per, (start + n) * per);
      fromEngine.set(await engine.predict(x, n), start * classes);
      fromEval.set(await runOnnx(asEval, x, n), start * classes);
      exact.set(await runOnnx(unreordered, x, n), start * classes);
    }
    await engine.dispose();

    const predicted = argmaxes(fromEngine, classes);
    // A trained net, not a constant one: its predictions spread over the classes and beat chance.
    expect(new Set(predicted).size).toBeGreaterThan(5);
    expect(predicted.filter((p, i) => p === test.y[i]).length / test.n).toBeGreaterThan(0.3);
    expect(argmaxes(fromEval, classes)).toEqual(predicted);
    expect(Array.from(exact)).toEqual(Array.from(fromEngine));
  }, 300_000);
});
