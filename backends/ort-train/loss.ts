/**
 * The training objective of docs/semantics.md: mean softmax cross-entropy over the batch, plus, when
 * distilling, w · KL(softmax(teacher) ‖ softmax(student)); its gradient w.r.t. the logits; top-1 hits.
 */
import type { Emitter } from './emitter.js';

export interface LossValues {
  /** Scalar mean loss: cross-entropy, plus w · KL when distilling. */
  loss: string;
  /** Scalar float: correct top-1 predictions (first maximum wins ties, as argmax everywhere). */
  correct: string;
  /** dL/dlogits `[N, classes]` = (softmax − onehot + w · (softmax − softmax(teacher))) / N. */
  dLogits: string;
  /** Distillation only: the scalar mean KL(teacher ‖ student), unweighted. */
  distillation?: string;
}

/** The teacher's logits `[N, classes]` (a graph input) and the weight w of the KL term. */
export interface Distillation {
  logits: string;
  weight: number;
}

export function trainingLoss(e: Emitter, logits: string, labels: string, classes: number, batchSize: string, teacher?: Distillation): LossValues {
  return e.scoped('loss', () => {
    const onehot = e.op('OneHot', [labels, e.i64Scalar(classes), e.graph.constant('float32', [2], Float32Array.of(0, 1), 'onoff')], { axis: -1 }, { hint: 'onehot' });
    const logProbs = e.op('LogSoftmax', [logits], { axis: 1 }, { hint: 'logp' });
    const probs = e.op('Exp', [logProbs], {}, { hint: 'probs' });
    const picked = e.op('ReduceSum', [e.op('Mul', [onehot, logProbs])], { keepdims: 0 });
    const crossEntropy = e.op('Neg', [e.op('Div', [picked, batchSize])], {}, { hint: 'mean' });
    const ceGrad = e.op('Sub', [probs, onehot]);
    const hits = e.op('Equal', [e.op('ArgMax', [logits], { axis: 1, keepdims: 0 }), labels]);
    const correct = e.op('ReduceSum', [e.op('Cast', [hits], { to: 1 })], { keepdims: 0 }, { hint: 'correct' });
    if (!teacher) return { loss: crossEntropy, correct, dLogits: e.op('Div', [ceGrad, batchSize], {}, { hint: 'dlogits' }) };
    return e.scoped('distill', () => {
      // KL(p_t ‖ p_s) = Σ p_t (log p_t − log p_s); its gradient w.r.t. the student's logits is p_s − p_t.
      const teacherLogProbs = e.op('LogSoftmax', [teacher.logits], { axis: 1 }, { hint: 'teacher_logp' });
      const teacherProbs = e.op('Exp', [teacherLogProbs], {}, { hint: 'teacher_probs' });
      const perEntry = e.op('Mul', [teacherProbs, e.op('Sub', [teacherLogProbs, logProbs])]);
      const kl = e.op('Div', [e.op('ReduceSum', [perEntry], { keepdims: 0 }), batchSize], {}, { hint: 'kl' });
      const w = e.f32(teacher.weight);
      const loss = e.op('Add', [crossEntropy, e.op('Mul', [w, kl])], {}, { hint: 'loss' });
      const klGrad = e.op('Mul', [w, e.op('Sub', [probs, teacherProbs])]);
      const dLogits = e.op('Div', [e.op('Add', [ceGrad, klGrad]), batchSize], {}, { hint: 'dlogits' });
      return { loss, correct, dLogits, distillation: kl };
    });
  });
}
