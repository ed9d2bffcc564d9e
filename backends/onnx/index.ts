/** The ONNX backend's public API: export a checked graph, open it in onnxruntime-node, run it, time it. */
export { exportOnnx, variantName, weightProblem, type ExportOptions } from './export.js';
export { createSession, runOnnx, sessionInputShape, type InferenceSession, type SessionOptions } from './session.js';
export { rewriteForWebGpu, forWebGpu, sessionModel, type OrtProvider, type WebGpuSession } from './webgpu.js';
export { packBits, unpackBits, quantizeKernel, channelMeanAbs, type BinaryKernel } from './kernels.js';
export { LOWERINGS } from './lower.js';
export { sofarVersion } from './version.js';
export { percentile, timedLoad, timeRuns, type LatencyStats, type LoadTiming } from './timing.js';
