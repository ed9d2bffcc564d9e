/*
 * Float GEMM tile for WebAssembly SIMD128: 3 rows x 16 columns (12 f32x4 accumulators; engines map v128 to
 * 16 xmm registers on x86-64). SIMD128 has no FMA: mul then add, in the same order as the scalar tile, so
 * both wasm variants give identical results.
 */
#include "internal.h"

#if SOFAR_WASM_SIMD
#include <wasm_simd128.h>

void sofar_sgemm_wasmsimd(size_t mr, size_t nr, size_t nseg, size_t seg_len, const float *const *a, const float *b,
                          size_t brs, size_t bps, float *c, size_t cs, const float *bias, const float *res,
                          int relu) {
  (void)bps; /* nr <= 16: one panel */
  const v128_t zero = wasm_f32x4_splat(0.0f);
  v128_t c00 = zero, c01 = zero, c02 = zero, c03 = zero, c10 = zero, c11 = zero, c12 = zero, c13 = zero, c20 = zero,
         c21 = zero, c22 = zero, c23 = zero;
  const int full = nr == 16;
  float edge[16]; /* a partial B row, zero-padded (columns past nr are never read from b) */
  for (size_t j = 0; j < 16; j++) edge[j] = 0.0f;
  const float *br = b;
  for (size_t sg = 0; sg < nseg; sg++) {
    const float *a0 = a[sg * SOFAR_MR_MAX], *a1 = a[sg * SOFAR_MR_MAX + 1], *a2 = a[sg * SOFAR_MR_MAX + 2];
    for (size_t kk = 0; kk < seg_len; kk++, br += brs) {
      const float *wr = br;
      if (!full) {
        for (size_t j = 0; j < nr; j++) edge[j] = br[j];
        wr = edge;
      }
      const v128_t w0 = wasm_v128_load(wr), w1 = wasm_v128_load(wr + 4), w2 = wasm_v128_load(wr + 8),
                   w3 = wasm_v128_load(wr + 12);
      v128_t x = wasm_f32x4_splat(a0[kk]);
      c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(x, w0));
      c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(x, w1));
      c02 = wasm_f32x4_add(c02, wasm_f32x4_mul(x, w2));
      c03 = wasm_f32x4_add(c03, wasm_f32x4_mul(x, w3));
      x = wasm_f32x4_splat(a1[kk]);
      c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(x, w0));
      c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(x, w1));
      c12 = wasm_f32x4_add(c12, wasm_f32x4_mul(x, w2));
      c13 = wasm_f32x4_add(c13, wasm_f32x4_mul(x, w3));
      x = wasm_f32x4_splat(a2[kk]);
      c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(x, w0));
      c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(x, w1));
      c22 = wasm_f32x4_add(c22, wasm_f32x4_mul(x, w2));
      c23 = wasm_f32x4_add(c23, wasm_f32x4_mul(x, w3));
    }
  }
  v128_t acc[3][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}, {c20, c21, c22, c23}};
  float bb[16];
  if (bias)
    for (size_t j = 0; j < 16; j++) bb[j] = j < nr ? bias[j] : 0.0f;
  for (size_t r = 0; r < mr && r < 3; r++) {
    float *cr = c + r * cs;
    const float *rr = res ? res + r * cs : NULL;
    float t[16];
    for (size_t q = 0; q < 4; q++) {
      v128_t v = acc[r][q];
      if (bias) v = wasm_f32x4_add(v, wasm_v128_load(bb + 4 * q));
      if (rr) {
        float rv[4] = {0, 0, 0, 0};
        for (size_t j = 0; j < 4 && 4 * q + j < nr; j++) rv[j] = rr[4 * q + j];
        v = wasm_f32x4_add(v, wasm_v128_load(rv));
      }
      if (relu) v = wasm_f32x4_pmax(zero, v); /* 0 < v ? v : 0: NaN -> 0, as the scalar tile */
      wasm_v128_store(t + 4 * q, v);
    }
    for (size_t j = 0; j < nr; j++) cr[j] = t[j];
  }
}

#endif
