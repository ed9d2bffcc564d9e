/**
 * The training objective of docs/semantics.md: mean softmax cross-entropy of the logits, plus, when
 * distilling, w · KL(softmax(teacher) ‖ softmax(student)).
 */
import type { Tensor, Tf } from './tf.js';

/** One-hot targets `[n, classes]` from integer labels, refusing labels outside 0..classes−1. */
export function oneHotLabels(tf: Tf, labels: Int32Array, classes: number): Tensor {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (!(y >= 0 && y < classes)) throw new RangeError(`label ${y} of batch item ${i} lies outside 0..${classes - 1}`);
  }
  return tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), classes).toFloat());
}

/** mean over the batch of −log softmax(logits)[label]. */
export function crossEntropy(tf: Tf, logits: Tensor, oneHot: Tensor): Tensor {
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), -1)));
}

/** mean over the batch of KL(softmax(teacher) ‖ softmax(logits)) = Σ p_t (log p_t − log softmax(logits)). */
export function distillationLoss(tf: Tf, logits: Tensor, teacherLogits: Tensor): Tensor {
  const teacherLogProbs = tf.logSoftmax(teacherLogits);
  return tf.mean(tf.sum(tf.mul(tf.exp(teacherLogProbs), tf.sub(teacherLogProbs, tf.logSoftmax(logits))), -1));
}

/** Number of rows whose first largest logit is at the label; read asynchronously (WebGPU has no synchronous reads in Node). */
export async function correctCount(tf: Tf, logits: Tensor, labels: Int32Array): Promise<number> {
  const predicted = tf.tidy(() => tf.argMax(logits, -1));
  try {
    const p = await predicted.data();
    let correct = 0;
    for (let i = 0; i < labels.length; i++) if (p[i] === labels[i]) correct++;
    return correct;
  } finally {
    predicted.dispose();
  }
}
