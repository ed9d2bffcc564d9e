/**
 * The training loop: epochs of shuffled batches through a TrainEngine, validation after each epoch,
 * `metrics.jsonl` and a checkpoint after each epoch (and every N steps with `checkpointEvery`), exact
 * resumption from either, a start from another run's weights (`init`), and distillation from a teacher.
 *
 * Exactness: every random choice is drawn from a stream named by (seed, epoch) — the sample order —
 * or (seed, step) — augmentation, drop-path and dropout masks — never from a generator that carries
 * state across steps. A run resumed from the checkpoint of epoch k therefore replays epochs k+1… as
 * the uninterrupted run would, and ends with the same weights bit for bit (given a deterministic
 * engine). A mid-epoch checkpoint records the epoch's metric sums so far, so a run resumed from it
 * also reports the epoch the uninterrupted run would. The loop prints nothing: it reports TrainEvents.
 */
import { join } from 'node:path';
import { error, SofarError } from '../diagnostics.js';
import { augmentBatch } from '../data/augment.js';
import type { Dataset } from '../data/index.js';
import type { Graph, WeightMap } from '../graph/types.js';
import { Random } from '../random.js';
import { initWeights } from '../weights/init.js';
import { CHECKPOINT_FILE, writeCheckpoint, type Checkpoint, type PartialEpoch } from '../checkpoint/index.js';
import { BatchGatherer, epochOrder } from './batches.js';
import { dropPathMasks, planDropPath } from './droppath.js';
import { dropoutMasks, planDropout } from './dropout.js';
import type { EngineFactory, OptimizerConfig, TrainEngine } from './engine.js';
import { evaluate, type Predict } from './evaluate.js';
import type { TrainListener } from './events.js';
import { describeInit, weightsFromRun } from './init.js';
import { readMetrics, writeMetrics, type EpochMetrics } from './metrics.js';
import { checkResume, resumedCheckpoint, type ResumedRun } from './resume.js';
import { learningRate, type ScheduleName } from './schedule.js';

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  /** Base learning rate; the schedule scales it. */
  lr: number;
  schedule: ScheduleName;
  optimizer: OptimizerConfig;
  seed: number;
  /** The data source as given (`fashion-mnist`, a path): recorded, and checked on resume. */
  data: string;
  /** Training samples used (after `--limit`); checked on resume. */
  limit?: number;
  /** Also write a checkpoint every N optimizer steps within an epoch (the epoch's own stays). */
  checkpointEvery?: number;
  /**
   * Distil: the weight w of KL(softmax(teacher) ‖ softmax(student)) in the loss; the teacher comes as
   * TrainOptions.teacher. `teacher` and `teacherWeights` record where it came from (as given).
   */
  distillWeight?: number;
  teacher?: string;
  teacherWeights?: string;
  /** The run whose weights a new run started from (as given), recorded. */
  init?: string;
}

export interface TrainOptions {
  graph: Graph;
  dataset: Dataset;
  engineFactory: EngineFactory;
  config: TrainConfig;
  /** Where checkpoints and metrics go. */
  outDir: string;
  /**
   * Continue from `outDir`'s checkpoint: `true` reads it, a ResumedRun (`resumeRun`) brings it read
   * already. Without it, a folder that already holds one is refused.
   */
  resume?: boolean | ResumedRun;
  threads?: number;
  onEvent?: TrainListener;
  /** Stops the run between two steps (the last checkpoint stays as it was). */
  signal?: AbortSignal;
  /** The model parameters the graph was built with (`--set` values as written), recorded in the checkpoint. */
  modelParams?: Record<string, string>;
  /** A new run starts from this run's weights where names and shapes match (weights only: no optimizer state). */
  init?: Checkpoint;
  /** The teacher's inference-mode logits on a batch; required with `config.distillWeight`. */
  teacher?: Predict;
}

export interface TrainSummary {
  /** Epochs completed in all (a resumed run counts the earlier ones). */
  epochs: number;
  /** Training samples per second over the epochs this call ran (or the last epoch's, if none ran). */
  samplesPerSecond: number;
  trainLoss: number;
  testAccuracy: number;
}

export interface TrainResult {
  summary: TrainSummary;
  history: EpochMetrics[];
  /** The final weights, moving statistics included. */
  weights: WeightMap;
  engine: string;
  /** The engine's device line: `cpu (...)`, `webgpu (adapter; ...)`. */
  device: string;
  checkpointPath: string;
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  const { graph, dataset, config, outDir } = options;
  validateConfig(config);
  const emit: TrainListener = options.onEvent ?? (() => {});
  const train = dataset.train;
  const stepsPerEpoch = Math.ceil(train.n / config.batchSize);
  const totalSteps = config.epochs * stepsPerEpoch;
  const recordedConfig: Record<string, unknown> = { ...config, limit: config.limit ?? null, trainSamples: train.n };

  if (config.distillWeight !== undefined && !options.teacher) throw new Error('internal: distillation needs a teacher');
  const checkpoint = resumedCheckpoint(outDir, options.resume);
  if (checkpoint && options.init) throw trainingError('a resumed run continues from its own checkpoint, not from --init', 'drop --init (or --resume, to start a new run)');
  const notices = checkpoint ? checkResume(checkpoint, graph, recordedConfig, stepsPerEpoch) : [];
  if (checkpoint && checkpoint.meta.step > checkpoint.meta.epoch * stepsPerEpoch && config.epochs <= checkpoint.meta.epoch) {
    throw trainingError(`the checkpoint ${checkpoint.path} stands within epoch ${checkpoint.meta.epoch + 1}, beyond the ${config.epochs} epoch(s) asked for`, `resume with --epochs ${checkpoint.meta.epoch + 1} or more`);
  }
  const seeded = initWeights(graph, config.seed);
  const init = options.init ? weightsFromRun(graph, seeded, options.init) : null;

  const engine = await options.engineFactory({
    graph,
    weights: init?.weights ?? seeded,
    optimizer: config.optimizer,
    batchSize: config.batchSize,
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(config.distillWeight !== undefined ? { distillWeight: config.distillWeight } : {}),
  });
  try {
    const completed = checkpoint?.meta.epoch ?? 0;
    if (checkpoint) {
      await engine.setState({ weights: checkpoint.weights, slots: checkpoint.slots, step: checkpoint.meta.step });
      emit({ type: 'resume', path: checkpoint.path, epoch: checkpoint.meta.epoch, step: checkpoint.meta.step, engine: checkpoint.meta.engine });
      for (const message of notices) emit({ type: 'notice', message });
    }
    if (init) for (const message of describeInit(init.report)) emit({ type: 'notice', message });
    const history = readMetrics(outDir, completed);
    emit({
      type: 'start',
      engine: engine.name,
      device: engine.device,
      epochs: config.epochs,
      completedEpochs: completed,
      stepsPerEpoch,
      batchSize: config.batchSize,
      trainSamples: train.n,
      testSamples: dataset.test.n,
    });
    const ran = { samples: 0, seconds: 0 };
    const meta = { seed: config.seed, engine: engine.name, config: recordedConfig, normalisation: { dataset: dataset.source, ...dataset.normalisation }, modelParams: options.modelParams ?? {} };
    const save = async (epoch: number, partialEpoch?: PartialEpoch) => {
      const state = await engine.getState();
      const path = writeCheckpoint(outDir, { graph, weights: state.weights, slots: state.slots, step: state.step, epoch, meta: { ...meta, ...(partialEpoch ? { partialEpoch } : {}) } });
      emit({ type: 'checkpoint', epoch, step: state.step, path });
    };
    const run: Run = { engine, graph, dataset, config, stepsPerEpoch, totalSteps, emit, signal: options.signal, teacher: options.teacher, save };
    for (let epoch = completed + 1; epoch <= config.epochs; epoch++) {
      // The first epoch of a run resumed mid-epoch starts where its checkpoint stopped.
      const from = epoch === completed + 1 && checkpoint ? { batch: checkpoint.meta.step - completed * stepsPerEpoch, sums: checkpoint.meta.partialEpoch } : { batch: 0 };
      const metrics = await runEpoch(run, epoch, from);
      ran.samples += metrics.ranSamples;
      ran.seconds += metrics.ranSamples / metrics.samplesPerSecond;
      const { ranSamples: _ran, ...line } = metrics;
      history.push(line);
      // Metrics first: if killed in between, the resumed run drops the line its checkpoint lacks.
      writeMetrics(outDir, history);
      await save(epoch);
      emit({ type: 'epoch-end', metrics: line, epochs: config.epochs });
    }
    const final = await engine.getState();
    const last = history[history.length - 1];
    return {
      summary: {
        epochs: Math.max(completed, config.epochs),
        samplesPerSecond: ran.seconds > 0 ? ran.samples / ran.seconds : (last?.samplesPerSecond ?? 0),
        trainLoss: last?.trainLoss ?? NaN,
        testAccuracy: last?.testAccuracy ?? NaN,
      },
      history,
      weights: final.weights,
      engine: engine.name,
      device: engine.device,
      checkpointPath: join(outDir, CHECKPOINT_FILE),
    };
  } finally {
    await engine.dispose();
  }
}

interface Run {
  engine: TrainEngine;
  graph: Graph;
  dataset: Dataset;
  config: TrainConfig;
  stepsPerEpoch: number;
  totalSteps: number;
  emit: TrainListener;
  signal: AbortSignal | undefined;
  teacher: Predict | undefined;
  /** Writes the checkpoint of `epoch` completed epochs (and, mid-epoch, the position in the next). */
  save: (epoch: number, partialEpoch?: PartialEpoch) => Promise<void>;
}

const NO_SUMS: PartialEpoch = { lossSum: 0, correct: 0, samples: 0, distillationSum: 0, flipSum: 0, flipSteps: 0 };

/** One epoch from its batch `from.batch` on (0 unless resumed mid-epoch, then with the sums so far). */
async function runEpoch(run: Run, epoch: number, from: { batch: number; sums?: PartialEpoch | undefined }): Promise<EpochMetrics & { ranSamples: number }> {
  const { engine, graph, dataset, config, stepsPerEpoch, emit } = run;
  const began = performance.now();
  const gatherer = new BatchGatherer(dataset.train, config.batchSize);
  const joins = planDropPath(graph);
  const dropouts = planDropout(graph);
  const order = epochOrder(dataset.train.n, config.seed, epoch);
  emit({ type: 'epoch-start', epoch, epochs: config.epochs, steps: stepsPerEpoch });
  const sums = { ...(from.sums ?? NO_SUMS) };
  let ranSamples = 0;
  let lr = config.lr;
  for (let b = from.batch; b < stepsPerEpoch; b++) {
    run.signal?.throwIfAborted();
    const step = (epoch - 1) * stepsPerEpoch + b;
    const batch = gatherer.gather(order, b * config.batchSize);
    if (dataset.augmentation) augmentBatch(dataset.augmentation, batch.x, batch.n, dataset.shape, new Random(config.seed, `augment/${step}`));
    // The teacher sees the images the student sees, augmentation included.
    if (run.teacher) batch.teacher = await run.teacher(batch.x, batch.n);
    const noise = { joinMasks: dropPathMasks(joins, config.seed, step), dropoutMasks: dropoutMasks(dropouts, config.seed, step, batch.n) };
    lr = learningRate(config.schedule, config.lr, step, run.totalSteps);
    const result = await engine.trainStep(batch, lr, noise);
    if (!Number.isFinite(result.loss)) {
      throw trainingError(
        `the training loss became ${result.loss} at epoch ${epoch}, step ${b + 1}`,
        `lower the learning rate (--lr ${config.lr}); the last checkpoint is kept`,
      );
    }
    sums.lossSum += result.loss * batch.n;
    sums.correct += result.correct;
    sums.samples += batch.n;
    ranSamples += batch.n;
    if (result.distillation !== undefined) sums.distillationSum += result.distillation * batch.n;
    if (result.flipRatio !== undefined) {
      sums.flipSum += result.flipRatio;
      sums.flipSteps++;
    }
    const seconds = (performance.now() - began) / 1000;
    const flips = sums.flipSteps ? { flipRatio: sums.flipSum / sums.flipSteps } : {};
    emit({ type: 'step', epoch, step: b + 1, steps: stepsPerEpoch, loss: sums.lossSum / sums.samples, accuracy: sums.correct / sums.samples, samplesPerSecond: ranSamples / seconds, lr, ...flips });
    // Mid-epoch checkpoints count optimizer steps of the whole run; the epoch's last step has its own.
    if (config.checkpointEvery && (step + 1) % config.checkpointEvery === 0 && b + 1 < stepsPerEpoch) await run.save(epoch - 1, { ...sums });
    // An engine that computes synchronously (pure-JS tfjs) would otherwise starve the event loop:
    // no Ctrl-C, no progress-bar redraws until the run ends.
    await new Promise((resolve) => setImmediate(resolve));
  }
  run.signal?.throwIfAborted();
  const trainSeconds = (performance.now() - began) / 1000;
  emit({ type: 'validate', epoch });
  const test = await evaluate((x, n) => engine.predict(x, n), dataset.test, graph.classes, config.batchSize);
  return {
    epoch,
    step: epoch * stepsPerEpoch,
    lr,
    trainLoss: sums.lossSum / sums.samples,
    trainAccuracy: sums.correct / sums.samples,
    ...(run.teacher ? { trainDistillation: sums.distillationSum / sums.samples } : {}),
    testLoss: test.loss,
    testAccuracy: test.accuracy,
    samplesPerSecond: ranSamples / trainSeconds,
    seconds: (performance.now() - began) / 1000,
    rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
    engine: engine.name,
    device: engine.device,
    ...(sums.flipSteps ? { flipRatio: sums.flipSum / sums.flipSteps } : {}),
    ranSamples,
  };
}

function validateConfig(c: TrainConfig): void {
  const bad = (what: string) => {
    throw trainingError(what);
  };
  if (!(Number.isInteger(c.epochs) && c.epochs >= 1)) bad(`epochs must be a whole number ≥ 1, got ${c.epochs}`);
  if (!(Number.isInteger(c.batchSize) && c.batchSize >= 1)) bad(`the batch size must be a whole number ≥ 1, got ${c.batchSize}`);
  if (!(c.lr > 0 && Number.isFinite(c.lr))) bad(`the learning rate must be a positive number, got ${c.lr}`);
  if (c.checkpointEvery !== undefined && !(Number.isInteger(c.checkpointEvery) && c.checkpointEvery >= 1)) bad(`checkpoints every N steps need a whole N ≥ 1, got ${c.checkpointEvery}`);
  if (c.distillWeight !== undefined && !(c.distillWeight >= 0 && Number.isFinite(c.distillWeight))) bad(`the distillation weight must be a number ≥ 0, got ${c.distillWeight}`);
  if (!(c.optimizer.weightDecay >= 0)) bad(`weight decay must be ≥ 0, got ${c.optimizer.weightDecay}`);
  if (!(c.optimizer.momentum >= 0 && c.optimizer.momentum < 1)) bad(`momentum must lie in [0, 1), got ${c.optimizer.momentum}`);
  if (c.optimizer.bopThreshold !== undefined && !(c.optimizer.bopThreshold >= 0)) bad(`Bop's threshold must be ≥ 0, got ${c.optimizer.bopThreshold}`);
  if (c.optimizer.bopGamma !== undefined && !(c.optimizer.bopGamma > 0 && c.optimizer.bopGamma <= 1)) bad(`Bop's adaptivity rate must lie in (0, 1], got ${c.optimizer.bopGamma}`);
}

function trainingError(message: string, hint?: string): SofarError {
  return new SofarError([error('training', message, undefined, hint)]);
}
