/**
 * SoFAr's programmatic API: parse, elaborate, check and measure `.sofar` specs, or build the same graphs
 * in TypeScript; load data, train with an engine, read and write checkpoints. Backends live in their own
 * entry points: `sofar/onnx`, `sofar/tfjs` and `sofar/ort-train`.
 */
export { parse, parseExpression, type ParseResult } from '../grammar/index.js';
export type * from '../grammar/ast.js';
export { compile, compileFile, type CompileOptions, type CompileResult } from './compile.js';
export { elaborate, type ElaborateOptions, type ElaborateResult } from './elaborate/elaborate.js';
export { check, assertValid } from './check.js';
export { summarize, nodeMacs, type Summary, type LayerCost } from './cost.js';
export {
  GraphBuilder,
  NodeBudgetExceeded,
  DEFAULT_NODE_BUDGET,
  type BuilderOptions,
  type Tensor,
  type QuantizerSpec,
  type BinarizePolicy,
  type ConvOptions,
  type BinaryOptions,
  type DenseOptions,
  type PoolOptions,
  type FractalOptions,
  type ResidualOptions,
} from './graph/builder.js';
export * from './graph/types.js';
export { graphToJson, graphFromJson } from './graph/json.js';
export { graphToDot } from './graph/dot.js';
export { graphToHtml } from './graph/html.js';
export { printGraph } from './graph/print.js';
export type { Padding } from './graph/shapes.js';
export { QUANTIZERS, resolveQuantizer, formatQuantizer, type QuantizerDef } from './quantizers.js';
export { initWeights, initParam, seededInput } from './weights/init.js';
export { Random } from './random.js';
export {
  SofarError,
  formatDiagnostic,
  formatDiagnosticShort,
  hasErrors,
  type Diagnostic,
  type Span,
  type Severity,
} from './diagnostics.js';
export { DATASET_NAMES, loadDataset, type Dataset, type DataShape, type LoadOptions, type Split, type DatasetName } from './data/index.js';
export { train, type TrainConfig, type TrainOptions, type TrainResult, type TrainSummary } from './train/loop.js';
export { resumeRun, type ConfigRequest, type ResumedRun } from './train/resume.js';
export { evaluate, type Evaluation, type Predict } from './train/evaluate.js';
export type { Batch, StepNoise, StepResult, TrainState, TrainEngine, EngineOptions, EngineFactory, OptimizerConfig, OptimizerName } from './train/engine.js';
export { readCheckpoint, writeCheckpoint, checkCheckpointFits, checkpointPath, CHECKPOINT_FILE, type Checkpoint, type CheckpointMeta, type CheckpointInput } from './checkpoint/index.js';
// Types the API above names in its signatures.
export type { QuantizerName, ActivationQuantizerName, WeightQuantizerName, QuantizerNameFor, QuantizerUse } from './quantizers.js';
export type { PartialEpoch } from './checkpoint/index.js';
export type { CropFlip } from './data/augment.js';
export type { SyntheticOptions } from './data/synthetic.js';
export type { InputNormalisation } from './data/normalise.js';
export type { TrainListener, TrainEvent } from './train/events.js';
export type { EpochMetrics } from './train/metrics.js';
