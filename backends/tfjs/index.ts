/**
 * The TensorFlow.js backend: the graph as a Keras model (inference, saved models), Larq's quantizers,
 * the training engine, and the choice of tfjs package (GPU, native CPU, pure JS).
 */
export { selectTfjs, selectionDevice, importModule, TFJS_PACKAGES, GPU_SETUP_HINT, type DeviceRequest, type ModuleResolver, type TfjsSelection, type TfjsSelectOptions } from './device.js';
export { buildTfjsModel, kerasName } from './lower.js';
export { registerSofarLayers, type SofarLayers } from './layers.js';
export { runTfjs, predictNchw } from './run.js';
export { gradients } from './gradients.js';
export { forward, type ForwardOptions, type ForwardResult, type ParamLookup } from './forward.js';
export { createTfjsEngine, tfjsEngineFactory, TfjsEngine, type TfjsEngineFactoryOptions } from './engine.js';
export { saveTfjsModel, loadTfjsModel, MODEL_JSON, WEIGHTS_BIN, type SavedModelInfo } from './save.js';
export { TFJS_QUANTIZERS, quantize, sign, clipKernel, magnitudeScale, type TfjsQuantizer } from './quantizers.js';
export { defaultTf, type Tf } from './tf.js';
export type { BatchStatistics } from './ops.js';
export type { Tensor } from './tf.js';
export type { HardtanhConfig, JoinConfig, Pool2DConfig, ConvConfig, DenseConfig, QuantizerConfig, AddIntoConfig } from './layers.js';
export type { AdapterFinder, WebGpuAdapter, WebGpuProbe } from '../webgpu/adapter.js';
export type { TfjsPackage } from './device.js';
export type { QuantizerOptions } from './quantizers.js';
