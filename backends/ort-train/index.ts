/** The ONNX Runtime training backend: generated ONNX training steps run by onnxruntime-node. */
export { createOrtEngine, createOrtEngineWith, type OrtEngineOptions } from './engine.js';
export { ortGradients, ortLossAndGradients, type LossAndGradients } from './gradients.js';
export { buildStepModel, IO, type StepKind, type StepModel } from './step-model.js';
export { flatLayout, type FlatLayout } from './layout.js';
export type { Placement } from './layout.js';
