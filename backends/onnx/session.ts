/** onnxruntime-node sessions over exported models, and inference on NCHW float32 batches. */
import ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import { sessionModel, type OrtProvider } from './webgpu.js';

export type InferenceSession = ort.InferenceSession;

export interface SessionOptions {
  /** Intra-op threads (default: onnxruntime's choice, one per physical core). */
  threads?: number;
  /** Default `all`; `disabled` runs the model exactly as written (no constant folding or fusion). */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** `webgpu`: onnxruntime's WebGPU execution provider, the CPU for what it lacks (default `cpu`). */
  provider?: OrtProvider;
  /**
   * Stop the intra-op threads spinning when a run ends (`session.force_spinning_stop`). By default
   * onnxruntime's idle threads keep spinning after a run and take the CPU from whatever runs next in the
   * process: QuickNet on SoFAr's runtime ran 18–36 % slower right after an onnxruntime run than with no
   * session beside it, and 0–5 % with this set, onnxruntime's own latency unchanged. Side-by-side
   * benchmarks set it.
   */
  stopSpinning?: boolean;
}

/** onnxruntime's session options for SoFAr's (plain data, so that tests can read them). */
export function ortSessionOptions(options: SessionOptions = {}): ort.InferenceSession.SessionOptions {
  return {
    executionMode: 'sequential',
    interOpNumThreads: 1,
    graphOptimizationLevel: options.optimization ?? 'all',
    logSeverityLevel: 3,
    ...(options.threads ? { intraOpNumThreads: options.threads } : {}),
    // The key as onnxruntime spells it (onnxruntime_session_options_config_keys.h: kOrtSessionOptionsConfigForceSpinningStop).
    ...(options.stopSpinning ? { extra: { session: { force_spinning_stop: '1' } } } : {}),
  };
}

export async function createSession(model: Uint8Array | string, options: SessionOptions = {}): Promise<InferenceSession> {
  const o = ortSessionOptions(options);
  if (options.provider === 'webgpu') {
    // The WebGPU provider needs the model rewritten (webgpu.ts), so a file is read here rather than by ORT.
    const session = sessionModel(typeof model === 'string' ? readFileSync(model) : model, 'webgpu');
    return ort.InferenceSession.create(session.model, { ...o, executionProviders: session.executionProviders });
  }
  return typeof model === 'string' ? ort.InferenceSession.create(model, o) : ort.InferenceSession.create(model, o);
}

/** The per-sample input shape `[C, H, W]` the session expects (its first input, minus the batch axis). */
export function sessionInputShape(session: InferenceSession): number[] {
  const meta = session.inputMetadata[0];
  const shape = meta && meta.isTensor ? meta.shape.slice(1) : [];
  if (!shape.length || !shape.every((d): d is number => typeof d === 'number' && d > 0)) {
    throw new Error(`the model's input '${session.inputNames[0]}' has no fixed per-sample shape`);
  }
  return shape;
}

/** Logits `[n, classes]` row-major for `n` samples `[n, C, H, W]` row-major. */
export async function runOnnx(session: InferenceSession, x: Float32Array, n: number): Promise<Float32Array> {
  const shape = sessionInputShape(session);
  const per = shape.reduce((a, b) => a * b, 1);
  if (x.length !== n * per) throw new Error(`runOnnx: ${n} samples of [${shape.join(', ')}] need ${n * per} values, got ${x.length}`);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, [n, ...shape]) };
  const results = await session.run(feeds);
  const out = results[session.outputNames[0]];
  return out.data as Float32Array;
}
