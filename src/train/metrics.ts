/**
 * `DIR/metrics.jsonl`: one JSON object per completed epoch. The whole file is rewritten atomically
 * after each epoch (it is small), so it is never half-written; a resumed run keeps the lines of the
 * epochs its checkpoint covers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { error, SofarError } from '../diagnostics.js';
import { replaceFileAtomic } from '../io/atomic.js';

export const METRICS_FILE = 'metrics.jsonl';

export interface EpochMetrics {
  epoch: number;
  /** Optimizer steps taken at the end of the epoch. */
  step: number;
  /** Learning rate of the epoch's last step. */
  lr: number;
  trainLoss: number;
  trainAccuracy: number;
  /** Distillation only: the epoch's mean KL(teacher ‖ student) (unweighted; trainLoss includes w times it). */
  trainDistillation?: number;
  testLoss: number;
  testAccuracy: number;
  /** Training throughput of the epoch (validation excluded). */
  samplesPerSecond: number;
  /** Wall time of the epoch, validation included. */
  seconds: number;
  /** Resident memory of the process at the end of the epoch, to show it does not grow. */
  rssMB: number;
  /** The engine and the device it computed on (`webgpu (llvmpipe: …, software; …)`, `cpu (…)`); absent in older files. */
  engine?: string;
  device?: string;
  /** The mean over the epoch's steps of the share of binary weights whose sign a step changed; absent without binary weights. */
  flipRatio?: number;
}

export function writeMetrics(dir: string, history: readonly EpochMetrics[]): void {
  replaceFileAtomic(join(dir, METRICS_FILE), history.map((m) => JSON.stringify(m) + '\n').join(''));
}

/** The metrics of epochs 1..`upToEpoch` already in `dir` (none when the file is absent). */
export function readMetrics(dir: string, upToEpoch: number): EpochMetrics[] {
  let text: string;
  try {
    text = readFileSync(join(dir, METRICS_FILE), 'utf8');
  } catch {
    return [];
  }
  return parseMetrics(text, join(dir, METRICS_FILE)).filter((m) => m.epoch <= upToEpoch);
}

/** The lines of a metrics file read from `path` (named in the error a damaged line raises). */
export function parseMetrics(text: string, path: string): EpochMetrics[] {
  return text
    .split('\n')
    .map((line, i) => ({ line, number: i + 1 }))
    .filter(({ line }) => line.trim())
    .map(({ line, number }) => {
      try {
        const m = JSON.parse(line) as EpochMetrics;
        if (typeof m?.epoch === 'number') return m;
      } catch {
        // reported below
      }
      throw new SofarError([error('bad-metrics', `${path}:${number} is not a metrics line`, undefined, 'it was edited or damaged; delete that line (the checkpoint holds the training state) and resume again')]);
    });
}
