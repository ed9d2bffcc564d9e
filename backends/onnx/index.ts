/** The ONNX backend's public API: export a checked graph, open it in onnxruntime-node, run it, time it. */
export { exportOnnx, variantName, weightProblem, type ExportOptions } from './export.js';
export { SOFAR_DOMAIN, SOFAR_OPSET, packAlongChannels } from './binary-ops.js';
export { foldableBatchNorms } from './folds.js';
export { createSession, runOnnx, sessionInputShape, type InferenceSession, type SessionOptions } from './session.js';
export { rewriteForWebGpu, forWebGpu, sessionModel, type OrtProvider, type WebGpuSession } from './webgpu.js';
export { packBits, unpackBits, quantizeKernel, channelMeanAbs, type BinaryKernel } from './kernels.js';
export { LOWERINGS } from './lower.js';
export { sofarVersion } from './version.js';
export { percentile, timedLoad, timeRuns, timeCalls, type LatencyStats, type LoadTiming } from './timing.js';
export { OnnxGraph, readModelMetadata } from './proto.js';
export type { LowerCtx, LowerOptions, LoweredKernel, ParamSource } from './context.js';
export type { ElemType, Dim, AttrValue, NodeOptions } from './proto.js';
export type { ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto, AttributeProto, TypeProto, TensorShapeDimension, OperatorSetIdProto, StringStringEntryProto } from './onnx-messages.js';
