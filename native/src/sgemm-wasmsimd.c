/*
 * Float GEMM tile for WebAssembly SIMD128: 3 rows x 16 columns (12 f32x4 accumulators; engines map v128 to
 * 16 xmm registers on x86-64). SIMD128 has no FMA: mul then add, in the same order as the scalar tile, so
 * both wasm variants give identical results.
 */
#include "internal.h"

#if SOFAR_WASM_SIMD
#include <wasm_simd128.h>

#ifndef SGEMM_WASM_MR
#define SGEMM_WASM_MR 2
#endif
#define MR SGEMM_WASM_MR

void sofar_sgemm_wasmsimd(size_t mr, size_t nr, size_t nseg, size_t seg_len, const float *const *a, const float *b,
                          size_t brs, size_t bps, float *c, size_t cs, const float *bias, const float *res,
                          int relu) {
  (void)bps; /* nr <= 16: one panel */
  const v128_t zero = wasm_f32x4_splat(0.0f);
  v128_t acc[MR][4];
#pragma clang loop unroll(full)
  for (int r = 0; r < MR; r++)
#pragma clang loop unroll(full)
    for (int q = 0; q < 4; q++) acc[r][q] = zero;
  if (nr == 16) {
    const float *br = b;
    for (size_t sg = 0; sg < nseg; sg++) {
      const float *ar[MR];
#pragma clang loop unroll(full)
      for (int r = 0; r < MR; r++) ar[r] = a[sg * SOFAR_MR_MAX + (size_t)r];
      for (size_t kk = 0; kk < seg_len; kk++, br += brs) {
        v128_t w[4];
#pragma clang loop unroll(full)
        for (int q = 0; q < 4; q++) w[q] = wasm_v128_load(br + 4 * q);
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
          const v128_t x = wasm_v128_load32_splat(ar[r] + kk);
#pragma clang loop unroll(full)
          for (int q = 0; q < 4; q++) acc[r][q] = wasm_f32x4_add(acc[r][q], wasm_f32x4_mul(x, w[q]));
        }
      }
    }
  } else {
    /* a partial tile: B rows are read only up to column nr (into a zero-padded copy) */
    float edge[16];
    for (size_t j = 0; j < 16; j++) edge[j] = 0.0f;
    const float *br = b;
    for (size_t sg = 0; sg < nseg; sg++) {
      for (size_t kk = 0; kk < seg_len; kk++, br += brs) {
        for (size_t j = 0; j < nr; j++) edge[j] = br[j];
        v128_t w[4];
#pragma clang loop unroll(full)
        for (int q = 0; q < 4; q++) w[q] = wasm_v128_load(edge + 4 * q);
#pragma clang loop unroll(full)
        for (int r = 0; r < MR; r++) {
          const v128_t x = wasm_f32x4_splat(a[sg * SOFAR_MR_MAX + (size_t)r][kk]);
#pragma clang loop unroll(full)
          for (int q = 0; q < 4; q++) acc[r][q] = wasm_f32x4_add(acc[r][q], wasm_f32x4_mul(x, w[q]));
        }
      }
    }
  }
  float bb[16];
  if (bias)
    for (size_t j = 0; j < 16; j++) bb[j] = j < nr ? bias[j] : 0.0f;
  for (size_t r = 0; r < mr && r < MR; r++) {
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

/*
 * Grouped tile (sofar_sgemm_groups_fn) for groups of at most 8 columns, two at a time: MR rows x 2 groups x 2
 * f32x4 = 8 accumulators, the 16-column tile's count, with every lane in use where that tile leaves half of
 * them on zero weights (MeliusNet's stem: 8 columns a group). The packed weight rows are 16 floats, zero past
 * the group's columns, so 8 are read whole. Mul then add in k order, then bias, residual and relu: each
 * group's floats are the 16-column tile's.
 */
static inline void groups_tile(size_t mr, size_t nr, size_t nseg, size_t seg_len, const float *const *a, size_t a_gs,
                               const float *b, size_t b_gs, float *c, size_t cs, const float *bias, const float *res,
                               int relu, const int ng) {
  const v128_t zero = wasm_f32x4_splat(0.0f);
  v128_t acc[MR][2][2];
#pragma clang loop unroll(full)
  for (int r = 0; r < MR; r++)
#pragma clang loop unroll(full)
    for (int q = 0; q < 2; q++) acc[r][q][0] = acc[r][q][1] = zero;
  const float *br = b;
  for (size_t sg = 0; sg < nseg; sg++) {
    const float *ar[MR];
#pragma clang loop unroll(full)
    for (int r = 0; r < MR; r++) ar[r] = a[sg * SOFAR_MR_MAX + (size_t)r];
    for (size_t kk = 0; kk < seg_len; kk++, br += 16) {
      v128_t w[2][2];
#pragma clang loop unroll(full)
      for (int q = 0; q < ng; q++) w[q][0] = wasm_v128_load(br + (size_t)q * b_gs), w[q][1] = wasm_v128_load(br + (size_t)q * b_gs + 4);
#pragma clang loop unroll(full)
      for (int r = 0; r < MR; r++)
#pragma clang loop unroll(full)
        for (int q = 0; q < ng; q++) {
          const v128_t x = wasm_v128_load32_splat(ar[r] + (size_t)q * a_gs + kk);
          acc[r][q][0] = wasm_f32x4_add(acc[r][q][0], wasm_f32x4_mul(x, w[q][0]));
          acc[r][q][1] = wasm_f32x4_add(acc[r][q][1], wasm_f32x4_mul(x, w[q][1]));
        }
    }
  }
  for (size_t r = 0; r < mr && r < MR; r++)
    for (int q = 0; q < ng; q++) {
      const size_t off = r * cs + (size_t)q * nr;
      if (nr == 8) { /* whole groups (MeliusNet's): straight from and to memory */
        for (size_t h = 0; h < 2; h++) {
          v128_t v = acc[r][q][h];
          if (bias) v = wasm_f32x4_add(v, wasm_v128_load(bias + (size_t)q * 8 + 4 * h));
          if (res) v = wasm_f32x4_add(v, wasm_v128_load(res + off + 4 * h));
          if (relu) v = wasm_f32x4_pmax(zero, v);
          wasm_v128_store(c + off + 4 * h, v);
        }
        continue;
      }
      float bb[8] = {0}, rv[8] = {0}, t[8];
      for (size_t j = 0; j < nr; j++) {
        if (bias) bb[j] = bias[(size_t)q * nr + j];
        if (res) rv[j] = res[off + j];
      }
      for (size_t h = 0; h < 2; h++) {
        v128_t v = acc[r][q][h];
        if (bias) v = wasm_f32x4_add(v, wasm_v128_load(bb + 4 * h));
        if (res) v = wasm_f32x4_add(v, wasm_v128_load(rv + 4 * h));
        if (relu) v = wasm_f32x4_pmax(zero, v);
        wasm_v128_store(t + 4 * h, v);
      }
      for (size_t j = 0; j < nr; j++) c[off + j] = t[j];
    }
}

void sofar_sgemm_groups_wasmsimd(size_t mr, size_t nr, size_t ng, size_t nseg, size_t seg_len, const float *const *a,
                                 size_t a_gs, const float *b, size_t b_gs, float *c, size_t cs, const float *bias,
                                 const float *res, int relu) {
  SOFAR_GROUP_PAIRS(groups_tile);
}

#endif
