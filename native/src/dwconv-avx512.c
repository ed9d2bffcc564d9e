/* Depthwise conv, one output pixel, AVX-512F: 32 channels a step (two zmm accumulators), masked tail; mul then add. */
#include "internal.h"

#if SOFAR_X86
#include <immintrin.h>

SOFAR_TARGET_AVX512 static inline __m512 finish(__m512 acc, const float *bias, const float *res, int relu, size_t q,
                                                __mmask16 m) {
  if (bias) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, bias + q));
  if (res) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, res + q));
  if (relu) acc = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(acc, _mm512_setzero_ps(), _CMP_GT_OQ), acc);
  return acc;
}

SOFAR_TARGET_AVX512 void sofar_dwconv_avx512(size_t c, size_t ntaps, const float *const *taps, const float *w,
                                             const float *bias, const float *res, float *y, int relu) {
  size_t q = 0;
  for (; q + 32 <= c; q += 32) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    for (size_t t = 0; t < ntaps; t++) {
      if (!taps[t]) continue;
      const float *xt = taps[t] + q, *wt = w + t * c + q;
      a0 = _mm512_add_ps(a0, _mm512_mul_ps(_mm512_loadu_ps(xt), _mm512_loadu_ps(wt)));
      a1 = _mm512_add_ps(a1, _mm512_mul_ps(_mm512_loadu_ps(xt + 16), _mm512_loadu_ps(wt + 16)));
    }
    _mm512_storeu_ps(y + q, finish(a0, bias, res, relu, q, 0xffff));
    _mm512_storeu_ps(y + q + 16, finish(a1, bias, res, relu, q + 16, 0xffff));
  }
  for (; q < c; q += 16) {
    const size_t left = c - q;
    const __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
    __m512 a = _mm512_setzero_ps();
    for (size_t t = 0; t < ntaps; t++) {
      if (!taps[t]) continue;
      a = _mm512_add_ps(a, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, taps[t] + q), _mm512_maskz_loadu_ps(m, w + t * c + q)));
    }
    _mm512_mask_storeu_ps(y + q, m, finish(a, bias, res, relu, q, m));
  }
}
#endif
