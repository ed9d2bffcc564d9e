/*
 * Float GEMM tile for AVX-512F: 6 rows x 64 columns (4 panels of 16), 24 zmm accumulators; per k,
 * 4 panel loads and 6 broadcasts feed 24 FMAs. Bias, residual and relu are applied in the store.
 */
#include "internal.h"

#if SOFAR_X86
#include <immintrin.h>

#define MR 6

/* One row of np panels: + bias, + residual, relu, stored (the last panel masked to lm). */
SOFAR_TARGET_AVX512 SOFAR_INLINE void store_row(const __m512 *acc, const int np, __mmask16 lm, float *c,
                                                const float *bias, const float *res, int relu) {
#pragma GCC unroll 4
  for (int j = 0; j < np; j++) {
    const __mmask16 m = j == np - 1 ? lm : (__mmask16)0xffff;
    __m512 v = acc[j];
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + j * 16));
    if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + j * 16));
    if (relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
    _mm512_mask_storeu_ps(c + j * 16, m, v);
  }
}

SOFAR_TARGET_AVX512 SOFAR_INLINE void sgemm_tile(size_t mr, size_t nr, size_t nseg, size_t seg_len, const float *const *a, const float *b,
                                                 size_t brs, size_t bps, float *c, size_t cs, const float *bias,
                                                 const float *res, int relu, const int np, const int rows) {
  const size_t last = nr - (size_t)(np - 1) * 16; /* 1..16 columns in the last panel */
  const __mmask16 lm = (__mmask16)((1u << last) - 1);
  __m512 acc[MR][4];
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int j = 0; j < np; j++) acc[r][j] = _mm512_setzero_ps();
  const float *br = b;
  for (size_t sg = 0; sg < nseg; sg++) {
  const float *const *as = a + sg * SOFAR_MR_MAX;
  const float *a0 = as[0], *a1 = as[1], *a2 = as[2], *a3 = as[3], *a4 = as[4], *a5 = as[5];
  for (size_t kk = 0; kk < seg_len; kk++, br += brs) {
    __m512 w[4];
#pragma GCC unroll 4
    for (int j = 0; j < np; j++)
      w[j] = j == np - 1 ? _mm512_maskz_loadu_ps(lm, br + (size_t)j * bps) : _mm512_loadu_ps(br + (size_t)j * bps);
    __m512 x;
#define ROW(r, ar)                                   \
  x = _mm512_set1_ps(ar[kk]);                        \
  _Pragma("GCC unroll 4") for (int j = 0; j < np; j++) acc[r][j] = _mm512_fmadd_ps(x, w[j], acc[r][j]);
    ROW(0, a0)
    if (rows > 1) { ROW(1, a1) }
    if (rows > 2) { ROW(2, a2) ROW(3, a3) }
    if (rows > 4) { ROW(4, a4) ROW(5, a5) }
#undef ROW
  }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++) {
    if ((size_t)r >= mr) break;
    store_row(acc[r], np, lm, c + (size_t)r * cs, bias, res ? res + (size_t)r * cs : NULL, relu);
  }
}

SOFAR_TARGET_AVX512 void sofar_sgemm_avx512(size_t mr, size_t nr, size_t nseg, size_t seg_len, const float *const *a, const float *b,
                                            size_t brs, size_t bps, float *c, size_t cs, const float *bias,
                                            const float *res, int relu) {
  /* a block's last rows (a classifier's one row, a 7x7 map's 49th pixel) in a tile of 1, 2 or 4 rows, not 6: the
     FMAs of rows that are not stored were most of a matrix-vector product's time */
#define TILE(rows)                                                                          \
  switch ((nr + 15) / 16) {                                                                 \
    case 4: sgemm_tile(mr, nr, nseg, seg_len, a, b, brs, bps, c, cs, bias, res, relu, 4, rows); break; \
    case 3: sgemm_tile(mr, nr, nseg, seg_len, a, b, brs, bps, c, cs, bias, res, relu, 3, rows); break; \
    case 2: sgemm_tile(mr, nr, nseg, seg_len, a, b, brs, bps, c, cs, bias, res, relu, 2, rows); break; \
    default: sgemm_tile(mr, nr, nseg, seg_len, a, b, brs, bps, c, cs, bias, res, relu, 1, rows); break; \
  }
  if (mr <= 1) TILE(1)
  else if (mr <= 2) TILE(2)
  else if (mr <= 4) TILE(4)
  else TILE(6)
#undef TILE
}


/*
 * The stem row kernel: pb pixels x np panels of 16 channels in registers (6x4, 8x3, 12x2, 24x1: 24
 * accumulators), per k np weight loads and pb broadcasts. Pixels past the row's end (a last block narrower
 * than pb) read the caller's zero slack and are not stored; the packed weights are zero-padded past og.
 */
SOFAR_TARGET_AVX512 SOFAR_INLINE void stem_block(size_t mr, size_t nr, const float *a, size_t ps, size_t rs, size_t kh,
                                                 size_t kwc, const float *b, size_t bps, float *c, size_t cs,
                                                 const float *bias, const float *res, int relu, const int np,
                                                 const int pb) {
  __m512 acc[SOFAR_STEM_PB_MAX][4];
#pragma GCC unroll 24
  for (int r = 0; r < pb; r++)
#pragma GCC unroll 4
    for (int j = 0; j < np; j++) acc[r][j] = _mm512_setzero_ps();
  const float *br = b;
  for (size_t i = 0; i < kh; i++) {
    const float *ai = a + i * rs;
    for (size_t kk = 0; kk < kwc; kk++, br += 16) {
      __m512 w[4];
#pragma GCC unroll 4
      for (int j = 0; j < np; j++) w[j] = _mm512_loadu_ps(br + (size_t)j * bps);
#pragma GCC unroll 24
      for (int r = 0; r < pb; r++) {
        const __m512 x = _mm512_set1_ps(ai[(size_t)r * ps + kk]);
#pragma GCC unroll 4
        for (int j = 0; j < np; j++) acc[r][j] = _mm512_fmadd_ps(x, w[j], acc[r][j]);
      }
    }
  }
  const size_t last = nr - (size_t)(np - 1) * 16;
  const __mmask16 lm = (__mmask16)((1u << last) - 1);
#pragma GCC unroll 24
  for (int r = 0; r < pb; r++) {
    if ((size_t)r >= mr) break;
    store_row(acc[r], np, lm, c + (size_t)r * cs, bias, res ? res + (size_t)r * cs : NULL, relu);
  }
}

#define STEM_ROW(np, pb)                                                                                          \
  for (size_t q = 0; q < wo; q += pb)                                                                            \
    stem_block(sofar_min(pb, wo - q), nr, row + q * ps, ps, rs, kh, kwc, bn, K * 16, y + q * cs + n0, cs, bn0,   \
               res ? res + q * cs + n0 : NULL, relu, np, pb);

SOFAR_TARGET_AVX512 void sofar_conv_stem_row_avx512(size_t wo, const float *row, size_t ps, size_t rs, size_t kh,
                                                    size_t kwc, const float *b, size_t K, size_t og, float *y,
                                                    size_t cs, const float *bias, const float *res, int relu) {
  for (size_t n0 = 0; n0 < og; n0 += 64) {
    const size_t nr = sofar_min(64, og - n0);
    const float *bn = b + n0 * K, *bn0 = bias ? bias + n0 : NULL;
    switch ((nr + 15) / 16) {
      case 4: STEM_ROW(4, 6) break;
      case 3: STEM_ROW(3, 8) break;
      case 2: STEM_ROW(2, 12) break;
      default: STEM_ROW(1, 24) break;
    }
  }
}
#undef STEM_ROW

/* sofar_interleave3_fn: 16 pixels at a time, each output vector two two-source permutes (a and b into their
   places, then c into its); the rest one by one */
SOFAR_TARGET_AVX512 void sofar_interleave3_avx512(const float *a, const float *b, const float *c, float *out, size_t n) {
  /* output vector k, lane p holds element 16k + p = pixel i, channel ch: first a[i] (i) or b[i] (16 + i), then
     c[i] (16 + i) where ch is 2 */
  static const int32_t ab[3][16] = {{0, 16, 0, 1, 17, 0, 2, 18, 0, 3, 19, 0, 4, 20, 0, 5},
                                    {21, 0, 6, 22, 0, 7, 23, 0, 8, 24, 0, 9, 25, 0, 10, 26},
                                    {0, 11, 27, 0, 12, 28, 0, 13, 29, 0, 14, 30, 0, 15, 31, 0}};
  static const int32_t pc[3][16] = {{0, 1, 16, 3, 4, 17, 6, 7, 18, 9, 10, 19, 12, 13, 20, 15},
                                    {0, 21, 2, 3, 22, 5, 6, 23, 8, 9, 24, 11, 12, 25, 14, 15},
                                    {26, 1, 2, 27, 4, 5, 28, 7, 8, 29, 10, 11, 30, 13, 14, 31}};
  __m512i iab[3], ipc[3];
  for (int k = 0; k < 3; k++) iab[k] = _mm512_loadu_si512(ab[k]), ipc[k] = _mm512_loadu_si512(pc[k]);
  size_t i = 0;
  for (; i + 16 <= n; i += 16, out += 48) {
    const __m512 va = _mm512_loadu_ps(a + i), vb = _mm512_loadu_ps(b + i), vc = _mm512_loadu_ps(c + i);
    for (int k = 0; k < 3; k++)
      _mm512_storeu_ps(out + 16 * k, _mm512_permutex2var_ps(_mm512_permutex2var_ps(va, iab[k], vb), ipc[k], vc));
  }
  for (; i < n; i++, out += 3) out[0] = a[i], out[1] = b[i], out[2] = c[i];
}
#define SOFAR_GROUPS_TARGET SOFAR_TARGET_AVX512
#define SOFAR_GROUPS_FN sofar_sgemm_groups_avx512
#include "sgemm-groups.h"
#endif
