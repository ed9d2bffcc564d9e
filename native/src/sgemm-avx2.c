/* Float GEMM tiles for AVX2 + FMA: 6 rows x 16 columns, 12 ymm accumulators; and the grouped tile. */
#include "internal.h"

#if SOFAR_X86
#include <immintrin.h>

SOFAR_TARGET_AVX2 SOFAR_INLINE void sgemm_tile(size_t mr, size_t nr, size_t nseg, size_t seg_len, const float *const *a,
                                               const float *b, size_t brs, float *c, size_t cs, const float *bias,
                                               const float *res, int relu, const int rows) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr), lanes);
  const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr - 8), lanes);
  const int full = nr == 16;
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00,
         c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const float *br = b;
  for (size_t sg = 0; sg < nseg; sg++) {
  const float *const *as = a + sg * SOFAR_MR_MAX;
  const float *a0 = as[0], *a1 = as[1], *a2 = as[2], *a3 = as[3], *a4 = as[4], *a5 = as[5];
  for (size_t kk = 0; kk < seg_len; kk++, br += brs) {
    __m256 w0, w1;
    if (full) {
      w0 = _mm256_loadu_ps(br);
      w1 = _mm256_loadu_ps(br + 8);
    } else {
      w0 = _mm256_maskload_ps(br, m0);
      w1 = _mm256_maskload_ps(br + 8, m1);
    }
    __m256 x;
    x = _mm256_broadcast_ss(a0 + kk); c00 = _mm256_fmadd_ps(x, w0, c00); c01 = _mm256_fmadd_ps(x, w1, c01);
    if (rows > 1) { x = _mm256_broadcast_ss(a1 + kk); c10 = _mm256_fmadd_ps(x, w0, c10); c11 = _mm256_fmadd_ps(x, w1, c11); }
    if (rows > 2) {
      x = _mm256_broadcast_ss(a2 + kk); c20 = _mm256_fmadd_ps(x, w0, c20); c21 = _mm256_fmadd_ps(x, w1, c21);
      x = _mm256_broadcast_ss(a3 + kk); c30 = _mm256_fmadd_ps(x, w0, c30); c31 = _mm256_fmadd_ps(x, w1, c31);
    }
    if (rows > 4) {
      x = _mm256_broadcast_ss(a4 + kk); c40 = _mm256_fmadd_ps(x, w0, c40); c41 = _mm256_fmadd_ps(x, w1, c41);
      x = _mm256_broadcast_ss(a5 + kk); c50 = _mm256_fmadd_ps(x, w0, c50); c51 = _mm256_fmadd_ps(x, w1, c51);
    }
  }
  }
  __m256 acc[6][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  const __m256 zero = _mm256_setzero_ps();
  __m256 b0 = zero, b1 = zero;
  if (bias) {
    b0 = _mm256_maskload_ps(bias, m0);
    b1 = _mm256_maskload_ps(bias + 8, m1);
  }
  for (size_t r = 0; r < mr && r < 6; r++) {
    float *cr = c + r * cs;
    __m256 v0 = acc[r][0], v1 = acc[r][1];
    if (bias) {
      v0 = _mm256_add_ps(v0, b0);
      v1 = _mm256_add_ps(v1, b1);
    }
    if (res) {
      v0 = _mm256_add_ps(v0, _mm256_maskload_ps(res + r * cs, m0));
      v1 = _mm256_add_ps(v1, _mm256_maskload_ps(res + r * cs + 8, m1));
    }
    if (relu) {
      v0 = _mm256_max_ps(v0, zero);
      v1 = _mm256_max_ps(v1, zero);
    }
    if (full) {
      _mm256_storeu_ps(cr, v0);
      _mm256_storeu_ps(cr + 8, v1);
    } else {
      _mm256_maskstore_ps(cr, m0, v0);
      _mm256_maskstore_ps(cr + 8, m1, v1);
    }
  }
}

SOFAR_TARGET_AVX2 void sofar_sgemm_avx2(size_t mr, size_t nr, size_t nseg, size_t seg_len, const float *const *a, const float *b,
                                        size_t brs, size_t bps, float *c, size_t cs, const float *bias,
                                        const float *res, int relu) {
  (void)bps; /* nr <= 16: one panel */
  /* a block's last rows in a tile of 1, 2 or 4 rows, not 6 (a classifier's one row ran six rows' FMAs) */
  if (mr <= 1) sgemm_tile(mr, nr, nseg, seg_len, a, b, brs, c, cs, bias, res, relu, 1);
  else if (mr <= 2) sgemm_tile(mr, nr, nseg, seg_len, a, b, brs, c, cs, bias, res, relu, 2);
  else if (mr <= 4) sgemm_tile(mr, nr, nseg, seg_len, a, b, brs, c, cs, bias, res, relu, 4);
  else sgemm_tile(mr, nr, nseg, seg_len, a, b, brs, c, cs, bias, res, relu, 6);
}

#define SOFAR_GROUPS_TARGET SOFAR_TARGET_AVX2
#define SOFAR_GROUPS_FN sofar_sgemm_groups_avx2
#include "sgemm-groups.h"

#endif
