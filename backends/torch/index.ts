/** The PyTorch backend: a spec as model.py + train.py (DistributedDataParallel under torchrun). */
export { emitModelPy, emitTrainPy, writeTorchProject, type TorchOptions, type TorchProject, type TorchProjectOptions } from './emit.js';
export { emitClasses, type EmittedClasses } from './blocks.js';
export { TORCH_LAYERS, type Lowered } from './lower.js';
export type { Arg } from './lower.js';
