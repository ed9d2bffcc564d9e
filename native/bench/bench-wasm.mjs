#!/usr/bin/env node
/**
 * GOPS of the WebAssembly kernels (native/wasm/sofar_kernels.wasm) in this Node, SIMD128 and scalar:
 *   node native/bench/bench-wasm.mjs [reps]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const reps = Number(process.argv[2] ?? 20);
const wasm = readFileSync(fileURLToPath(new URL('../wasm/sofar_kernels.wasm', import.meta.url)));
const e = new WebAssembly.Instance(new WebAssembly.Module(wasm), {}).exports;
const base = e.sofar_wasm_heap_base();
let top = base;
const alloc = (bytes) => {
  const at = Math.ceil(top / 64) * 64;
  top = at + bytes;
  const have = e.memory.buffer.byteLength;
  if (top > have) e.memory.grow(Math.ceil((top - have) / 65536));
  return at;
};
const fill = (at, bytes) => {
  const u = new Uint32Array(e.memory.buffer, at, bytes / 4);
  for (let i = 0; i < u.length; i++) u[i] = (Math.imul(i, 2654435761) ^ (i >>> 3)) >>> 0;
};

function time(run) {
  for (let i = 0; i < 3; i++) run();
  const t = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    run();
    t.push(Number(process.hrtime.bigint() - t0) * 1e-9);
  }
  t.sort((a, b) => a - b);
  return t[t.length >> 1];
}

function bconv(name, h, c, pad) {
  const shape = [1, h, h, c, c, 3, 3, 1, 1, pad, pad, pad, pad, 1, 1, 1];
  const words = e.sofar_packed_words(c, 1);
  const x = alloc(h * h * words * 8);
  const k = alloc(c * 9 * words * 8);
  fill(x, h * h * words * 8);
  fill(k, c * 9 * words * 8);
  const pk = alloc(e.sofar_bconv2d_packed_kernel_bytes(c, c, 3, 3, 1) >>> 0);
  e.sofar_bconv2d_pack_kernel(k, pk, c, c, 3, 3, 1);
  const mul = alloc(c * 4);
  const y = alloc(h * h * c * 4);
  const res = alloc(h * h * c * 4);
  const yp = alloc(h * h * words * 8);
  const scratch = alloc(e.sofar_bconv2d_scratch_bytes(...shape) >>> 0);
  const macs = h * h * c * 9 * c;
  for (const isa of [3, 0]) {
    e.sofar_set_isa(isa);
    const s = time(() => e.sofar_bconv2d_prepacked(x, pk, mul, mul, res, y, yp, scratch, ...shape, 0, 0, 1));
    console.log(`${name} ${isa ? 'simd128' : 'scalar '}: ${(s * 1e3).toFixed(3)} ms, ${(macs / s * 1e-9).toFixed(1)} Gb-MAC/s`);
  }
}

function stem() {
  const shape = [1, 224, 224, 3, 64, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1];
  const x = alloc(224 * 224 * 3 * 4);
  const w = alloc(64 * 3 * 49 * 4);
  const pw = alloc(e.sofar_conv2d_f32_packed_weights_bytes(64, 3, 7, 7, 1) >>> 0);
  new Float32Array(e.memory.buffer, x, 224 * 224 * 3).fill(0.5);
  new Float32Array(e.memory.buffer, w, 64 * 147).fill(0.25);
  e.sofar_conv2d_f32_pack_weights(w, pw, 64, 3, 7, 7, 1);
  const y = alloc(112 * 112 * 64 * 4);
  const scratch = alloc(e.sofar_conv2d_f32_scratch_bytes(...shape) >>> 0);
  const macs = 112 * 112 * 64 * 147;
  for (const isa of [3, 0]) {
    e.sofar_set_isa(isa);
    const s = time(() => e.sofar_conv2d_f32(x, pw, 0, 0, y, scratch, ...shape, 0, 1));
    console.log(`conv f32 7x7/2 3->64 224x224 ${isa ? 'simd128' : 'scalar '}: ${(s * 1e3).toFixed(3)} ms, ${(macs / s * 1e-9).toFixed(1)} Gf-MAC/s`);
  }
}

bconv('bconv 3x3 256->256 14x14', 14, 256, 1);
bconv('bconv 3x3 64->64 56x56', 56, 64, 1);
bconv('bconv 3x3 41->41 56x56', 56, 41, 1); // row-packed taps (RF-c4d8)
bconv('bconv 3x3 82->82 28x28', 28, 82, 1);
stem();
