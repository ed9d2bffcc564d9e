/**
 * The kernels as WebAssembly (native/wasm/sofar_kernels.wasm: the same C sources built with clang for
 * wasm32 + SIMD128): a KernelSet over the module's exports. The arena lives in the module's memory,
 * above its static data, grown on demand. One thread. No Node APIs: this file also runs in browsers.
 */
import type { Arena, KernelSet } from './kernels.js';
import { OFFSET_ARGS } from './execute.js';
import type { KernelName } from './plan.js';

// The few WebAssembly JS API types used here (the project's TypeScript libs have no DOM).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: { instantiate(bytes: ArrayBuffer | Uint8Array, imports: object): Promise<{ instance: { exports: Record<string, unknown> } }> };

type Exports = Record<string, unknown> & { memory: WasmMemory; __heap_base?: { value: unknown } };

/** The C function behind each kernel of the interface. */
const C_NAMES: Record<KernelName, string> = {
  packSigns: 'sofar_pack_signs',
  packSignsAffine: 'sofar_pack_signs_affine',
  bconv2d: 'sofar_bconv2d',
  bconv2dPackKernel: 'sofar_bconv2d_pack_kernel',
  bconv2dPrepacked: 'sofar_bconv2d_prepacked',
  conv2dF32PackWeights: 'sofar_conv2d_f32_pack_weights',
  conv2dF32: 'sofar_conv2d_f32',
  denseF32: 'sofar_dense_f32',
  maxpoolF32: 'sofar_maxpool_f32',
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
  nchwToNhwc: 'sofar_nchw_to_nhwc',
  nhwcToNchw: 'sofar_nhwc_to_nchw',
};

const PAGE = 65536;
const OPTIONAL = new Set<KernelName>(['packSignsAffine', 'bconv2dPackKernel', 'bconv2dPrepacked']);

/** Instantiates the module from its bytes (Node: read the file; a browser: fetch it). */
export async function loadWasmKernels(bytes: ArrayBuffer | Uint8Array): Promise<KernelSet> {
  const { instance } = await WebAssembly.instantiate(bytes, {});
  return wasmKernelSet(instance.exports as Exports);
}

export function wasmKernelSet(exports: Exports): KernelSet {
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
    description: 'wasm (simd128)',
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
    setThreads() {},
    threads: () => 1,
    packedWords: fn('sofar_packed_words'),
    bconv2dScratchBytes: fn('sofar_bconv2d_scratch_bytes'),
    bconv2dPackedKernelBytes: fn('sofar_bconv2d_packed_kernel_bytes'),
    conv2dF32PackedWeightsBytes: fn('sofar_conv2d_f32_packed_weights_bytes'),
    conv2dF32ScratchBytes: fn('sofar_conv2d_f32_scratch_bytes'),
  };
  for (const [kernel, cName] of Object.entries(C_NAMES) as [KernelName, string][]) {
    // The fused and prepacked forms are optional: the planner does without them.
    if (typeof exports[cName] !== 'function' && OPTIONAL.has(kernel)) continue;
    const c = fn(cName);
    const offsets = new Set(OFFSET_ARGS[kernel]);
    // The buffer argument is the module's own memory; offsets are addresses in it, −1 (none) is NULL.
    set[kernel] = (_buf: ArrayBuffer, ...args: number[]) => c(...args.map((a, i) => (offsets.has(i) && a < 0 ? 0 : a)));
  }
  return set as unknown as KernelSet;
}
