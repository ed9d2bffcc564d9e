/**
 * Picks the training engine for `--engine ort|tfjs|auto` and loads it on demand (dynamic imports:
 * neither engine's dependencies load unless chosen). `auto` takes TensorFlow.js when a native tfjs
 * package (tfjs-node or tfjs-node-gpu) is installed — the pure-JS fallback is far slower than ONNX
 * Runtime — and the ONNX Runtime engine otherwise.
 */
import { createRequire } from 'node:module';
import type { EngineFactory } from '../../src/train/engine.js';
import { UsageError } from '../common.js';

export const ENGINES = ['auto', 'ort', 'tfjs'] as const;
export type EngineChoice = (typeof ENGINES)[number];
export const DEVICES = ['auto', 'gpu', 'cpu'] as const;
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

/** The concrete engine for a choice; a GPU can only be had through tfjs. */
export function resolveEngine(engine: EngineChoice, device: DeviceChoice, installed: (name: string) => boolean = isInstalled): 'ort' | 'tfjs' {
  if (engine === 'ort' && device === 'gpu') {
    throw new UsageError('the ONNX Runtime engine trains on the CPU; --device gpu needs --engine tfjs', 'drop --device gpu, or use --engine tfjs with @tensorflow/tfjs-node-gpu installed');
  }
  if (engine !== 'auto') return engine;
  if (device === 'gpu') return 'tfjs';
  return NATIVE_TFJS.some((name) => installed(name)) ? 'tfjs' : 'ort';
}

export async function loadEngineFactory(engine: 'ort' | 'tfjs', device: DeviceChoice): Promise<EngineFactory> {
  if (engine === 'tfjs') {
    const { tfjsEngineFactory } = await import('../../backends/tfjs/engine.js');
    return tfjsEngineFactory({ device, onWarning: (message) => process.stderr.write(`warning: ${message}\n`) });
  }
  const { createOrtEngine } = await import('../../backends/ort-train/engine.js');
  return createOrtEngine;
}
