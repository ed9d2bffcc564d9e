/**
 * Accuracy and mean cross-entropy of a model over a data split, computed on the host from the logits
 * any predictor returns (a training engine's `predict`, an ONNX Runtime session), batch by batch.
 */
import type { Split } from '../data/index.js';

export type Predict = (x: Float32Array, n: number) => Promise<Float32Array>;

export interface Evaluation {
  /** Mean softmax cross-entropy (nats). */
  loss: number;
  /** Share of correct top-1 predictions, 0..1. */
  accuracy: number;
  samples: number;
}

export async function evaluate(predict: Predict, split: Split, classes: number, batchSize: number): Promise<Evaluation> {
  const sampleSize = split.n ? split.x.length / split.n : 0;
  let loss = 0;
  let correct = 0;
  for (let start = 0; start < split.n; start += batchSize) {
    const n = Math.min(batchSize, split.n - start);
    const logits = await predict(split.x.subarray(start * sampleSize, (start + n) * sampleSize), n);
    if (logits.length !== n * classes) {
      throw new Error(`internal: the predictor returned ${logits.length} logits for ${n} samples of ${classes} classes`);
    }
    const scored = scoreLogits(logits, split.y.subarray(start, start + n), classes);
    loss += scored.loss;
    correct += scored.correct;
  }
  return { loss: split.n ? loss / split.n : NaN, accuracy: split.n ? correct / split.n : NaN, samples: split.n };
}

/** Summed cross-entropy and number of correct argmax predictions (first maximum wins ties). */
export function scoreLogits(logits: Float32Array, labels: Int32Array, classes: number): { loss: number; correct: number } {
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = logits.subarray(i * classes, (i + 1) * classes);
    let best = 0;
    for (let k = 1; k < classes; k++) if (row[k] > row[best]) best = k;
    // log-sum-exp shifted by the maximum, for stability.
    let sum = 0;
    for (let k = 0; k < classes; k++) sum += Math.exp(row[k] - row[best]);
    loss += Math.log(sum) + row[best] - row[labels[i]];
    if (best === labels[i]) correct++;
  }
  return { loss, correct };
}
