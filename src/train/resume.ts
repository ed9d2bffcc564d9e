/**
 * Resuming a run: the one place that reads what the run in a folder recorded (its checkpoint: weights,
 * optimizer state, configuration and model parameters), merges the recorded configuration under the
 * one asked for, and checks that the result continues the same run.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CHECKPOINT_FILE, checkCheckpointFits, readCheckpoint, type Checkpoint } from '../checkpoint/index.js';
import { error, SofarError } from '../diagnostics.js';
import type { Graph } from '../graph/types.js';
import type { OptimizerConfig } from './engine.js';
import type { TrainConfig } from './loop.js';

/**
 * A configuration asked for in part (the optimizer's settings one by one): what it leaves out, or
 * leaves undefined, comes from the run.
 */
export type ConfigRequest = Partial<Omit<TrainConfig, 'optimizer'>> & { optimizer?: Partial<OptimizerConfig> };

/** A run to continue, read once: `train` takes it as its `resume` option. */
export interface ResumedRun {
  checkpoint: Checkpoint;
  /** The configuration to continue with: the settings asked for, else the run's, else the defaults. */
  config: TrainConfig;
  /** The model parameters (`--set` values as written) the run's graph was built with; undefined when the checkpoint predates the record. */
  modelParams: Record<string, string> | undefined;
}

/**
 * The run in `outDir`, to continue with the settings `requested` and, where neither they nor the run say,
 * `defaults`. A missing or unreadable checkpoint is a SofarError; whether the merged configuration may
 * continue the run is checked when training starts (`checkResume`), once the data set is known.
 */
export function resumeRun(outDir: string, requested: ConfigRequest, defaults: TrainConfig): ResumedRun {
  const checkpoint = readCheckpoint(outDir);
  const recorded = recordedRequest(checkpoint.meta.config ?? {});
  const config: TrainConfig = {
    ...defaults,
    ...recorded,
    ...definedOnly(requested),
    optimizer: { ...defaults.optimizer, ...recorded.optimizer, ...definedOnly(requested.optimizer ?? {}) },
  };
  return { checkpoint, config, modelParams: checkpoint.meta.modelParams };
}

/** The settings a checkpoint's configuration records (older checkpoints record fewer; unknown keys are passed over). */
function recordedRequest(c: Record<string, unknown>): ConfigRequest {
  const o = (c.optimizer ?? {}) as Record<string, unknown>;
  return {
    ...definedOnly({
      data: c.data, epochs: c.epochs, batchSize: c.batchSize, lr: c.lr, schedule: c.schedule, seed: c.seed, limit: c.limit,
      checkpointEvery: c.checkpointEvery, distillWeight: c.distillWeight, teacher: c.teacher, teacherWeights: c.teacherWeights,
    } as Partial<TrainConfig>),
    optimizer: definedOnly({ name: o.name, momentum: o.momentum, weightDecay: o.weightDecay, bopThreshold: o.bopThreshold, bopGamma: o.bopGamma } as Partial<OptimizerConfig>),
  };
}

/** The entries that hold a value (a run without --limit records `limit: null`). */
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null)) as Partial<T>;
}

/** Settings a resumed run must keep, or it would not continue the same run. */
const FIXED_ON_RESUME = ['batchSize', 'seed', 'data', 'limit', 'optimizer.name'] as const;
/** Settings a resumed run may change (e.g. more epochs); the user is told. */
const CHANGEABLE_ON_RESUME = ['epochs', 'lr', 'schedule', 'optimizer.momentum', 'optimizer.weightDecay', 'optimizer.bopThreshold', 'optimizer.bopGamma', 'checkpointEvery', 'distillWeight', 'teacher', 'teacherWeights'] as const;

/**
 * The checkpoint a run continues from: the one `resume` read already, `outDir`'s when it is `true`,
 * none for a new run (which a folder already holding a checkpoint refuses).
 */
export function resumedCheckpoint(outDir: string, resume: boolean | ResumedRun | undefined): Checkpoint | null {
  if (typeof resume === 'object') return resume.checkpoint;
  if (resume) return readCheckpoint(outDir);
  if (existsSync(join(outDir, CHECKPOINT_FILE))) throw resumeError(`${outDir} already holds a checkpoint`, 'pass --resume to continue that run, or choose another --out folder');
  return null;
}

/**
 * Refuses a checkpoint that does not fit the graph, or a configuration (`config` as the run records it)
 * that breaks the run's continuity; returns a notice for each setting the resumed run changes.
 */
export function checkResume(checkpoint: Checkpoint, graph: Graph, config: Record<string, unknown>, stepsPerEpoch: number): string[] {
  checkCheckpointFits(checkpoint, graph);
  const notices = compareConfigs(checkpoint.meta.config ?? {}, config, checkpoint.path);
  // At an epoch's end, or (a mid-epoch checkpoint) within the epoch after it.
  const first = checkpoint.meta.epoch * stepsPerEpoch;
  if (!(checkpoint.meta.step >= first && checkpoint.meta.step < first + stepsPerEpoch)) {
    throw resumeError(
      `the checkpoint ${checkpoint.path} is at step ${checkpoint.meta.step} after ${checkpoint.meta.epoch} epoch(s), but ${stepsPerEpoch} steps an epoch would put it between ${first} and ${first + stepsPerEpoch - 1}`,
      'resume with the data, --limit and --batch of the original run',
    );
  }
  return notices;
}

/** Refuses changes that break the run's continuity; returns notices for allowed changes. */
function compareConfigs(saved: Record<string, unknown>, now: Record<string, unknown>, path: string): string[] {
  const get = (o: Record<string, unknown>, key: string): unknown => key.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], o);
  const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
  for (const key of [...FIXED_ON_RESUME, 'trainSamples']) {
    if (!(key.split('.')[0] in saved)) continue;
    if (!same(get(saved, key), get(now, key))) {
      throw resumeError(
        `cannot resume ${path}: it was trained with ${key} = ${JSON.stringify(get(saved, key) ?? null)}, this run asks for ${JSON.stringify(get(now, key) ?? null)}`,
        'a resumed run keeps the data, --limit, --batch, --seed and --optimizer of the original run',
      );
    }
  }
  return CHANGEABLE_ON_RESUME.filter((key) => key.split('.')[0] in saved && !same(get(saved, key), get(now, key))).map(
    (key) => `${key} changed on resume: ${JSON.stringify(get(saved, key))} → ${JSON.stringify(get(now, key))}`,
  );
}

function resumeError(message: string, hint: string): SofarError {
  return new SofarError([error('training', message, undefined, hint)]);
}
