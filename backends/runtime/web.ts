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
import type { Summary } from '../../src/cost.js';
import { decodeInputNormalisation, NORMALISATION, NORMALISATION_METADATA_KEY, normaliseImages, type Normalisation } from '../../src/data/normalise.js';
import { RuntimeModelError, type RuntimeModel } from './model.js';
import { createRuntimeWith, type BinaryRuntime } from './runtime.js';
import { loadWasmKernels, MAX_WASM_THREADS, WEB_WORKER, type WorkerHandle } from './wasm.js';

export { RuntimeModelError, readRuntimeModel, type RuntimeModel } from './model.js';
export type { BinaryRuntime } from './runtime.js';
export type { KernelSet } from './kernels.js';
export type { Summary } from '../../src/cost.js';
export type { Normalisation } from '../../src/data/normalise.js';

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
export async function loadRuntime(model: ArrayBuffer | ArrayBufferView, options: LoadOptions): Promise<BinaryRuntime> {
  const bytes = asBytes(model);
  const requested = options.threads ?? 1;
  if (!Number.isInteger(requested) || requested < 1 || requested > MAX_WASM_THREADS) throw new RangeError(`threads must be 1 to ${MAX_WASM_THREADS}, not ${requested}`);
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
    if (e instanceof RuntimeModelError) throw new RuntimeModelError(explain(e), e.otherExport);
    throw e;
  }
}

function asBytes(data: ArrayBuffer | ArrayBufferView): Uint8Array {
  return data instanceof Uint8Array ? data : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
}

/** The runtime's reason, and what the file is when its metadata says (SoFAr's standard export, ...). */
function explain(e: RuntimeModelError): string {
  const other = e.otherExport;
  if (other) {
    return `this is SoFAr's '${other.variant}' export of ${other.spec ?? 'a model'}, for ONNX runtimes; SoFAr's runtime runs the --binary-ops export (sofar build SPEC --binary-ops). ${e.message}`;
  }
  return `not a model SoFAr's runtime can run: ${e.message}`;
}

/** Fashion-MNIST's classes, in label order. */
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export interface ModelInfo {
  /** `sofar.spec`, else the graph's name. */
  name: string;
  /** `sofar.variant` (`binary-ops`), `sofar.weights` (where the weights came from), `sofar.version`. */
  variant: string | null;
  weights: string | null;
  version: string | null;
  /** Per-sample input `[C, H, W]` and the number of classes. */
  input: number[];
  classes: number;
  classNames: string[];
  /** `sofar.summary`: params, model size, MACs, OPs (Larq's conventions); null when absent. */
  summary: Summary | null;
  /**
   * What pixels go through before the model: the data set's mean and std, as `sofar train` normalises.
   * Read from `sofar.normalisation` when the model records it; otherwise guessed from the input:
   * 1×28×28 is Fashion-MNIST, 3×32×32 CIFAR-10, anything else is not normalised.
   */
  normalisation: Normalisation;
  /** The data set the normalisation comes from (`fashion-mnist`, `cifar10`, a path, ...), or null. */
  dataset: string | null;
  /** True when the normalisation is the model's own record, false when guessed from the input shape. */
  normalisationRecorded: boolean;
}

/** What a model is, from its metadata and shapes. */
export function modelInfo(model: RuntimeModel): ModelInfo {
  const m = model.metadata;
  const input = model.input.shape;
  const classes = model.output.shape.reduce((a, b) => a * b, 1);
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  const recorded = decodeInputNormalisation(m[NORMALISATION_METADATA_KEY]);
  const fits = recorded !== null && recorded.mean.length === input[0];
  const guess = same(input, [1, 28, 28]) ? 'fashion-mnist' : same(input, [3, 32, 32]) ? 'cifar10' : null;
  const dataset = fits ? recorded.dataset : guess;
  const norm: Normalisation = fits ? recorded : guess ? NORMALISATION[guess] : { mean: input.map(() => 0), std: input.map(() => 1) };
  let summary: Summary | null = null;
  try {
    summary = m['sofar.summary'] ? (JSON.parse(m['sofar.summary']) as Summary) : null;
  } catch {
    summary = null;
  }
  return {
    name: m['sofar.spec'] || model.name,
    variant: m['sofar.variant'] ?? null,
    weights: m['sofar.weights'] ?? null,
    version: m['sofar.version'] ?? null,
    input,
    classes,
    classNames: dataset === 'fashion-mnist' && classes === 10 ? FASHION_MNIST_CLASSES : Array.from({ length: classes }, (_, i) => `class ${i}`),
    summary,
    normalisation: { mean: [...norm.mean], std: [...norm.std] },
    dataset,
    normalisationRecorded: fits,
  };
}

/**
 * RGBA pixels of the model's input size (a canvas's `ImageData.data`) → the model's input, NCHW float32:
 * grey models take the luma (ITU-R BT.601, as `sofar run --input` reads images) rounded to a byte, then
 * the same normalisation as training, `(byte / 255 − mean) / std`.
 */
export function imageToInput(rgba: ArrayLike<number>, info: Pick<ModelInfo, 'input' | 'normalisation'>): Float32Array {
  const [channels, height, width] = info.input;
  const pixels = height * width;
  if (info.input.length !== 3 || (channels !== 1 && channels !== 3)) throw new RangeError(`images feed models of 1 or 3 channels, this one takes [${info.input.join(', ')}]`);
  if (rgba.length !== 4 * pixels) throw new RangeError(`the model takes ${width}×${height} pixels (${4 * pixels} RGBA bytes), got ${rgba.length} bytes`);
  const bytes = new Uint8Array(channels * pixels);
  for (let p = 0; p < pixels; p++) {
    const [r, g, b] = [rgba[4 * p], rgba[4 * p + 1], rgba[4 * p + 2]];
    if (channels === 1) bytes[p] = r === g && g === b ? r : Math.round(0.299 * r + 0.587 * g + 0.114 * b);
    else [bytes[p], bytes[pixels + p], bytes[2 * pixels + p]] = [r, g, b];
  }
  return normaliseImages(bytes, 1, info.input, info.normalisation);
}

export interface ClassScore {
  index: number;
  name: string;
  logit: number;
  /** Softmax over all classes. */
  probability: number;
}

/** The `k` highest-scoring classes of one sample's logits, best first. */
export function topClasses(logits: ArrayLike<number>, names: readonly string[], k = 5): ClassScore[] {
  const values = Array.from(logits);
  const max = Math.max(...values);
  const exps = values.map((v) => Math.exp(v - max));
  const total = exps.reduce((a, b) => a + b, 0);
  return values
    .map((logit, index) => ({ index, name: names[index] ?? `class ${index}`, logit, probability: exps[index] / total }))
    .sort((a, b) => b.logit - a.logit)
    .slice(0, k);
}
