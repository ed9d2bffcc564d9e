/** The training configuration the train tests start from. */
import type { TrainConfig } from '../../src/train/loop.js';

/** 2 epochs of batches of 32, cosine schedule, Adam, synthetic data, with the file's `lr` and `seed`; `over` changes any of it. */
export const trainConfig = ({ lr, seed }: Pick<TrainConfig, 'lr' | 'seed'>, over: Partial<TrainConfig> = {}): TrainConfig => ({
  epochs: 2,
  batchSize: 32,
  lr,
  schedule: 'cosine',
  optimizer: { name: 'adam', momentum: 0.9, weightDecay: 1e-4 },
  seed,
  data: 'synthetic',
  ...over,
});
