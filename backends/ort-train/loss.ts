/** Mean softmax cross-entropy over the batch, its gradient w.r.t. the logits, and top-1 hits. */
import type { Emitter } from './emitter.js';

export interface LossValues {
  /** Scalar mean cross-entropy. */
  loss: string;
  /** Scalar float: correct top-1 predictions (first maximum wins ties, as argmax everywhere). */
  correct: string;
  /** dL/dlogits `[N, classes]` = (softmax − onehot) / N. */
  dLogits: string;
}

export function softmaxCrossEntropy(e: Emitter, logits: string, labels: string, classes: number, batchSize: string): LossValues {
  return e.scoped('loss', () => {
    const onehot = e.op('OneHot', [labels, e.i64Scalar(classes), e.graph.constant('float32', [2], Float32Array.of(0, 1), 'onoff')], { axis: -1 }, { hint: 'onehot' });
    const logProbs = e.op('LogSoftmax', [logits], { axis: 1 }, { hint: 'logp' });
    const picked = e.op('ReduceSum', [e.op('Mul', [onehot, logProbs])], { keepdims: 0 });
    const loss = e.op('Neg', [e.op('Div', [picked, batchSize])], {}, { hint: 'mean' });
    const dLogits = e.op('Div', [e.op('Sub', [e.op('Exp', [logProbs], {}, { hint: 'probs' }), onehot]), batchSize], {}, { hint: 'dlogits' });
    const hits = e.op('Equal', [e.op('ArgMax', [logits], { axis: 1, keepdims: 0 }), labels]);
    const correct = e.op('ReduceSum', [e.op('Cast', [hits], { to: 1 })], { keepdims: 0 }, { hint: 'correct' });
    return { loss, correct, dLogits };
  });
}
