/*
 * Binary conv pieces for 64-bit Arm (AArch64 Advanced SIMD, baseline on every AArch64 CPU: Apple silicon,
 * Raspberry Pi 4/5, Graviton, phones). Popcount: CNT counts the bits of each byte; byte counts of up to
 * 31 k steps are summed in bytes (at most 31 x 8 = 248), then widened pairwise (UADDLP, UADALP) into
 * 32-bit lanes; each 64-bit lane's total is its two 32-bit halves.
 * bgemm tile: 2 pixels x 8 output channels (4 q-registers of 2 channels per pixel).
 * The output transform multiplies and adds in separate steps, as the scalar reference does, so its
 * floats are identical to it (no fused multiply-add).
 */
#include "internal.h"

#if SOFAR_ARM64
#include <arm_neon.h>

#define MR 2
#define KBLOCK 31

/* The 64-bit lanes of four u32x4 accumulators (channel pairs 0-1, 2-3, 4-5, 6-7) as 8 int32 counts. */
static inline void store_counts(const uint32x4_t s[4], int32_t *c, size_t nr) {
  int32_t out[8];
  for (int q = 0; q < 4; q++) {
    const uint64x2_t pair = vpaddlq_u32(s[q]);
    out[2 * q] = (int32_t)vgetq_lane_u64(pair, 0);
    out[2 * q + 1] = (int32_t)vgetq_lane_u64(pair, 1);
  }
  for (size_t j = 0; j < nr; j++) c[j] = out[j];
}

void sofar_bgemm_neon(size_t mr, size_t nr, size_t nseg, size_t seg_len, const uint64_t *const *a, const uint64_t *b,
                      int32_t *c, size_t c_stride) {
  /* nr <= 8: one block of 8 channels */
  uint32x4_t s0[4], s1[4];
  for (int q = 0; q < 4; q++) s0[q] = s1[q] = vdupq_n_u32(0);
  const uint64_t *bk = b;
  for (size_t sg = 0; sg < nseg; sg++) {
    const uint64_t *a0 = a[sg * SOFAR_MR_MAX], *a1 = a[sg * SOFAR_MR_MAX + 1];
    for (size_t k0 = 0; k0 < seg_len; k0 += KBLOCK) {
      const size_t k1 = sofar_min(seg_len, k0 + KBLOCK);
      uint8x16_t c0[4], c1[4];
      for (int q = 0; q < 4; q++) c0[q] = c1[q] = vdupq_n_u8(0);
      for (size_t k = k0; k < k1; k++, bk += 8) {
        const uint64x2_t x0 = vdupq_n_u64(a0[k]), x1 = vdupq_n_u64(a1[k]);
        for (int q = 0; q < 4; q++) {
          const uint64x2_t w = vld1q_u64(bk + 2 * q);
          c0[q] = vaddq_u8(c0[q], vcntq_u8(vreinterpretq_u8_u64(veorq_u64(x0, w))));
          c1[q] = vaddq_u8(c1[q], vcntq_u8(vreinterpretq_u8_u64(veorq_u64(x1, w))));
        }
      }
      for (int q = 0; q < 4; q++) {
        s0[q] = vpadalq_u16(s0[q], vpaddlq_u8(c0[q]));
        s1[q] = vpadalq_u16(s1[q], vpaddlq_u8(c1[q]));
      }
    }
  }
  store_counts(s0, c, nr);
  if (mr > 1) store_counts(s1, c + c_stride, nr);
}

/* The signs of 4 floats as the low 4 bits (bit i = x[i] < 0; NaN and -0 give 0, as in the reference). */
static inline unsigned signs4(float32x4_t v) {
  static const uint32_t weights[4] = {1, 2, 4, 8};
  return vaddvq_u32(vandq_u32(vcltq_f32(v, vdupq_n_f32(0.0f)), vld1q_u32(weights)));
}

void sofar_pack_row_neon(const float *x, uint64_t *y, size_t channels) {
  size_t w0 = 0;
  for (; w0 + 64 <= channels; w0 += 64) {
    uint64_t word = 0;
    for (size_t q = 0; q < 16; q++) word |= (uint64_t)signs4(vld1q_f32(x + w0 + q * 4)) << (q * 4);
    y[w0 / 64] = word;
  }
  if (w0 < channels) sofar_pack_row_scalar(x + w0, y + w0 / 64, channels - w0);
}

void sofar_bconv_transform_neon(size_t cout, int32_t kbits, const int32_t *pc, const int32_t *corr,
                                const float *multiplier, const float *bias, const float *res, const float *alpha,
                                const float *post, const struct sofar_bconv_tail *tail, float *y, uint64_t *yp,
                                size_t yp_c, size_t yp_wg, float *tmp) {
  if (yp && sofar_tail_packs_affine(tail)) { /* the signs of an affine map of the output: the reference */
    sofar_bconv_transform_scalar(cout, kbits, pc, corr, multiplier, bias, res, alpha, post, tail, y, yp, yp_c, yp_wg, tmp);
    return;
  }
  const int32x4_t vk = vdupq_n_s32(kbits);
  const struct sofar_bconv_tail tl = sofar_tail_or_none(tail);
  const float *scale = tl.scale, *res_after = tl.res;
  float *out = y ? y : tmp;
  size_t o = 0;
  for (; o + 4 <= cout; o += 4) {
    /* wrapping int32 arithmetic, as the reference's unsigned form */
    int32x4_t acc = vsubq_s32(vk, vshlq_n_s32(vld1q_s32(pc + o), 1));
    if (corr) acc = vsubq_s32(acc, vld1q_s32(corr + o));
    float32x4_t v = vcvtq_f32_s32(acc);
    if (multiplier) v = vmulq_f32(v, vld1q_f32(multiplier + o));
    v = vaddq_f32(v, bias ? vld1q_f32(bias + o) : vdupq_n_f32(0.0f));
    if (res) v = vaddq_f32(v, vld1q_f32(res + o));
    if (alpha) v = vbslq_f32(vcltq_f32(v, vdupq_n_f32(0.0f)), vmulq_f32(vld1q_f32(alpha + o), v), v);
    if (scale) v = vaddq_f32(vmulq_f32(v, vld1q_f32(scale + o)), post ? vld1q_f32(post + o) : vdupq_n_f32(0.0f));
    else if (post) v = vaddq_f32(v, vld1q_f32(post + o));
    if (res_after) v = vaddq_f32(v, vld1q_f32(res_after + o));
    vst1q_f32(out + o, v);
  }
  if (o < cout)
  {
    const struct sofar_bconv_tail rest = tail ? sofar_tail_at(tail, o) : (struct sofar_bconv_tail){0};
    sofar_bconv_transform_scalar(cout - o, kbits, pc + o, corr ? corr + o : NULL, multiplier ? multiplier + o : NULL,
                                 bias ? bias + o : NULL, res ? res + o : NULL, alpha ? alpha + o : NULL,
                                 post ? post + o : NULL, tail ? &rest : NULL, out + o, NULL, 1, 1, NULL);
  }
  if (yp)
    for (size_t q = 0; q < cout / yp_c; q++) sofar_pack_row_neon(out + q * yp_c, yp + q * yp_wg, yp_c);
}

#endif
