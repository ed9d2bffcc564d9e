/**
 * What the training loop reports as it goes. The loop prints nothing; the CLI's progress renderer
 * (cli/progress.ts) or a test listens to these.
 */
import type { EpochMetrics } from './metrics.js';

export type TrainEvent =
  | {
      type: 'start';
      engine: string;
      device: string;
      epochs: number;
      /** Epochs already done (a resumed run). */
      completedEpochs: number;
      stepsPerEpoch: number;
      batchSize: number;
      trainSamples: number;
      testSamples: number;
    }
  | { type: 'resume'; path: string; epoch: number; step: number; engine: string }
  /** Something the user should know that does not stop training. */
  | { type: 'notice'; message: string }
  | { type: 'epoch-start'; epoch: number; epochs: number; steps: number }
  | {
      type: 'step';
      epoch: number;
      /** 1-based within the epoch. */
      step: number;
      steps: number;
      /** Running means over the epoch so far. */
      loss: number;
      accuracy: number;
      samplesPerSecond: number;
      lr: number;
      /** Mean share of binary weights whose sign a step changed; absent without binary weights. */
      flipRatio?: number;
    }
  | { type: 'validate'; epoch: number }
  | { type: 'epoch-end'; metrics: EpochMetrics; epochs: number }
  /** A checkpoint after `epoch` complete epochs and `step` optimizer steps (mid-epoch when beyond the epoch's). */
  | { type: 'checkpoint'; epoch: number; step: number; path: string };

export type TrainListener = (event: TrainEvent) => void;
