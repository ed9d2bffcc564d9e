/*
 * Float GEMM tile for AVX-512F: 6 rows x 64 columns (4 panels of 16), 24 zmm accumulators; per k,
 * 4 panel loads and 6 broadcasts feed 24 FMAs. Bias, residual and relu are applied in the store.
 */
#include "internal.h"

#if SOFAR_X86
#include <immintrin.h>

#define MR 6

SOFAR_TARGET_AVX512 SOFAR_INLINE void sgemm_tile(size_t mr, size_t nr, size_t nseg, size_t seg_len, const float *const *a, const float *b,
                                                 size_t brs, size_t bps, float *c, size_t cs, const float *bias,
                                                 const float *res, int relu, const int np) {
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
    ROW(0, a0) ROW(1, a1) ROW(2, a2) ROW(3, a3) ROW(4, a4) ROW(5, a5)
#undef ROW
  }
  }
  const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++) {
    if ((size_t)r >= mr) break;
#pragma GCC unroll 4
    for (int j = 0; j < np; j++) {
      const __mmask16 m = j == np - 1 ? lm : (__mmask16)0xffff;
      __m512 v = acc[r][j];
      if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias + j * 16));
      if (res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res + (size_t)r * cs + j * 16));
      if (relu) v = _mm512_max_ps(v, zero);
      _mm512_mask_storeu_ps(c + (size_t)r * cs + j * 16, m, v);
    }
  }
}

SOFAR_TARGET_AVX512 void sofar_sgemm_avx512(size_t mr, size_t nr, size_t nseg, size_t seg_len, const float *const *a, const float *b,
                                            size_t brs, size_t bps, float *c, size_t cs, const float *bias,
                                            const float *res, int relu) {
  switch ((nr + 15) / 16) {
    case 4: sgemm_tile(mr, nr, nseg, seg_len, a, b, brs, bps, c, cs, bias, res, relu, 4); break;
    case 3: sgemm_tile(mr, nr, nseg, seg_len, a, b, brs, bps, c, cs, bias, res, relu, 3); break;
    case 2: sgemm_tile(mr, nr, nseg, seg_len, a, b, brs, bps, c, cs, bias, res, relu, 2); break;
    default: sgemm_tile(mr, nr, nseg, seg_len, a, b, brs, bps, c, cs, bias, res, relu, 1); break;
  }
}

#endif
