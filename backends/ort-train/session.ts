/** onnxruntime-node sessions for the step models, with the options that make CPU training fast. */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { sessionModel, type OrtProvider } from '../onnx/webgpu.js';

export interface SessionSettings {
  /** Intra-op threads (default: every available core). */
  threads?: number;
  /** Write an ORT profile (JSON) with this file prefix; for bench/ and investigations. */
  profilePrefix?: string;
  /** `webgpu`: onnxruntime's WebGPU execution provider, the CPU for what it lacks (default `cpu`). */
  provider?: OrtProvider;
}

export function defaultThreads(): number {
  return availableParallelism();
}

export async function openSession(bytes: Uint8Array, settings: SessionSettings = {}): Promise<ort.InferenceSession> {
  const { model, executionProviders } = sessionModel(bytes, settings.provider);
  return ort.InferenceSession.create(model, {
    executionProviders,
    graphOptimizationLevel: 'all',
    // Measured: the parallel executor (independent dW and dx branches) gained nothing on 2 cores.
    executionMode: 'sequential',
    intraOpNumThreads: settings.threads ?? defaultThreads(),
    interOpNumThreads: 1,
    enableCpuMemArena: true,
    // Off: the pattern costs a second slow warm-up step and gains nothing measurable in steady state.
    enableMemPattern: false,
    logSeverityLevel: 3,
    // Idle intra-op threads sleep instead of spinning: a step is a few hundred large ops, so spinning
    // buys little, and on a shared or busy machine it halved throughput (the spinning thread takes the
    // core the working one needs).
    extra: { session: { 'intra_op.allow_spinning': '0' } },
    ...(settings.profilePrefix ? { enableProfiling: true, profileFilePrefix: settings.profilePrefix } : {}),
  });
}

export const float32 = (data: Float32Array, dims: readonly number[]) => new ort.Tensor('float32', data, dims);

export const scalar = (value: number) => new ort.Tensor('float32', Float32Array.of(value), []);

export function int64Labels(labels: Int32Array, n: number): ort.Tensor {
  const out = new BigInt64Array(n);
  for (let i = 0; i < n; i++) out[i] = BigInt(labels[i]);
  return new ort.Tensor('int64', out, [n]);
}

/** onnxruntime-node's version, for the engine's device line. */
export const ORT_VERSION: string = (ort.env as { versions?: { common?: string } }).versions?.common ?? 'unknown';
