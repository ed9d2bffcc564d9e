/**
 * The WebAssembly kernels (native/wasm/sofar_kernels.wasm, committed; scripts/build-wasm.mjs) against the
 * scalar JavaScript reference, in both of the module's instruction sets (scalar and SIMD128); and, where
 * the clang that built the committed modules is installed, that rebuilding them (single-threaded and
 * threaded, test/runtime/wasm-threads.test.ts) gives the same bytes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import {
  channelSweepShape, checkBconv, checkConv, checkConvAvgpool2, checkConvMaxpool, checkDense, checkElementwise, checkPackSigns, checkPools, outSize, Rng,
  type ArenaFactory, type Config, type KernelApi,
} from './kernels-reference.js';
import { checkDepthwise, checkFloatOps } from './kernels-reference-float.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const wasmPath = join(root, 'native', 'wasm', 'sofar_kernels.wasm');

// The few WebAssembly JS API types used here (the project's TypeScript libs have no DOM).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmModule {
  readonly __brand?: 'module';
}
declare const WebAssembly: {
  Module: { new (bytes: Uint8Array): WasmModule; imports(m: WasmModule): unknown[] };
  Instance: new (m: WasmModule, imports: object) => { exports: Record<string, unknown> };
};
/* eslint-disable @typescript-eslint/no-explicit-any */
type Exports = Record<string, any> & { memory: WasmMemory };

/** The addon's calling convention over the module: offsets are addresses in its memory, -1 is NULL (0). */
function wasmApi(e: Exports): KernelApi {
  const p = (off: number): number => (off < 0 ? 0 : off);
  const u = (n: number): number => n >>> 0;
  return {
    packedWords: (c, g) => e.sofar_packed_words(c, g),
    packSigns: (_b, x, y, ...r) => e.sofar_pack_signs(p(x), p(y), ...r),
    packSignsAffine: (_b, x, sc, sh, y, ...r) => e.sofar_pack_signs_affine(p(x), p(sc), p(sh), p(y), ...r),
    packSignsAffine2: (_b, x, sc, sh, y, sc2, sh2, y2, ...r) => e.sofar_pack_signs_affine2(p(x), p(sc), p(sh), p(y), p(sc2), p(sh2), p(y2), ...r),
    bconv2dScratchBytes: (...s) => u(e.sofar_bconv2d_scratch_bytes(...s)),
    bconv2d: (_b, x, k, mul, bias, res, y, yp, scratch, ...ints) =>
      e.sofar_bconv2d(p(x), p(k), p(mul), p(bias), p(res), p(y), p(yp), p(scratch), ...ints),
    bconv2dPackedKernelBytes: (...s) => u(e.sofar_bconv2d_packed_kernel_bytes(...s)),
    bconv2dPackKernel: (_b, k, pk, ...s) => e.sofar_bconv2d_pack_kernel(p(k), p(pk), ...s),
    bconv2dPrepacked: (_b, x, pk, mul, bias, res, y, yp, scratch, ...ints) =>
      e.sofar_bconv2d_prepacked(p(x), p(pk), p(mul), p(bias), p(res), p(y), p(yp), p(scratch), ...ints),
    bconv2dPrepackedPost: (_b, x, pk, mul, bias, res, alpha, post, y, yp, scratch, ...ints) =>
      e.sofar_bconv2d_prepacked_post(p(x), p(pk), p(mul), p(bias), p(res), p(alpha), p(post), p(y), p(yp), p(scratch), ...ints),
    bconv2dEpilogue: (_b, x, pk, params, res, y, yp, scratch, ...ints) =>
      e.sofar_bconv2d_epilogue(p(x), p(pk), p(params), p(res), p(y), p(yp), p(scratch), ...ints),
    sumF32: (_b, a, b, c, d, s, y, yp, ...r) => e.sofar_sum_f32(p(a), p(b), p(c), p(d), s, p(y), p(yp), ...r),
    bconv2dEpiloguePack2: (_b, x, pk, params, res, y, yp, p2x, p2s, p2t, p2y, scratch, ...ints) =>
      e.sofar_bconv2d_epilogue_pack2(p(x), p(pk), p(params), p(res), p(y), p(yp), p(p2x), p(p2s), p(p2t), p(p2y), p(scratch), ...ints),
    conv2dF32PackedWeightsBytes: (...s) => u(e.sofar_conv2d_f32_packed_weights_bytes(...s)),
    conv2dF32ScratchBytes: (...s) => u(e.sofar_conv2d_f32_scratch_bytes(...s)),
    conv2dF32PackWeights: (_b, w, pw, ...s) => e.sofar_conv2d_f32_pack_weights(p(w), p(pw), ...s),
    conv2dF32: (_b, x, pw, bias, res, y, scratch, ...ints) =>
      e.sofar_conv2d_f32(p(x), p(pw), p(bias), p(res), p(y), p(scratch), ...ints),
    conv2dF32MaxpoolScratchBytes: (...s) => u(e.sofar_conv2d_f32_maxpool_scratch_bytes(...s)),
    conv2dF32Avgpool2ScratchBytes: (...s) => u(e.sofar_conv2d_f32_avgpool2_scratch_bytes(...s)),
    conv2dF32Avgpool2: (_b, x, pw, bias, res, y, scratch, ...ints) =>
      e.sofar_conv2d_f32_avgpool2(p(x), p(pw), p(bias), p(res), p(y), p(scratch), ...ints),
    conv2dF32Maxpool: (_b, x, pw, bias, alpha, y, scratch, ...ints) =>
      e.sofar_conv2d_f32_maxpool(p(x), p(pw), p(bias), p(alpha), p(y), p(scratch), ...ints),
    conv2dF32MaxpoolPack: (_b, x, pw, bias, alpha, y, yp, ps, pt, scratch, ...ints) =>
      e.sofar_conv2d_f32_maxpool_pack(p(x), p(pw), p(bias), p(alpha), p(y), p(yp), p(ps), p(pt), p(scratch), ...ints),
    denseF32: (_b, x, w, bias, y, ...s) => e.sofar_dense_f32(p(x), p(w), p(bias), p(y), ...s),
    maxpoolF32: (_b, x, y, ...s) => e.sofar_maxpool_f32(p(x), p(y), ...s),
    maxpoolReluF32: (_b, x, y, ...s) => e.sofar_maxpool_relu_f32(p(x), p(y), ...s),
    avgpoolF32: (_b, x, y, ...s) => e.sofar_avgpool_f32(p(x), p(y), ...s),
    globalAvgpoolF32: (_b, x, y, ...s) => e.sofar_global_avgpool_f32(p(x), p(y), ...s),
    affineF32: (_b, x, sc, sh, y, ...s) => e.sofar_affine_f32(p(x), p(sc), p(sh), p(y), ...s),
    reluF32: (_b, x, y, ...s) => e.sofar_relu_f32(p(x), p(y), ...s),
    preluF32: (_b, x, a, y, ...s) => e.sofar_prelu_f32(p(x), p(a), p(y), ...s),
    clipF32: (_b, x, y, ...s) => e.sofar_clip_f32(p(x), p(y), ...s),
    signF32: (_b, x, y, ...s) => e.sofar_sign_f32(p(x), p(y), ...s),
    copyF32: (_b, x, y, ...s) => e.sofar_copy_f32(p(x), p(y), ...s),
    addF32: (_b, a, b, y, n) => e.sofar_add_f32(p(a), p(b), p(y), n),
    maxF32: (_b, a, b, y, n) => e.sofar_max_f32(p(a), p(b), p(y), n),
    scaleF32: (_b, x, s, y, n) => e.sofar_scale_f32(p(x), s, p(y), n),
    nchwToNhwc: (_b, x, y, ...s) => e.sofar_nchw_to_nhwc(p(x), p(y), ...s),
    nhwcToNchw: (_b, x, y, ...s) => e.sofar_nhwc_to_nchw(p(x), p(y), ...s),
    dwconv2dF32: (_b, x, w, bias, res, y, ...ints) => e.sofar_dwconv2d_f32(p(x), p(w), p(bias), p(res), p(y), ...ints),
    sigmoidF32: (_b, x, y, ...s) => e.sofar_sigmoid_f32(p(x), p(y), ...s),
    roundF32: (_b, x, y, ...s) => e.sofar_round_f32(p(x), p(y), ...s),
    heavisideF32: (_b, x, y, ...s) => e.sofar_heaviside_f32(p(x), p(y), ...s),
    divF32: (_b, x, d, y, ...s) => e.sofar_div_f32(p(x), p(d), p(y), ...s),
    copyStridedF32: (_b, x, y, ...s) => e.sofar_copy_strided_f32(p(x), p(y), ...s),
    padChannelsF32: (_b, x, y, ...s) => e.sofar_pad_channels_f32(p(x), p(y), ...s),
    mulF32: (_b, a, b, y, n) => e.sofar_mul_f32(p(a), p(b), p(y), n),
    mulChannelsF32: (_b, x, s, y, ...r) => e.sofar_mul_channels_f32(p(x), p(s), p(y), ...r),
  };
}

/** An arena at the heap base, the memory grown to fit it and zeroed. */
function wasmArena(e: Exports): ArenaFactory {
  const base = e.sofar_wasm_heap_base() as number;
  return (bytes) => {
    const need = base + bytes;
    const have = e.memory.buffer.byteLength;
    if (need > have) e.memory.grow(Math.ceil((need - have) / 65536));
    new Uint8Array(e.memory.buffer, base, bytes).fill(0);
    return { buffer: e.memory.buffer, base };
  };
}

describe('WebAssembly kernels', () => {
  const module = new WebAssembly.Module(readFileSync(wasmPath));
  const e = new WebAssembly.Instance(module, {}).exports as unknown as Exports;
  const api = wasmApi(e);
  const arena = wasmArena(e);
  const configs: Config[] = [
    { label: 'wasm scalar', setup: () => expect(e.sofar_set_isa(0)).toBe(0) },
    { label: 'wasm simd128', setup: () => expect(e.sofar_set_isa(3)).toBe(3) },
  ];

  it('is self-contained and reports SIMD128', () => {
    expect(WebAssembly.Module.imports(module)).toEqual([]);
    expect(e.sofar_detected_isa()).toBe(3);
    expect(e.sofar_set_isa(2)).toBe(0); // no x86 variants here: the best below is scalar
    expect(e.sofar_set_isa(3)).toBe(3);
    e.sofar_set_threads(4);
    expect(e.sofar_threads()).toBe(1);
    expect(e.sofar_wasm_heap_base() % 64).toBe(0);
  });

  it('packs signs', () => checkPackSigns(api, arena, configs, new Rng(11), 20));
  it('binary conv equals the reference exactly', () => checkBconv(api, arena, configs, new Rng(12), 50));
  it('binary conv: every channel count 1..130 (row-packed taps and not), exactly', () => {
    const rng = new Rng(21);
    checkBconv(api, arena, configs, rng, 130, (t) => channelSweepShape(rng, t));
  });
  it('float conv matches the reference', () => checkConv(api, arena, configs, new Rng(13), 30));
  it('a stem with its max pool fused equals the pool of the conv exactly', () => checkConvMaxpool(api, arena, configs, new Rng(19), 8));
  it('a 1×1 conv with the 2×2 average pool before it fused equals the two steps exactly', () => checkConvAvgpool2(api, arena, configs, new Rng(20), 6));
  it('dense matches the reference', () => checkDense(api, arena, configs, new Rng(14), 10));
  it('pooling equals the reference', () => checkPools(api, arena, configs, new Rng(15), 10));
  it('element-wise ops and layouts equal the reference', () => checkElementwise(api, arena, new Rng(16)));
  it('depthwise conv equals the reference exactly', () => checkDepthwise(api, arena, configs, new Rng(17), 30));
  it('sigmoid, round, division, products, slices and channel padding equal the reference', () => checkFloatOps(api, arena, new Rng(18)));

  // [n h w cin cout kh kw sh sw pt pl pb pr dh dw groups]: a plain conv, and grouped ones on the two-group
  // tile (MeliusNet's 8 columns a group; 3 groups of 5, the last group alone and columns masked)
  it.each([
    [[1, 9, 7, 5, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1]],
    [[1, 9, 8, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4]],
    [[2, 7, 6, 12, 15, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3]],
  ])('scalar and SIMD128 float convs agree bit for bit (same operation order, no FMA): %j', (ints) => {
    const [n, h, w, cin, cout, kh, kw, , , , , , , , , groups] = ints;
    const { pixels } = outSize({ n, h, w, cin, cout, kh, kw, sh: ints[7], sw: ints[8], pt: ints[9], pl: ints[10], pb: ints[11], pr: ints[12], dh: 1, dw: 1, groups });
    const pwb = api.conv2dF32PackedWeightsBytes(cout, cin, kh, kw, groups);
    const sb = api.conv2dF32ScratchBytes(...ints);
    const xFloats = n * h * w * cin, yFloats = pixels * cout;
    const at = { x: 0, w: 4 * xFloats, bias: 4 * (xFloats + 2048), res: 4 * (xFloats + 2048 + cout) };
    const pw = at.res + 4 * yFloats, y = pw + pwb, scratch = y + 4 * yFloats;
    const { buffer, base } = arena(scratch + sb + 64);
    const f = new Float32Array(buffer, base, pw / 4);
    for (let i = 0; i < f.length; i++) f[i] = Math.sin(i * 1.7);
    api.conv2dF32PackWeights(buffer, base + at.w, base + pw, cout, cin, kh, kw, groups);
    const out = (isa: number, relu: number): Float32Array => {
      e.sofar_set_isa(isa);
      api.conv2dF32(buffer, base + at.x, base + pw, base + at.bias, base + at.res, base + y, base + scratch, ...ints, 0, relu);
      return Float32Array.from(new Float32Array(e.memory.buffer, base + y, yFloats));
    };
    for (const relu of [0, 1]) expect(Array.from(out(3, relu))).toEqual(Array.from(out(0, relu)));
  });
});

const buildInfo = join(root, 'native', 'wasm', 'BUILD-INFO.txt');
const builtWith = existsSync(buildInfo) ? readFileSync(buildInfo, 'utf8').split('\n')[1] : undefined;
const clangVersion = spawnSync('clang', ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0]?.trim();
const sameClang = builtWith !== undefined && clangVersion === builtWith;
if (!sameClang) console.warn(`SKIPPED: the wasm rebuild check needs ${builtWith ?? 'clang'} (found: ${clangVersion ?? 'no clang'})`);

describe.skipIf(!sameClang)('WebAssembly build', () => {
  for (const [file, flags] of [['sofar_kernels.wasm', []], ['sofar_kernels_threads.wasm', ['--threads']]] as const) {
    it(`rebuilding gives the committed bytes: ${file}`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'sofar-wasm-test-'));
      try {
        const out = join(dir, 'k.wasm');
        const r = spawnSync(process.execPath, [join(root, 'scripts', 'build-wasm.mjs'), ...flags, '--out', out], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
        expect(readFileSync(out).equals(readFileSync(join(root, 'native', 'wasm', file))), `native/wasm/${file} is stale: run node scripts/build-wasm.mjs ${flags.join(' ')}`).toBe(true);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
