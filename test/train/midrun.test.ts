/**
 * The loop's mid-epoch checkpoints (`checkpointEvery`), a start from another run's weights (`init`)
 * and the teacher's place in a step, with the deterministic fake engine.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readCheckpoint } from '../../src/checkpoint/index.js';
import { loadDataset } from '../../src/data/index.js';
import { GraphBuilder } from '../../src/graph/builder.js';
import type { TrainEvent } from '../../src/train/events.js';
import { describeInit, weightsFromRun } from '../../src/train/init.js';
import { train, type TrainConfig, type TrainOptions } from '../../src/train/loop.js';
import { initWeights } from '../../src/weights/init.js';
import { tempDirs } from '../helpers/temp.js';
import { trainConfig } from './config.js';
import { bytesOf, fakeEngineFactory, fakeRunOptions, newLog } from './fake-engine.js';
import { noisyGraph, regressionGraph } from './graphs.js';

const tempDir = tempDirs('sofar-midrun-');
const config = (over: Partial<TrainConfig> = {}): TrainConfig => trainConfig({ lr: 0.05, seed: 7 }, over);

const options = (over: Partial<TrainOptions> = {}): TrainOptions => fakeRunOptions(tempDir, config(), over);

describe('checkpoints every N steps', () => {
  it('writes one every N optimizer steps within epochs (7 steps an epoch, N = 3: steps 3, 6, 9, 12), besides each epoch’s', async () => {
    const events: TrainEvent[] = [];
    await train(options({ config: config({ checkpointEvery: 3 }), onEvent: (e) => events.push(e) }));
    const saved = events.filter((e) => e.type === 'checkpoint').map((e) => (e as { epoch: number; step: number }));
    expect(saved.map((c) => [c.epoch, c.step])).toEqual([[0, 3], [0, 6], [1, 7], [1, 9], [1, 12], [2, 14]]);
  });

  it('a run interrupted after a mid-epoch checkpoint resumes to the uninterrupted run: weights and metrics bit for bit', async () => {
    const graph = noisyGraph();
    const c = config({ epochs: 3, checkpointEvery: 3 });
    const whole = await train(options({ graph, config: c }));
    const dir = tempDir();
    const controller = new AbortController();
    let kept: Buffer | null = null;
    const stop = (e: TrainEvent) => {
      if (e.type === 'checkpoint') kept = readFileSync(e.path);
      // Step 11 of the run is step 4 of epoch 2: the latest checkpoint is the one at step 9, mid-epoch.
      if (e.type === 'step' && e.epoch === 2 && e.step === 4) controller.abort();
    };
    await expect(train(options({ graph, config: c, outDir: dir, signal: controller.signal, onEvent: stop }))).rejects.toThrow();
    expect(readFileSync(`${dir}/checkpoint.safetensors`).equals(kept!)).toBe(true);
    const meta = readCheckpoint(dir).meta;
    expect(meta).toMatchObject({ epoch: 1, step: 9 });
    expect(meta.partialEpoch?.samples).toBe(64);
    const events: TrainEvent[] = [];
    const resumed = await train(options({ graph, config: c, outDir: dir, resume: true, onEvent: (e) => events.push(e) }));
    expect(bytesOf(resumed.weights)).toEqual(bytesOf(whole.weights));
    // The resumed epoch reports what the uninterrupted one did (its first two steps come from the checkpoint).
    expect(resumed.history.map((m) => [m.trainLoss, m.trainAccuracy, m.testAccuracy])).toEqual(whole.history.map((m) => [m.trainLoss, m.trainAccuracy, m.testAccuracy]));
    expect(events.filter((e) => e.type === 'step' && e.epoch === 2).map((e) => (e as { step: number }).step)).toEqual([3, 4, 5, 6, 7]);
  });

  it('refuses to end a run resumed within epoch k + 1 at epoch k', async () => {
    const o = options({ config: config({ epochs: 2, checkpointEvery: 3 }) });
    const controller = new AbortController();
    const stop = (e: TrainEvent) => e.type === 'checkpoint' && e.step === 9 && controller.abort();
    await expect(train({ ...o, signal: controller.signal, onEvent: stop })).rejects.toThrow();
    expect(readCheckpoint(o.outDir).meta).toMatchObject({ epoch: 1, step: 9 });
    await expect(train({ ...o, config: config({ epochs: 1, checkpointEvery: 3 }), resume: true })).rejects.toThrow(/stands within epoch 2, beyond the 1 epoch\(s\) asked for/);
  });
});

describe('--init: another run’s weights', () => {
  const wider = () => {
    const b = new GraphBuilder({ name: 'wider', input: [1, 4, 4], classes: 4 });
    const stem = b.batchnorm(b.conv(b.input(), { filters: 2, kernel: 3, padding: 'same', name: 'stem' }));
    return b.finish(b.dense(b.flatten(stem), { units: 4, name: 'head' }));
  };

  it('takes what matches by name and shape, leaves the rest at its seeded value, and says which', async () => {
    const first = await train(options());
    const graph = wider();
    const checkpoint = readCheckpoint(first.checkpointPath);
    const seeded = initWeights(graph, 7);
    const { weights, report } = weightsFromRun(graph, seeded, checkpoint);
    // head/kernel is 16×4 in the run and 32×4 here: left; head/bias is 4 in both: taken.
    expect(report.taken).toEqual(['head/bias']);
    expect(report.left).toEqual(['stem/kernel', 'bn/gamma', 'bn/beta', 'bn/moving_mean', 'bn/moving_variance', 'head/kernel']);
    expect(report.reshaped).toEqual(['head/kernel (run 16×4, here 32×4)']);
    expect(weights.get('head/bias')).toEqual(first.weights.get('head/bias'));
    expect(weights.get('head/kernel')).toEqual(seeded.get('head/kernel'));
    expect(describeInit(report)).toEqual([
      `initialised from ${checkpoint.path}: 1 of 7 parameter tensors taken (head/bias)`,
      'left at their initial values, not in the run: stem/kernel, bn/gamma, bn/beta, bn/moving_mean, bn/moving_variance',
      'left at their initial values, of another shape in the run: head/kernel (run 16×4, here 32×4)',
    ]);
  });

  it('a new run starts from the run’s weights, without its optimizer state, at epoch 1', async () => {
    const first = await train(options());
    const log = newLog();
    const events: TrainEvent[] = [];
    const second = await train(options({ init: readCheckpoint(first.checkpointPath), engineFactory: fakeEngineFactory(log), config: config({ epochs: 1 }), onEvent: (e) => events.push(e) }));
    expect(second.history.map((m) => m.epoch)).toEqual([1]);
    expect(readCheckpoint(second.checkpointPath).meta).toMatchObject({ epoch: 1, step: 7 });
    // It starts where the first run ended: its first epoch's loss is far below the first run's.
    expect(second.history[0].trainLoss).toBeLessThan(first.history[0].trainLoss * 0.8);
    expect(events.filter((e) => e.type === 'notice').map((e) => (e as { message: string }).message)[0]).toMatch(/^initialised from .*: 2 of 2 parameter tensors taken/);
  });

  it('refuses a run with nothing in common, and --init with --resume', async () => {
    const other = regressionGraph([1, 2, 2], 3, 'other');
    const run = await train(options({ graph: other }));
    await expect(train(options({ init: readCheckpoint(run.checkpointPath) }))).rejects.toThrow(/shares no parameter of the same name and shape with model 'regression'/);
    const o = options();
    const done = await train(o);
    await expect(train({ ...o, resume: true, init: readCheckpoint(done.checkpointPath) })).rejects.toThrow(/not from --init/);
  });
});

describe('the teacher in a step', () => {
  it('sees the images of each batch and hands its logits to the engine with them', async () => {
    const seen: number[] = [];
    const log = newLog();
    const teacher = async (x: Float32Array, n: number) => {
      seen.push(n);
      return Float32Array.from({ length: n * 4 }, (_, i) => x[Math.floor(i / 4) * 16] + (i % 4));
    };
    const result = await train(options({ teacher, engineFactory: fakeEngineFactory(log), config: config({ epochs: 1, distillWeight: 0.5 }) }));
    expect(seen).toEqual([32, 32, 32, 32, 32, 32, 8]);
    expect(log.teachers.map((t) => t.length)).toEqual(seen.map((n) => n * 4));
    expect(log.teachers.every((t, i) => t[1] === Math.fround(log.inputs[i][0] + 1))).toBe(true);
    expect(result.history[0].trainDistillation).toBeTypeOf('number');
  });
});
