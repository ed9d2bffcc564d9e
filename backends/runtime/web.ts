/**
 * `sofar/web`: SoFAr's binary runtime for browsers (and any JavaScript engine with WebAssembly). ESM, no
 * Node APIs. It runs `--binary-ops` ONNX models (docs/operators.md) on the C kernels compiled to
 * WebAssembly with SIMD128 (native/wasm/sofar_kernels.wasm, shipped as dist/web/sofar_kernels.wasm).
 *
 *   import { loadRuntime, modelInfo, imageToInput, topClasses } from 'sofar/web';
 *   const runtime = await loadRuntime(modelBytes, { wasm: new URL('sofar_kernels.wasm', document.baseURI) });
 *   const info = modelInfo(runtime.model);
 *   const logits = runtime.run(imageToInput(imageData.data, info), 1);
 *   topClasses(logits, info.classNames, 3);   // [{ index, name, logit, probability }, ...]
 *
 * A runtime owns one module instance (its own memory), so several runtimes — in one page or in Web
 * Workers — run side by side. Threads: `loadRuntime(model, { wasm, threads: 4 })` runs the threaded build
 * (sofar_kernels_threads.wasm, next to sofar_kernels.wasm unless `wasmThreads` says where) on a shared
 * memory with threads − 1 Web Workers, where the page is cross-origin isolated (`crossOriginIsolated`:
 * served with COOP: same-origin and COEP: require-corp, as `sofar serve` does); elsewhere it runs on one
 * thread. The logits are the same bit for bit either way.
 */
import { RuntimeModelError, type RuntimeModel } from './model.js';
import { checkIntOption, CONVERT_HINT, type ModelBytes, createRuntimeWith, MAX_BATCH, modelBytes, type BinaryRuntime } from './runtime.js';
import { loadWasmKernels, MAX_WASM_THREADS, WEB_WORKER, type WorkerHandle } from './wasm.js';

export { RuntimeModelError, readRuntimeModel, type RuntimeModel } from './model.js';
export type { BinaryRuntime } from './runtime.js';
export type { KernelSet } from './kernels.js';
export type { Summary } from '../../src/cost.js';
export type { Normalisation } from '../../src/data/normalise.js';
export { DATASET_CLASSES, datasetClassNames, FASHION_MNIST_CLASSES, imageToInput, modelInfo, topClasses, topClassesOfRows, type ClassScore, type ModelInfo } from './classes.js';
export { CONVERT_HINT, RuntimeOptionError, RuntimeReleasedError } from './runtime.js';
export type { ModelBytes };

// The WebAssembly JS API as used here (the project compiles without the DOM's type library).
interface WasmModule {
  readonly [Symbol.toStringTag]: string;
}
declare const WebAssembly: {
  compile(bytes: ArrayBuffer | ArrayBufferView): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: object): Promise<{ exports: Record<string, unknown> }>;
};

/** Where the kernels' `.wasm` is: a URL (fetched), or its bytes. */
export type WasmSource = URL | string | ArrayBuffer | ArrayBufferView;

/** The kernels compiled once; every runtime made from them instantiates its own copy (own memory). */
export class CompiledKernels {
  /** @internal */
  constructor(readonly module: WasmModule) {}
}

/** Compiles the kernels' module: fetches a URL, or takes the bytes. */
export async function compileKernels(source: WasmSource | CompiledKernels): Promise<CompiledKernels> {
  if (source instanceof CompiledKernels) return source;
  let bytes: ArrayBuffer | ArrayBufferView;
  if (typeof source === 'string' || source instanceof URL) {
    const response = await fetch(source);
    if (!response.ok) throw new Error(`cannot fetch the WebAssembly kernels at ${String(source)}: HTTP ${response.status}`);
    bytes = await response.arrayBuffer();
  } else bytes = source;
  return new CompiledKernels(await WebAssembly.compile(bytes));
}

export interface LoadOptions {
  /** The kernels: `sofar_kernels.wasm`'s URL or bytes, or `compileKernels(...)`'s result (reused). */
  wasm: WasmSource | CompiledKernels;
  /** Samples per run the runtime is first sized for (default 1; larger runs re-plan). */
  batch?: number;
  /**
   * Threads (default 1, at most 16): more than one runs the threaded kernels with Web Workers where the
   * page is cross-origin isolated, and one thread elsewhere (`runtimeThreads(runtime)` says which).
   */
  threads?: number;
  /** The threaded kernels: default `sofar_kernels_threads.wasm` beside `wasm` when that is a URL. */
  wasmThreads?: WasmSource | CompiledKernels;
}

/** Whether threads are possible here: a cross-origin isolated page (or worker) with Web Workers. */
export function threadsAvailable(): boolean {
  const g = globalThis as { crossOriginIsolated?: boolean; Worker?: unknown; SharedArrayBuffer?: unknown };
  return g.crossOriginIsolated === true && typeof g.Worker === 'function' && typeof g.SharedArrayBuffer === 'function';
}

const threadsOf = new WeakMap<BinaryRuntime, number>();
/** The threads a runtime from loadRuntime runs on (1 where the page is not cross-origin isolated). */
export function runtimeThreads(runtime: BinaryRuntime): number {
  return threadsOf.get(runtime) ?? 1;
}

// Web Workers from one Blob URL of the worker script (wasm.ts: WEB_WORKER).
let workerUrl: string | undefined;
function spawnWebWorker(): WorkerHandle {
  const g = globalThis as unknown as {
    Worker: new (url: string) => { postMessage(m: unknown): void; addEventListener(type: string, l: (ev: { data?: unknown; message?: string }) => void): void; terminate(): void };
    Blob: new (parts: string[], options: { type: string }) => unknown;
    URL: { createObjectURL(blob: unknown): string };
  };
  workerUrl ??= g.URL.createObjectURL(new g.Blob([WEB_WORKER], { type: 'text/javascript' }));
  const worker = new g.Worker(workerUrl);
  return {
    postMessage: (m) => worker.postMessage(m),
    onMessage: (listener) => {
      worker.addEventListener('message', (ev) => listener(ev.data));
      worker.addEventListener('error', (ev) => listener({ error: String(ev.message ?? 'worker error') }));
    },
    terminate: () => worker.terminate(),
  };
}

/**
 * A `--binary-ops` ONNX model, ready to run on the WebAssembly kernels. A file that is not one is refused
 * with a `RuntimeModelError` that says why (and, for SoFAr's other exports, how to get the right one).
 */
export async function loadRuntime(model: ModelBytes, options: LoadOptions): Promise<BinaryRuntime> {
  const bytes = modelBytes(model);
  const requested = checkIntOption('threads', options.threads ?? 1, 1, MAX_WASM_THREADS);
  checkIntOption('batch', options.batch ?? 1, 1, MAX_BATCH);
  let threadedSource = options.wasmThreads;
  if (!threadedSource && (typeof options.wasm === 'string' || options.wasm instanceof URL)) {
    threadedSource = new URL('sofar_kernels_threads.wasm', new URL(String(options.wasm), (globalThis as { location?: { href: string } }).location?.href));
  }
  const threaded = requested > 1 && threadedSource !== undefined && threadsAvailable();
  const compiled = await compileKernels(threaded ? threadedSource! : options.wasm);
  const kernels = await loadWasmKernels(compiled.module, threaded ? { threads: requested, spawn: spawnWebWorker } : {});
  const threads = kernels.threads();
  try {
    const runtime = createRuntimeWith(bytes, { kernels, threads, batch: options.batch ?? 1 });
    threadsOf.set(runtime, threads);
    const release = runtime.release.bind(runtime);
    runtime.release = () => {
      release();
      void kernels.close();
    };
    return runtime;
  } catch (e) {
    void kernels.close();
    if (e instanceof RuntimeModelError) throw new RuntimeModelError(explain(e), e.otherExport);
    throw e;
  }
}

/** The runtime's reason, and what the file is when its metadata says (SoFAr's standard export, ...). */
function explain(e: RuntimeModelError): string {
  const other = e.otherExport;
  if (other) {
    return `this is SoFAr's '${other.variant}' export of ${other.spec ?? 'a model'}, for ONNX runtimes; SoFAr's runtime runs the --binary-ops form: ${CONVERT_HINT}. (${e.message})`;
  }
  return `not a model SoFAr's runtime can run: ${e.message}`;
}
