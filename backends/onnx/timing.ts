/**
 * Timing an ONNX Runtime session the way `sofar bench` and bench/onnx report it: session load time,
 * then latency percentiles and throughput over warm runs on one fixed batch.
 */
import { createSession, runOnnx, type InferenceSession, type SessionOptions } from './session.js';

export interface LoadTiming {
  session: InferenceSession;
  /** Wall time of creating the session (parsing, constant folding, kernel preparation), ms. */
  loadMs: number;
}

export async function timedLoad(model: Uint8Array | string, options: SessionOptions = {}): Promise<LoadTiming> {
  const start = performance.now();
  const session = await createSession(model, options);
  return { session, loadMs: performance.now() - start };
}

export interface LatencyStats {
  batch: number;
  warmup: number;
  runs: number;
  /** Per-run wall time, ms: nearest-rank percentiles over the timed runs. */
  p50Ms: number;
  p90Ms: number;
  meanMs: number;
  minMs: number;
  /** Samples per second over all timed runs. */
  throughput: number;
}

/** Nearest-rank percentile of sorted values: the smallest value with at least p% of values ≤ it. */
export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Runs `warmup` untimed inferences, then `runs` timed ones, each on the same batch of `n`. */
export async function timeRuns(session: InferenceSession, x: Float32Array, n: number, o: { warmup: number; runs: number }): Promise<LatencyStats> {
  return timeCalls((input, count) => runOnnx(session, input, count), x, n, o);
}

/**
 * `timeRuns` for any inference function (SoFAr's runtime, a session), so both are timed alike. `settled`:
 * the warm-up goes on until it holds (SoFAr's runtime times its choices in its first runs).
 */
export async function timeCalls(
  infer: (x: Float32Array, n: number) => unknown,
  x: Float32Array,
  n: number,
  o: { warmup: number; runs: number; settled?: () => boolean },
): Promise<LatencyStats> {
  let warmup = 0;
  for (; warmup < o.warmup || !(o.settled?.() ?? true); warmup++) await infer(x, n);
  const times: number[] = [];
  for (let i = 0; i < o.runs; i++) {
    const start = performance.now();
    await infer(x, n);
    times.push(performance.now() - start);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const total = times.reduce((a, b) => a + b, 0);
  return {
    batch: n,
    warmup,
    runs: o.runs,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    meanMs: total / o.runs,
    minMs: sorted[0],
    throughput: (n * o.runs * 1000) / total,
  };
}
