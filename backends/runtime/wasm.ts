/**
 * The kernels as WebAssembly (native/wasm/sofar_kernels.wasm: the same C sources built with clang for
 * wasm32 + SIMD128): a KernelSet over the module's exports. The arena lives in the module's memory,
 * above its static data, grown on demand. No Node APIs: this file also runs in browsers.
 *
 * Threads: the threaded build (native/wasm/sofar_kernels_threads.wasm, `build-wasm.mjs --threads`)
 * imports a shared memory; every worker (a Web Worker, or a Node worker_thread) instantiates the same
 * module on that memory with its own stack and runs `sofar_wasm_worker(index)`, sharing the kernels'
 * parallel loops with the calling thread (src/threadpool.c). Who computes which output never changes
 * it: the results are bit-identical for every thread count. The caller supplies `spawn` (how to start a
 * worker from source text; see NODE_WORKER / WEB_WORKER); a worker that fails to start only costs its
 * share.
 */
import type { Arena, KernelSet } from './kernels.js';
import { OFFSET_ARGS } from './execute.js';
import type { KernelName } from './plan.js';

// The few WebAssembly JS API types used here (the project's TypeScript libs have no DOM).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmModule {
  readonly [Symbol.toStringTag]: string;
}
declare const WebAssembly: {
  compile(bytes: ArrayBuffer | ArrayBufferView): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: object): Promise<{ exports: Record<string, unknown> }>;
  Module: { imports(module: WasmModule): { module: string; name: string; kind: string }[] };
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
};

type Exports = Record<string, unknown> & { memory: WasmMemory; __heap_base?: { value: unknown } };

/** The C function behind each kernel of the interface. */
const C_NAMES: Record<KernelName, string> = {
  packSigns: 'sofar_pack_signs',
  packSignsAffine: 'sofar_pack_signs_affine',
  packSignsAffine2: 'sofar_pack_signs_affine2',
  bconv2d: 'sofar_bconv2d',
  bconv2dPackKernel: 'sofar_bconv2d_pack_kernel',
  bconv2dPrepacked: 'sofar_bconv2d_prepacked',
  bconv2dPrepackedPost: 'sofar_bconv2d_prepacked_post',
  bconv2dEpilogue: 'sofar_bconv2d_epilogue',
  bconv2dEpiloguePack2: 'sofar_bconv2d_epilogue_pack2',
  bconv2dEpilogueRes2: 'sofar_bconv2d_epilogue_res2',
  conv2dF32PackWeights: 'sofar_conv2d_f32_pack_weights',
  conv2dF32: 'sofar_conv2d_f32',
  conv2dF32Maxpool: 'sofar_conv2d_f32_maxpool',
  conv2dF32MaxpoolPack: 'sofar_conv2d_f32_maxpool_pack',
  conv2dF32Avgpool2: 'sofar_conv2d_f32_avgpool2',
  denseF32: 'sofar_dense_f32',
  maxpoolF32: 'sofar_maxpool_f32',
  maxpoolReluF32: 'sofar_maxpool_relu_f32',
  avgpoolF32: 'sofar_avgpool_f32',
  globalAvgpoolF32: 'sofar_global_avgpool_f32',
  affineF32: 'sofar_affine_f32',
  reluF32: 'sofar_relu_f32',
  preluF32: 'sofar_prelu_f32',
  clipF32: 'sofar_clip_f32',
  signF32: 'sofar_sign_f32',
  copyF32: 'sofar_copy_f32',
  addF32: 'sofar_add_f32',
  maxF32: 'sofar_max_f32',
  scaleF32: 'sofar_scale_f32',
  sumF32: 'sofar_sum_f32',
  nchwToNhwc: 'sofar_nchw_to_nhwc',
  nhwcToNchw: 'sofar_nhwc_to_nchw',
  dwconv2dF32: 'sofar_dwconv2d_f32',
  sigmoidF32: 'sofar_sigmoid_f32',
  roundF32: 'sofar_round_f32',
  heavisideF32: 'sofar_heaviside_f32',
  divF32: 'sofar_div_f32',
  copyStridedF32: 'sofar_copy_strided_f32',
  padChannelsF32: 'sofar_pad_channels_f32',
  mulF32: 'sofar_mul_f32',
  mulChannelsF32: 'sofar_mul_channels_f32',
};

const PAGE = 65536;
const OPTIONAL = new Set<KernelName>(['packSignsAffine', 'packSignsAffine2', 'bconv2dPackKernel', 'bconv2dPrepacked', 'bconv2dPrepackedPost', 'bconv2dEpilogue', 'bconv2dEpiloguePack2', 'bconv2dEpilogueRes2', 'sumF32', 'conv2dF32Maxpool', 'conv2dF32MaxpoolPack', 'conv2dF32Avgpool2', 'maxpoolReluF32']);

/** The shared memory of the threaded module (scripts/build-wasm.mjs: THREADS_*_PAGES). */
export const THREADS_MEMORY = { initial: 128, maximum: 32768 };
/** Most threads of the threaded module (the caller and 15 workers; SOFAR_MAX_THREADS in src/internal.h). */
export const MAX_WASM_THREADS = 16;

/** A started worker, as `spawn` returns it. */
export interface WorkerHandle {
  postMessage(message: unknown): void;
  /** Calls `listener` with each message the worker posts (`'ready'`, `'done'`, or `{ error }`). */
  onMessage(listener: (message: unknown) => void): void;
  terminate(): void;
}
/** Starts a worker running NODE_WORKER or WEB_WORKER, as the host needs. */
export type SpawnWorker = () => WorkerHandle;

const WORKER_BODY = `const start = (d, post) => {
  let e;
  try {
    e = new WebAssembly.Instance(d.module, { env: { memory: d.memory } }).exports;
    e.__stack_pointer.value = d.stack;
  } catch (err) {
    post({ error: String(err && err.message || err) });
    return;
  }
  post('ready');
  e.sofar_wasm_worker(d.index);
  post('done');
};
`;
/** A worker's script for Node's worker_threads (`new Worker(source, { eval: true })`). */
export const NODE_WORKER = `${WORKER_BODY}const { parentPort } = require('node:worker_threads');
parentPort.once('message', (d) => start(d, (m) => parentPort.postMessage(m)));
`;
/** A worker's script for a browser's Web Worker (from a Blob URL). */
export const WEB_WORKER = `${WORKER_BODY}self.onmessage = (ev) => { self.onmessage = null; start(ev.data, (m) => self.postMessage(m)); };
`;

export interface WasmKernelOptions {
  /** Threads (default 1); more than one needs the threaded module, shared memory and `spawn`. */
  threads?: number;
  spawn?: SpawnWorker;
}

/**
 * A kernel set from the WebAssembly module, with `close()` (stops its workers; the set stays usable on one
 * thread) and `chunksRun()` (the threaded module: chunks of parallel loops each thread has run, caller
 * first; [] for the single-threaded module).
 */
export type WasmKernelSet = KernelSet & { close(): Promise<void>; chunksRun(): number[] };

/** Whether the module is the threaded build (it imports a shared memory). */
export function isThreadedModule(module: WasmModule): boolean {
  return WebAssembly.Module.imports(module).some((i) => i.kind === 'memory');
}

/** Instantiates the module from its bytes (Node: read the file; a browser: fetch it). */
export async function loadWasmKernels(bytes: ArrayBuffer | ArrayBufferView | WasmModule, options: WasmKernelOptions = {}): Promise<WasmKernelSet> {
  const module = ArrayBuffer.isView(bytes) || bytes instanceof ArrayBuffer ? await WebAssembly.compile(bytes) : bytes;
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer, not ${threads}`);
  if (!isThreadedModule(module)) {
    if (threads > 1) throw new Error('this WebAssembly module is the single-threaded build; threads need sofar_kernels_threads.wasm');
    return wasmKernelSet((await WebAssembly.instantiate(module, {})).exports as Exports);
  }
  const memory = new WebAssembly.Memory({ ...THREADS_MEMORY, shared: true });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const exports = { ...instance.exports, memory } as Exports;
  const pool = new WorkerPool(module, memory, exports, options.spawn);
  const set = wasmKernelSet(exports, pool);
  set.setThreads(threads);
  await pool.started();
  return set;
}

/** The workers of one threaded instance: worker i (1..15) runs sofar_wasm_worker(i) on its own stack. */
class WorkerPool {
  private readonly workers: (WorkerHandle | undefined)[] = [];
  private readonly ready = new Set<number>();
  private readonly pending = new Map<number, Promise<void>>();
  constructor(
    private readonly module: WasmModule,
    private readonly memory: WasmMemory,
    private readonly exports: Exports,
    private readonly spawn: SpawnWorker | undefined,
  ) {}

  /** Starts workers 1..n-1 that are not running yet (they join the loops once ready). */
  ensure(n: number): void {
    if (!this.spawn) return;
    const stackOf = this.exports.sofar_wasm_worker_stack as (i: number) => number;
    for (let i = 1; i < n; i++) {
      if (this.workers[i]) continue;
      let worker: WorkerHandle;
      try {
        worker = this.spawn();
      } catch {
        return; // no workers here: the caller runs every chunk
      }
      this.workers[i] = worker;
      this.pending.set(
        i,
        new Promise<void>((resolve) => {
          worker.onMessage((m) => {
            if (m === 'ready') this.ready.add(i);
            else this.ready.delete(i);
            resolve();
          });
        }),
      );
      worker.postMessage({ module: this.module, memory: this.memory, stack: stackOf(i), index: i });
    }
  }

  /** Resolves once every worker started so far is ready or has failed. */
  async started(): Promise<void> {
    await Promise.all(this.pending.values());
  }

  /** 1 + the workers below `requested` that are running. */
  running(requested: number): number {
    let n = 1;
    for (let i = 1; i < requested; i++) if (this.ready.has(i)) n++;
    return n;
  }

  async close(): Promise<void> {
    const quit = this.exports.sofar_wasm_worker_quit as (i: number) => void;
    const stopped: Promise<void>[] = [];
    this.workers.forEach((worker, i) => {
      if (!worker) return;
      if (this.ready.has(i)) {
        stopped.push(new Promise<void>((resolve) => worker.onMessage(() => resolve())));
        quit(i);
      }
    });
    await Promise.all(stopped);
    for (const worker of this.workers) worker?.terminate();
    this.workers.length = 0;
    this.ready.clear();
    this.pending.clear();
  }
}

export function wasmKernelSet(exports: Exports, pool?: WorkerPool): WasmKernelSet {
  const memory = exports.memory;
  const fn = (name: string) => {
    const f = exports[name];
    if (typeof f !== 'function') throw new Error(`the WebAssembly kernels lack ${name}`);
    return f as (...args: number[]) => number;
  };
  // The first free byte above the module's data and stack: `sofar_wasm_heap_base()` (scripts/build-wasm.mjs),
  // else the linker's `__heap_base` global, else the end of the initial memory (safe, a little wasteful).
  const heapBase =
    typeof exports.sofar_wasm_heap_base === 'function' ? Number((exports.sofar_wasm_heap_base as () => number)())
    : exports.__heap_base ? Number(exports.__heap_base.value)
    : memory.buffer.byteLength;
  // One arena at a time per module: a runtime owns its module's memory above the static data.
  let inUse = false;
  const set: Record<string, unknown> = {
    description: pool ? 'wasm (simd128, threads)' : 'wasm (simd128)',
    arena(bytes: number): Arena {
      if (inUse) throw new Error('this WebAssembly kernel set already holds an arena; load another instance for a second runtime');
      const base = Math.ceil(heapBase / 64) * 64;
      const needed = base + bytes;
      if (needed > memory.buffer.byteLength) memory.grow(Math.ceil((needed - memory.buffer.byteLength) / PAGE));
      new Uint8Array(memory.buffer, base, bytes).fill(0);
      inUse = true;
      return {
        get buffer() {
          return memory.buffer;
        },
        base,
        bytes,
        release() {
          inUse = false;
        },
      };
    },
    setThreads(threads: number) {
      if (!pool) return;
      const n = Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor(threads)));
      pool.ensure(n);
      fn('sofar_set_threads')(n);
    },
    threads: () => (pool ? pool.running(fn('sofar_threads')()) : 1),
    chunksRun: () => {
      const f = exports.sofar_wasm_chunks_run;
      return typeof f === 'function' ? Array.from({ length: MAX_WASM_THREADS }, (_, i) => (f as (i: number) => number)(i) >>> 0) : [];
    },
    close: async () => {
      await pool?.close();
      fn('sofar_set_threads')(1);
    },
    packedWords: fn('sofar_packed_words'),
    bconv2dScratchBytes: fn('sofar_bconv2d_scratch_bytes'),
    bconv2dPackedKernelBytes: fn('sofar_bconv2d_packed_kernel_bytes'),
    conv2dF32PackedWeightsBytes: fn('sofar_conv2d_f32_packed_weights_bytes'),
    conv2dF32ScratchBytes: fn('sofar_conv2d_f32_scratch_bytes'),
  };
  if (typeof exports.sofar_conv2d_f32_maxpool_scratch_bytes === 'function') set.conv2dF32MaxpoolScratchBytes = fn('sofar_conv2d_f32_maxpool_scratch_bytes');
  if (typeof exports.sofar_conv2d_f32_avgpool2_scratch_bytes === 'function') set.conv2dF32Avgpool2ScratchBytes = fn('sofar_conv2d_f32_avgpool2_scratch_bytes');
  for (const [kernel, cName] of Object.entries(C_NAMES) as [KernelName, string][]) {
    // The fused and prepacked forms are optional: the planner does without them.
    if (typeof exports[cName] !== 'function' && OPTIONAL.has(kernel)) continue;
    const c = fn(cName);
    const offsets = new Set(OFFSET_ARGS[kernel]);
    // The buffer argument is the module's own memory; offsets are addresses in it, −1 (none) is NULL.
    set[kernel] = (_buf: ArrayBuffer, ...args: number[]) => c(...args.map((a, i) => (offsets.has(i) && a < 0 ? 0 : a)));
  }
  return set as unknown as WasmKernelSet;
}
