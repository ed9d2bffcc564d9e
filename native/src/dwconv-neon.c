/* Depthwise conv, one output pixel, NEON (AArch64): 8 channels a step (two float32x4), scalar tail; mul then add (no FMLA). */
#include "internal.h"

#if SOFAR_ARM64
#include <arm_neon.h>

static inline float32x4_t finish(float32x4_t acc, const float *bias, const float *res, int relu, size_t q) {
  if (bias) acc = vaddq_f32(acc, vld1q_f32(bias + q));
  if (res) acc = vaddq_f32(acc, vld1q_f32(res + q));
  if (relu) acc = vbslq_f32(vcgtq_f32(acc, vdupq_n_f32(0.0f)), acc, vdupq_n_f32(0.0f));
  return acc;
}

void sofar_dwconv_neon(size_t c, size_t ntaps, const float *const *taps, const float *w, const float *bias,
                       const float *res, float *y, int relu) {
  size_t q = 0;
  for (; q + 8 <= c; q += 8) {
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0;
    for (size_t t = 0; t < ntaps; t++) {
      if (!taps[t]) continue;
      const float *xt = taps[t] + q, *wt = w + t * c + q;
      a0 = vaddq_f32(a0, vmulq_f32(vld1q_f32(xt), vld1q_f32(wt)));
      a1 = vaddq_f32(a1, vmulq_f32(vld1q_f32(xt + 4), vld1q_f32(wt + 4)));
    }
    vst1q_f32(y + q, finish(a0, bias, res, relu, q));
    vst1q_f32(y + q + 4, finish(a1, bias, res, relu, q + 4));
  }
  sofar_dwconv_range_scalar(q, c, c, ntaps, taps, w, bias, res, y, relu);
}
#endif
