/**
 * The runtime in a worker_thread: `run` returns a promise and never blocks the event loop (a Node
 * service answering requests while a batch computes). The worker holds its own runtime (worker.ts); the
 * model is also read here, so a bad file or option fails with the same typed error as `createRuntime`.
 * The worker keeps Node alive only while a run is in flight.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { readRuntimeModel, RuntimeModelError, type RuntimeModel } from './model.js';
import { checkIntOption, convertedNote, MAX_BATCH, modelBytes, RuntimeOptionError, RuntimeReleasedError, type ModelBytes } from './runtime.js';

export interface WorkerRuntimeOptions {
  /** Threads of the worker's runtime (default 1). */
  threads?: number;
  /** Samples the first plan is made for (default 1). */
  batch?: number;
  /** `native` (default: the addon, else WebAssembly with a warning) or `wasm`. */
  kernels?: 'native' | 'wasm';
}

export interface AsyncRuntime {
  readonly model: RuntimeModel;
  readonly input: number[];
  readonly output: number[];
  /** `native (avx2)`, `wasm (simd128)`, ... */
  readonly kernels: string;
  /** As BinaryRuntime's: null, or how a standard export was converted on load. */
  readonly converted: string | null;
  /** Output for n samples (row-major `[n, ...output]`), computed in the worker; runs queue in order. */
  run(x: Float32Array, n: number): Promise<Float32Array>;
  /** Stops the worker; later runs reject with RuntimeReleasedError. */
  release(): Promise<void>;
  readonly released: boolean;
}

/** What the worker receives first (worker.ts). */
export interface WorkerInit {
  bytes: Uint8Array;
  threads: number;
  batch: number;
  kernels: 'native' | 'wasm';
}
/** Messages from the worker. */
export type WorkerReply = { id: 0; kernels: string } | { id: number; y: Float32Array } | { id: number; error: { name: string; message: string } };

const ERRORS: Record<string, new (message: string) => Error> = { RuntimeModelError, RuntimeOptionError, RangeError, TypeError };

function revive(error: { name: string; message: string }): Error {
  const e = new (ERRORS[error.name] ?? Error)(error.message);
  if (!(error.name in ERRORS)) e.name = error.name;
  return e;
}

export async function createRuntimeInWorker(data: ModelBytes, options: WorkerRuntimeOptions = {}): Promise<AsyncRuntime> {
  const bytes = modelBytes(data);
  const threads = checkIntOption('threads', options.threads ?? 1, 1, 256);
  const batch = checkIntOption('batch', options.batch ?? 1, 1, MAX_BATCH);
  const kernels = options.kernels ?? 'native';
  if (kernels !== 'native' && kernels !== 'wasm') throw new RuntimeOptionError(`option kernels must be 'native' or 'wasm', not ${JSON.stringify(kernels)}`);
  const model = readRuntimeModel(bytes);
  const script = new URL('./worker.js', import.meta.url);
  if (!existsSync(fileURLToPath(script))) throw new Error(`the runtime's worker script is missing (${fileURLToPath(script)}); run the compiled package (dist/)`);
  const init: WorkerInit = { bytes: bytes.slice(), threads, batch, kernels };
  // A worker inherits Node's flags; --input-type (for `node -e`) would refuse a worker file.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  const worker = new Worker(script, { workerData: init, execArgv });
  const pending = new Map<number, { resolve: (y: Float32Array) => void; reject: (e: Error) => void }>();
  let next = 1;
  let released = false;
  let failed: Error | null = null;
  const settleAll = (e: Error) => {
    failed = e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  const description = await new Promise<string>((resolve, reject) => {
    worker.on('message', (m: WorkerReply) => {
      if (m.id === 0 && 'kernels' in m) return resolve(m.kernels);
      if (m.id === 0 && 'error' in m) return reject(revive(m.error));
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (pending.size === 0) worker.unref();
      if ('error' in m) p.reject(revive(m.error));
      else if ('y' in m) p.resolve(m.y);
    });
    worker.on('error', (e) => {
      settleAll(e);
      reject(e);
    });
    worker.on('exit', (code) => {
      if (!released) settleAll(new Error(`the runtime's worker stopped (exit code ${code})`));
    });
  });
  worker.unref();
  return {
    model,
    input: model.input.shape,
    output: model.output.shape,
    kernels: description,
    converted: convertedNote(model),
    get released() {
      return released;
    },
    run(x: Float32Array, n: number): Promise<Float32Array> {
      if (released) return Promise.reject(new RuntimeReleasedError('run'));
      if (failed) return Promise.reject(failed);
      return new Promise((resolve, reject) => {
        const id = next++;
        pending.set(id, { resolve, reject });
        worker.ref();
        worker.postMessage({ id, x, n });
      });
    },
    async release(): Promise<void> {
      if (released) return;
      released = true;
      settleAll(new RuntimeReleasedError('run'));
      await worker.terminate();
    },
  };
}
