/*
 * Float GEMM tile for 64-bit Arm (Advanced SIMD with FMLA): 4 rows x 16 columns, 16 q-register
 * accumulators. Narrower tiles (the last columns of a matrix, which may end there) take the scalar
 * reference, so nothing past column nr is read.
 */
#include "internal.h"

#if SOFAR_ARM64
#include <arm_neon.h>

#define MR 4

void sofar_sgemm_neon(size_t mr, size_t nr, size_t nseg, size_t seg_len, const float *const *a, const float *b,
                      size_t brs, size_t bps, float *c, size_t cs, const float *bias, const float *res, int relu) {
  if (nr < 16) {
    sofar_sgemm_scalar(mr, nr, nseg, seg_len, a, b, brs, bps, c, cs, bias, res, relu);
    return;
  }
  float32x4_t acc[MR][4];
  for (int r = 0; r < MR; r++)
    for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_f32(0.0f);
  const float *br = b;
  for (size_t sg = 0; sg < nseg; sg++) {
    const float *const *as = a + sg * SOFAR_MR_MAX;
    for (size_t kk = 0; kk < seg_len; kk++, br += brs) {
      const float32x4_t w0 = vld1q_f32(br), w1 = vld1q_f32(br + 4), w2 = vld1q_f32(br + 8), w3 = vld1q_f32(br + 12);
      for (int r = 0; r < MR; r++) {
        const float x = as[r][kk];
        acc[r][0] = vfmaq_n_f32(acc[r][0], w0, x);
        acc[r][1] = vfmaq_n_f32(acc[r][1], w1, x);
        acc[r][2] = vfmaq_n_f32(acc[r][2], w2, x);
        acc[r][3] = vfmaq_n_f32(acc[r][3], w3, x);
      }
    }
  }
  const float32x4_t zero = vdupq_n_f32(0.0f);
  for (size_t r = 0; r < mr && r < MR; r++) {
    for (int q = 0; q < 4; q++) {
      float32x4_t v = acc[r][q];
      if (bias) v = vaddq_f32(v, vld1q_f32(bias + 4 * q));
      if (res) v = vaddq_f32(v, vld1q_f32(res + r * cs + 4 * q));
      /* v > 0 ? v : 0, so NaN becomes 0 as in the reference */
      if (relu) v = vbslq_f32(vcgtq_f32(v, zero), v, zero);
      vst1q_f32(c + r * cs + 4 * q, v);
    }
  }
}

#endif
