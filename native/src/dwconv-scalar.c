/* Depthwise conv, one output pixel, portable C: the reference the SIMD variants must equal bit for bit. */
#include "internal.h"

void sofar_dwconv_range_scalar(size_t q0, size_t q1, size_t c, size_t ntaps, const float *const *taps, const float *w,
                               const float *bias, const float *res, float *y, int relu) {
  for (size_t q = q0; q < q1; q++) {
    float acc = 0.0f;
    for (size_t t = 0; t < ntaps; t++)
      if (taps[t]) acc = acc + taps[t][q] * w[t * c + q];
    if (bias) acc = acc + bias[q];
    if (res) acc = acc + res[q];
    if (relu) acc = acc > 0.0f ? acc : 0.0f;
    y[q] = acc;
  }
}

void sofar_dwconv_scalar(size_t c, size_t ntaps, const float *const *taps, const float *w, const float *bias,
                         const float *res, float *y, int relu) {
  sofar_dwconv_range_scalar(0, c, c, ntaps, taps, w, bias, res, y, relu);
}
