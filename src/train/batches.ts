/**
 * Batches of a training epoch: a permutation seeded by (seed, epoch), so that a resumed run visits the
 * samples of every later epoch in the same order, and a reusable buffer the batches are gathered into.
 */
import { Random } from '../random.js';
import type { Split } from '../data/index.js';
import type { Batch } from './engine.js';

export function epochOrder(n: number, seed: number, epoch: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  new Random(seed, `shuffle/${epoch}`).shuffle(order);
  return order;
}

export class BatchGatherer {
  private readonly x: Float32Array;
  private readonly y: Int32Array;
  private readonly sampleSize: number;

  constructor(
    private readonly split: Split,
    readonly batchSize: number,
  ) {
    this.sampleSize = split.n ? split.x.length / split.n : 0;
    // One buffer for the whole run: memory does not grow with the number of steps.
    this.x = new Float32Array(batchSize * this.sampleSize);
    this.y = new Int32Array(batchSize);
  }

  /** The samples `order[start .. start + batchSize)`; the last batch of an epoch may be smaller. */
  gather(order: Int32Array, start: number): Batch {
    const n = Math.min(this.batchSize, order.length - start);
    const size = this.sampleSize;
    for (let j = 0; j < n; j++) {
      const i = order[start + j];
      this.x.set(this.split.x.subarray(i * size, (i + 1) * size), j * size);
      this.y[j] = this.split.y[i];
    }
    return n === this.batchSize ? { x: this.x, y: this.y, n } : { x: this.x.subarray(0, n * size), y: this.y.subarray(0, n), n };
  }
}
