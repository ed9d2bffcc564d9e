/**
 * A kernel set: the C kernels of native/include/sofar_kernels.h behind one interface, either the Node
 * addon (native/build/Release/sofar_kernels.node) or the WebAssembly module. Every call takes the arena
 * (one buffer holding weights, activations and scratch) and byte offsets into it, −1 for "none".
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { loadWasmKernels, NODE_WORKER, type WasmKernelOptions, type WasmKernelSet, type WorkerHandle } from './wasm.js';

type Off = number;

export interface KernelSet {
  /** `native (avx512)`, `wasm (simd128)`, ... */
  readonly description: string;
  /** A zeroed arena of at least `bytes` bytes; `base` is added to every offset passed to the kernels. */
  arena(bytes: number): Arena;
  setThreads(threads: number): void;
  threads(): number;
  /** Stops what the set started (the WebAssembly kernels' worker threads); absent where there is nothing to stop. */
  close?(): Promise<void>;
  /** Chunks of parallel loops each thread index has run (0: the caller), where the set counts them: who did the work. */
  chunksRun?(): number[];
  /**
   * Optional: the register-only loop of the instruction set in use (sofar_register_peak; kind 0: the binary GEMM's
   * xor, popcount and add, 1: the float GEMM's multiply-add), `tasks` tasks of `iterations` rounds on the set's
   * threads; returns the MACs done (0: no such loop in this build). The caller times it: a roofline's ceiling.
   */
  registerPeak?(kind: 0 | 1, iterations: number, tasks: number): number;
  packedWords(channels: number, groups: number): number;
  bconv2dScratchBytes(...shape: number[]): number;
  conv2dF32PackedWeightsBytes(cout: number, cin: number, kh: number, kw: number, groups: number): number;
  conv2dF32ScratchBytes(...shape: number[]): number;
  packSigns(buf: ArrayBuffer, x: Off, y: Off, pixels: number, channels: number, xStride: number, groups: number): void;
  /** Optional: the signs of x·scale[c] + shift[c] (an inference batch norm), packed without storing it. */
  packSignsAffine?(buf: ArrayBuffer, x: Off, scale: Off, shift: Off, y: Off, pixels: number, channels: number, xStride: number, groups: number): void;
  /** Optional: two batch norms of one map packed in one pass (sofar_pack_signs_affine2): y with scale and shift, y2 with scale2 and shift2. */
  packSignsAffine2?(buf: ArrayBuffer, x: Off, scale: Off, shift: Off, y: Off, scale2: Off, shift2: Off, y2: Off, pixels: number, channels: number, xStride: number, groups: number): void;
  bconv2d(buf: ArrayBuffer, x: Off, k: Off, mul: Off, bias: Off, res: Off, y: Off, yPacked: Off, scratch: Off, ...ints: number[]): void;
  /** Optional: a load-time re-layout of binary kernels, and the conv that reads it (same arguments as bconv2d). */
  bconv2dPackedKernelBytes?(cout: number, cin: number, kh: number, kw: number, groups: number): number;
  bconv2dPackKernel?(buf: ArrayBuffer, kernel: Off, packed: Off, cout: number, cin: number, kh: number, kw: number, groups: number): void;
  bconv2dPrepacked?(buf: ArrayBuffer, x: Off, k: Off, mul: Off, bias: Off, res: Off, y: Off, yPacked: Off, scratch: Off, ...ints: number[]): void;
  /** Optional: bconv2dPrepacked with PReLU (alpha) and a shift (post) after the residual, in its output transform. */
  bconv2dPrepackedPost?(buf: ArrayBuffer, x: Off, k: Off, mul: Off, bias: Off, res: Off, alpha: Off, post: Off, y: Off, yPacked: Off, scratch: Off, ...ints: number[]): void;
  /**
   * Optional: the prepacked binary conv with a chain of per-channel layers in its output transform
   * (sofar_bconv2d_epilogue): ints are the 16 shape ints, padValue, yStride, residualStride, yPackedStride, ops, yPackGroups.
   */
  bconv2dEpilogue?(buf: ArrayBuffer, x: Off, k: Off, params: Off, res: Off, y: Off, yPacked: Off, scratch: Off, ...ints: number[]): void;
  /**
   * Optional: bconv2dEpilogue that also packs, after each block of pixels, the signs of pack2X's rows
   * (·pack2Scale + pack2Shift) into pack2Y (sofar_bconv2d_epilogue_pack2): a second threshold of the output, or
   * the signs of a whole concat. ints: bconv2dEpilogue's, then pack2Channels, pack2XStride.
   */
  bconv2dEpiloguePack2?(buf: ArrayBuffer, x: Off, k: Off, params: Off, res: Off, y: Off, yPacked: Off, pack2X: Off, pack2Scale: Off, pack2Shift: Off, pack2Y: Off, scratch: Off, ...ints: number[]): void;
  /**
   * Optional: bconv2dEpilogue with a second residual map res2, added right after the first residual's place
   * (sofar_bconv2d_epilogue_res2: a fractal join's sum so far). ints: bconv2dEpilogue's, then residual2Stride (0: yStride's).
   */
  bconv2dEpilogueRes2?(buf: ArrayBuffer, x: Off, k: Off, params: Off, res: Off, y: Off, yPacked: Off, res2: Off, scratch: Off, ...ints: number[]): void;
  /**
   * Optional: a join in one pass, y = (((a + b) + c) + d)·s (c, d: −1 to leave out), and its signs packed or not
   * (sofar_sum_f32); yStride: y's pixel stride (0: channels), also a's where a is y.
   */
  sumF32?(buf: ArrayBuffer, a: Off, b: Off, c: Off, d: Off, s: number, y: Off, yPacked: Off, pixels: number, channels: number, yStride: number): void;
  conv2dF32PackWeights(buf: ArrayBuffer, w: Off, packed: Off, cout: number, cin: number, kh: number, kw: number, groups: number): void;
  conv2dF32(buf: ArrayBuffer, x: Off, pw: Off, bias: Off, res: Off, y: Off, scratch: Off, ...ints: number[]): void;
  /**
   * Optional: a few-input-channel conv (a stem), a PReLU (alpha: its slopes; -1: none) and the max pool after it
   * in one pass (sofar_conv2d_f32_maxpool): ints are the conv's 16 shape ints, relu, xNchw (x is the model's NCHW
   * input), then the pool's kh kw sh sw pt pl pb pr (1 1 1 1 0 0 0 0: no pool). Throws for other convs. The
   * scratch takes the 16 and the pool's 8.
   */
  conv2dF32MaxpoolScratchBytes?(...shape: number[]): number;
  conv2dF32Maxpool?(buf: ArrayBuffer, x: Off, pw: Off, bias: Off, alpha: Off, y: Off, scratch: Off, ...ints: number[]): void;
  /**
   * Optional: conv2dF32Maxpool that also packs the signs of y (of y·packScale + packShift where given; -1: none)
   * into yPacked, one group, each row by the thread that wrote it (sofar_conv2d_f32_maxpool_pack), bit-identical to
   * conv2dF32Maxpool then packSigns (packSignsAffine). The same ints and scratch.
   */
  conv2dF32MaxpoolPack?(buf: ArrayBuffer, x: Off, pw: Off, bias: Off, alpha: Off, y: Off, yPacked: Off, packScale: Off, packShift: Off, scratch: Off, ...ints: number[]): void;
  /**
   * Optional: a 1×1 conv (groups 1, stride 1, no padding) over the 2×2 /2 average pool of x, bit-identical to
   * avgpoolF32 then conv2dF32 without storing the pool (sofar_conv2d_f32_avgpool2): ints n h w cin cout (h, w:
   * x's size), yStride, relu. The scratch takes n h w cin cout.
   */
  conv2dF32Avgpool2ScratchBytes?(n: number, h: number, w: number, cin: number, cout: number): number;
  conv2dF32Avgpool2?(buf: ArrayBuffer, x: Off, pw: Off, bias: Off, res: Off, y: Off, scratch: Off, ...ints: number[]): void;
  /** Depthwise conv: weights [kh][kw][c]; ints n h w c kh kw sh sw pt pl pb pr dh dw, yStride, relu. */
  dwconv2dF32(buf: ArrayBuffer, x: Off, w: Off, bias: Off, res: Off, y: Off, ...ints: number[]): void;
  denseF32(buf: ArrayBuffer, x: Off, w: Off, bias: Off, y: Off, n: number, inputs: number, outputs: number): void;
  maxpoolF32(buf: ArrayBuffer, x: Off, y: Off, ...ints: number[]): void;
  /** maxpoolF32 of reluF32(x), bit for bit, without storing the relu. */
  maxpoolReluF32?(buf: ArrayBuffer, x: Off, y: Off, ...ints: number[]): void;
  avgpoolF32(buf: ArrayBuffer, x: Off, y: Off, ...ints: number[]): void;
  globalAvgpoolF32(buf: ArrayBuffer, x: Off, y: Off, n: number, pixels: number, c: number): void;
  affineF32(buf: ArrayBuffer, x: Off, scale: Off, shift: Off, y: Off, pixels: number, c: number, yStride: number): void;
  reluF32(buf: ArrayBuffer, x: Off, y: Off, pixels: number, c: number, yStride: number): void;
  preluF32(buf: ArrayBuffer, x: Off, alpha: Off, y: Off, pixels: number, c: number, yStride: number): void;
  clipF32(buf: ArrayBuffer, x: Off, y: Off, pixels: number, c: number, yStride: number, lo: number, hi: number): void;
  signF32(buf: ArrayBuffer, x: Off, y: Off, pixels: number, c: number, yStride: number): void;
  copyF32(buf: ArrayBuffer, x: Off, y: Off, pixels: number, c: number, yStride: number): void;
  sigmoidF32(buf: ArrayBuffer, x: Off, y: Off, pixels: number, c: number, yStride: number): void;
  roundF32(buf: ArrayBuffer, x: Off, y: Off, pixels: number, c: number, yStride: number): void;
  /** y = x > 0 ? 1 : 0 (ste_heaviside). */
  heavisideF32(buf: ArrayBuffer, x: Off, y: Off, pixels: number, c: number, yStride: number): void;
  divF32(buf: ArrayBuffer, x: Off, divisor: Off, y: Off, pixels: number, c: number, yStride: number): void;
  copyStridedF32(buf: ArrayBuffer, x: Off, y: Off, pixels: number, c: number, xStride: number, yStride: number): void;
  padChannelsF32(buf: ArrayBuffer, x: Off, y: Off, pixels: number, c: number, before: number, after: number): void;
  mulF32(buf: ArrayBuffer, a: Off, b: Off, y: Off, count: number): void;
  /** y[i][p][c] = x[i][p][c] · s[i][c]: a per-sample channel vector broadcast over the pixels. */
  mulChannelsF32(buf: ArrayBuffer, x: Off, s: Off, y: Off, n: number, pixels: number, c: number): void;
  addF32(buf: ArrayBuffer, a: Off, b: Off, y: Off, count: number): void;
  maxF32(buf: ArrayBuffer, a: Off, b: Off, y: Off, count: number): void;
  scaleF32(buf: ArrayBuffer, x: Off, s: number, y: Off, count: number): void;
  nchwToNhwc(buf: ArrayBuffer, x: Off, y: Off, n: number, c: number, h: number, w: number): void;
  nhwcToNchw(buf: ArrayBuffer, x: Off, y: Off, n: number, c: number, h: number, w: number): void;
}

export interface Arena {
  /** The buffer kernels read and write (the addon's own, or the WebAssembly memory's). */
  readonly buffer: ArrayBuffer;
  /** Offset of the arena's first byte in `buffer`. */
  readonly base: number;
  readonly bytes: number;
  /** Gives the memory back (WebAssembly); a no-op for the addon. */
  release(): void;
}

/** A kernel set, or why none could be loaded. */
export type KernelsOrReason = { kernels: KernelSet } | { unavailable: string };

const ISA_NAMES = ['scalar', 'avx2', 'avx512', 'wasm-simd128', 'neon'];

/** The arguments the addon's functions take (SOFAR_ADDON_ABI in native/src/addon.c; none before 2). */
export const ADDON_ABI = 4;

/** The Node addon's functions (native/src/addon.c), as the loader finds them. */
interface Addon extends Omit<KernelSet, 'description' | 'arena' | 'chunksRun'> {
  /** SOFAR_ADDON_ABI: which arguments its functions take. */
  abi?: number;
  detectedIsa(): number;
  isaInUse(): number;
  setIsa(isa: number): number;
  /** A zeroed arena in huge pages (Linux), or undefined (too many live ones): then a plain ArrayBuffer. */
  arena?(bytes: number): ArrayBuffer | undefined;
  /** Detaches and unmaps an arena() buffer now (its finalizer does it otherwise, once V8 collects it). */
  releaseArena?(buffer: ArrayBuffer): void;
  /** Chunks thread `index` has run (wraps at 2^32); absent from older addons. */
  chunksRun?(index: number): number;
}

/** Thread indices the native pool counts chunks for (SOFAR_MAX_THREADS). */
const NATIVE_MAX_THREADS = 64;

export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

let native: KernelsOrReason | undefined;

/** The native addon (built from source by scripts/build-native.mjs, or prebuilt in the package), or the reason it is missing. */
export function loadNativeKernels(): KernelsOrReason {
  if (native) return native;
  if (process.env.SOFAR_NATIVE === 'off') {
    native = { unavailable: 'the native kernels are turned off (SOFAR_NATIVE=off)' };
    return native;
  }
  const root = packageRoot();
  // node-gyp-build's order: an addon built from source here first, else the package's prebuilt one.
  const candidates = [join(root, 'native', 'build', 'Release', 'sofar_kernels.node'), join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'sofar_kernels.napi.node')];
  const found = candidates.filter((path) => existsSync(path));
  const failures: string[] = [];
  for (const path of found) {
    try {
      const addon = openAddon(path);
      if ('stale' in addon) {
        failures.push(addon.stale);
        continue;
      }
      native = { kernels: nativeKernelSet(addon) };
      return native;
    } catch (e) {
      failures.push(`${path} does not load: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const note = join(root, 'native', 'build', 'UNAVAILABLE.txt');
  const why = failures.length ? failures.join('; ') : existsSync(note) ? readFileSync(note, 'utf8').trim() : `no prebuilt kernels for ${process.platform}-${process.arch} in this package, and none built from source`;
  native = { unavailable: `the native kernels are unavailable: ${why} (build them from source: node ${join(root, 'scripts', 'build-native.mjs')}; needs a C compiler and node-gyp)` };
  return native;
}

/** Why an addon cannot serve this runtime (its functions take other arguments), or null. */
export function staleAddon(addon: { abi?: number }, path: string): string | null {
  if (addon.abi === ADDON_ABI) return null;
  return `${path} was built from other sources than this runtime (kernel interface ${addon.abi ?? 1}, this runtime's ${ADDON_ABI})`;
}

/**
 * The kernels of one addon file, beside the runtime's own (bench/builds: two builds of the C code in one
 * process). Throws where the file does not load or was built for another kernel interface.
 */
export function loadAddonKernels(path: string): KernelSet {
  const addon = openAddon(path);
  if ('stale' in addon) throw new Error(addon.stale);
  return addonKernelSet(addon);
}

/** The addon at `path`, or why this runtime cannot call it (staleAddon); throws where it does not load. */
function openAddon(path: string): Addon | { stale: string } {
  const addon = createRequire(import.meta.url)(path) as Addon;
  const stale = staleAddon(addon, path);
  return stale ? { stale } : addon;
}

function nativeKernelSet(addon: Addon): KernelSet {
  nativeAddon = addon;
  return addonKernelSet(addon);
}

function addonKernelSet(addon: Addon): KernelSet {
  const set = {
    ...addon,
    arena: (bytes: number): Arena => {
      // In 2 MiB pages where Linux grants them: a model's maps and weights span thousands of 4 KiB pages
      // (4-5 % faster ReActNet-A and Bi-Real, measured). Elsewhere, and from older addons: an ArrayBuffer.
      const own = addon.arena?.(bytes);
      if (own) return { buffer: own, base: 0, bytes, release: () => addon.releaseArena?.(own) };
      return { buffer: new ArrayBuffer(bytes), base: 0, bytes, release() {} };
    },
    chunksRun: (): number[] => (addon.chunksRun ? Array.from({ length: NATIVE_MAX_THREADS }, (_, i) => addon.chunksRun!(i) >>> 0) : []),
  };
  Object.defineProperty(set, 'description', { get: () => `native (${ISA_NAMES[addon.isaInUse()] ?? 'unknown'})` });
  return set as unknown as KernelSet;
}

let nativeAddon: Addon | undefined;

/**
 * The WebAssembly build of the kernels that ships with the package (native/wasm), in a new instance:
 * sofar_kernels.wasm for one thread, sofar_kernels_threads.wasm (with worker_threads) for more.
 */
export async function loadBundledWasmKernels(threads = 1): Promise<WasmKernelSet> {
  const file = threads > 1 ? 'sofar_kernels_threads.wasm' : 'sofar_kernels.wasm';
  return loadWasmKernelsInNode(readFileSync(join(packageRoot(), 'native', 'wasm', file)), { threads });
}

/** Starts a worker_thread for the threaded WebAssembly kernels (unref'd between messages: it never keeps Node alive). */
export function spawnNodeWorker(): WorkerHandle {
  // NODE_WORKER is CommonJS: --input-type=module (inherited from `node -e`) would break it.
  const worker = new Worker(NODE_WORKER, { eval: true, execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type')) });
  worker.unref();
  return {
    postMessage: (m) => worker.postMessage(m),
    onMessage: (listener) => {
      // Awaited messages ('ready', 'done') keep Node alive until they come; a worker parked between runs
      // does not (a 'message' listener refs the worker: unref it once its message is in).
      worker.on('message', (m) => {
        worker.unref();
        listener(m);
      });
      worker.on('error', (e) => listener({ error: String(e) }));
      worker.ref();
    },
    terminate: () => void worker.terminate(),
  };
}

/** loadWasmKernels with worker_threads as the workers (Node's `loadWasmKernels`). */
export async function loadWasmKernelsInNode(bytes: Parameters<typeof loadWasmKernels>[0], options: WasmKernelOptions = {}): Promise<WasmKernelSet> {
  return loadWasmKernels(bytes, { spawn: spawnNodeWorker, ...options });
}

/** Forces an instruction set on the addon (tests); returns the one in use. */
export function setNativeIsa(isa: 'scalar' | 'avx2' | 'avx512'): string {
  const loaded = loadNativeKernels();
  if (!('kernels' in loaded)) throw new Error(loaded.unavailable);
  return ISA_NAMES[nativeAddon!.setIsa(ISA_NAMES.indexOf(isa))];
}

export function detectedNativeIsa(): string | null {
  const loaded = loadNativeKernels();
  if (!('kernels' in loaded)) return null;
  return ISA_NAMES[nativeAddon!.detectedIsa()];
}
