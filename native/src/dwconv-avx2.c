/* Depthwise conv, one output pixel, AVX2: 16 channels a step (two ymm accumulators), masked tail; mul then add. */
#include "internal.h"

#if SOFAR_X86
#include <immintrin.h>

SOFAR_TARGET_AVX2 static inline __m256i tail_mask(size_t n) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lanes);
}

SOFAR_TARGET_AVX2 static inline __m256 finish(__m256 acc, const float *bias, const float *res, int relu, size_t q,
                                              __m256i m) {
  if (bias) acc = _mm256_add_ps(acc, _mm256_maskload_ps(bias + q, m));
  if (res) acc = _mm256_add_ps(acc, _mm256_maskload_ps(res + q, m));
  if (relu) acc = _mm256_and_ps(acc, _mm256_cmp_ps(acc, _mm256_setzero_ps(), _CMP_GT_OQ));
  return acc;
}

SOFAR_TARGET_AVX2 void sofar_dwconv_avx2(size_t c, size_t ntaps, const float *const *taps, const float *w,
                                         const float *bias, const float *res, float *y, int relu) {
  const __m256i all = _mm256_set1_epi32(-1);
  size_t q = 0;
  for (; q + 16 <= c; q += 16) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (size_t t = 0; t < ntaps; t++) {
      if (!taps[t]) continue;
      const float *xt = taps[t] + q, *wt = w + t * c + q;
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(xt), _mm256_loadu_ps(wt)));
      a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(xt + 8), _mm256_loadu_ps(wt + 8)));
    }
    _mm256_storeu_ps(y + q, finish(a0, bias, res, relu, q, all));
    _mm256_storeu_ps(y + q + 8, finish(a1, bias, res, relu, q + 8, all));
  }
  for (; q < c; q += 8) {
    const __m256i m = tail_mask(c - q);
    __m256 a = _mm256_setzero_ps();
    for (size_t t = 0; t < ntaps; t++) {
      if (!taps[t]) continue;
      a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_maskload_ps(taps[t] + q, m), _mm256_maskload_ps(w + t * c + q, m)));
    }
    _mm256_maskstore_ps(y + q, m, finish(a, bias, res, relu, q, m));
  }
}
#endif
