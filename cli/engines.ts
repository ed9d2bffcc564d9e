/**
 * Picks the training engine for `--engine ort|tfjs|auto` and loads it on demand (dynamic imports:
 * neither engine's dependencies load unless chosen). `auto` takes TensorFlow.js when a native tfjs
 * package (tfjs-node or tfjs-node-gpu) is installed — the pure-JS fallback is far slower than ONNX
 * Runtime — and the ONNX Runtime engine otherwise. Either engine reaches a GPU through WebGPU; tfjs
 * also through CUDA (tfjs-node-gpu). The device policy is backends/webgpu/adapter.ts's.
 */
import { createRequire } from 'node:module';
import type { EngineFactory } from '../src/train/engine.js';

export const ENGINES = ['auto', 'ort', 'tfjs'] as const;
export type EngineChoice = (typeof ENGINES)[number];
export const DEVICES = ['auto', 'gpu', 'webgpu', 'cpu'] as const;
export type DeviceChoice = (typeof DEVICES)[number];

const NATIVE_TFJS = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];

/** Whether a package can be found from here (without loading it). */
export function isInstalled(name: string, from = import.meta.url): boolean {
  try {
    createRequire(from).resolve(name);
    return true;
  } catch {
    return false;
  }
}

/** The concrete engine for a choice: tfjs when a native tfjs package is installed, else ort. */
export function resolveEngine(engine: EngineChoice, _device: DeviceChoice, installed: (name: string) => boolean = isInstalled): 'ort' | 'tfjs' {
  if (engine !== 'auto') return engine;
  return NATIVE_TFJS.some((name) => installed(name)) ? 'tfjs' : 'ort';
}

const warn = (message: string) => process.stderr.write(`warning: ${message}\n`);

export async function loadEngineFactory(engine: 'ort' | 'tfjs', device: DeviceChoice): Promise<EngineFactory> {
  if (engine === 'tfjs') {
    const { tfjsEngineFactory } = await import('../backends/tfjs/engine.js');
    return tfjsEngineFactory({ device, onWarning: warn });
  }
  const [{ createOrtEngineWith }, { decideWebGpu, adapterName }] = await Promise.all([import('../backends/ort-train/engine.js'), import('../backends/webgpu/adapter.js')]);
  // A software adapter that auto passes over is not worth a warning: the device line says 'cpu'.
  const { adapter } = await decideWebGpu(device);
  return (options) => createOrtEngineWith({ ...options, ...(adapter ? { provider: 'webgpu', adapter: adapterName(adapter) } : {}) });
}

/** ONNX Runtime's provider for a device request, and how to name it (`WebGPU: llvmpipe ..., software`). */
export async function inferenceProvider(device: DeviceChoice | undefined): Promise<{ provider: 'cpu' | 'webgpu'; label: string }> {
  if (!device || device === 'cpu') return { provider: 'cpu', label: 'CPU' };
  const { decideWebGpu, adapterName } = await import('../backends/webgpu/adapter.js');
  const { adapter } = await decideWebGpu(device);
  return adapter ? { provider: 'webgpu', label: `WebGPU: ${adapterName(adapter)}` } : { provider: 'cpu', label: 'CPU' };
}
