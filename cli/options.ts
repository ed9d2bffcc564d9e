/**
 * The options of the commands that run a model (run, bench, eval): which runtime runs it and on which
 * device. Defined once so that the three commands offer the same choices with the same help.
 */
import { Option } from 'commander';
import { RUNTIMES } from './binary-runtime.js';
import { DEVICES } from './engines.js';

/** `--runtime ort|sofar|wasm`, shared by run, bench and eval; run also takes `tfjs` (a spec in TensorFlow.js). */
export function runtimeOption(tfjs = false): Option {
  const choices: string[] = tfjs ? [...RUNTIMES, 'tfjs'] : [...RUNTIMES];
  const description = `ort: onnxruntime-node on the standard export; sofar: SoFAr's bit-packed binary kernels (native) on the --binary-ops export; wasm: the same kernels as WebAssembly (one thread unless --threads)${tfjs ? '; tfjs: a spec in TensorFlow.js' : ''}`;
  return new Option('--runtime <runtime>', description).choices(choices).default('ort');
}

/**
 * `--device` of run, bench and eval. Not given, ONNX Runtime stays on the CPU (as before WebGPU) and
 * `run --runtime tfjs` takes the best tfjs package installed (auto).
 */
export const deviceOption = () =>
  new Option(
    '--device <name>',
    'cpu (the default for ONNX Runtime); webgpu: any WebGPU adapter, software ones included; gpu: a hardware GPU; auto: a hardware GPU, else the CPU',
  ).choices([...DEVICES]);
