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

void sofar_pack_row_neon(const float *x, const float *scale, const float *shift, uint64_t *y, size_t channels) {
  size_t w0 = 0;
  for (; w0 + 64 <= channels; w0 += 64) {
    uint64_t word = 0;
    for (size_t q = 0; q < 16; q++) {
      const size_t c0 = w0 + q * 4;
      float32x4_t v = vld1q_f32(x + c0);
      if (scale) v = vmulq_f32(v, vld1q_f32(scale + c0));
      if (shift) v = vaddq_f32(v, vld1q_f32(shift + c0));
      word |= (uint64_t)signs4(v) << (q * 4);
    }
    y[w0 / 64] = word;
  }
  if (w0 < channels)
    sofar_pack_row_scalar(x + w0, scale ? scale + w0 : NULL, shift ? shift + w0 : NULL, y + w0 / 64, channels - w0);
}

/* Channels outer, pixels inner: each 4-channel vector of every per-channel operand is loaded once per block.
   With groups of a multiple of 4 channels, the signs are packed on the fly (4 bits per vector). */
void sofar_bconv_transform_neon(const struct sofar_bconv_out *e, size_t p0, size_t mr, const int32_t *pc,
                                const int32_t *const *corr, float *tmp) {
  const int fused = sofar_bconv_out_begin(e, p0, mr, 4, 0, 1);
  const size_t cout = e->cout, yp_c = e->yp_c;
  const int32x4_t vk = vdupq_n_s32(e->kbits);
  const float32x4_t zero = vdupq_n_f32(0.0f);
  const int affine_pack = sofar_out_packs_affine(e);
  const float *res_before = e->res_after ? NULL : e->res, *res_after = e->res_after ? e->res : NULL;
  size_t o = 0;
  for (; o + 4 <= cout; o += 4) {
#define LOAD(vec) (vec ? vld1q_f32(vec + o) : zero)
    const float32x4_t mul = LOAD(e->mul), bias = LOAD(e->bias), alpha = LOAD(e->alpha), post = LOAD(e->post);
    const float32x4_t scale = LOAD(e->scale), ps = LOAD(e->pack_scale), pt = LOAD(e->pack_shift);
#undef LOAD
    const size_t q = o / (fused ? yp_c : 1), gp = o - q * (fused ? yp_c : 1);
    const size_t word = q * e->yp_wg + gp / 64, shift = gp % 64;
    for (size_t r = 0; r < mr; r++) {
      const size_t pix = p0 + r;
      /* wrapping int32 arithmetic, as the reference's unsigned form */
      int32x4_t acc = vsubq_s32(vk, vshlq_n_s32(vld1q_s32(pc + r * cout + o), 1));
      if (corr && corr[r]) acc = vsubq_s32(acc, vld1q_s32(corr[r] + o));
      float32x4_t v = vcvtq_f32_s32(acc);
      if (e->mul) v = vmulq_f32(v, mul);
      v = vaddq_f32(v, bias);
      if (res_before) v = vaddq_f32(v, vld1q_f32(res_before + (pix - e->res_p0) * e->rs + o));
      if (e->res2) v = vaddq_f32(v, vld1q_f32(e->res2 + pix * e->r2s + o));
      if (e->alpha) v = vbslq_f32(vcltq_f32(v, zero), vmulq_f32(alpha, v), v);
      if (e->scale) v = vaddq_f32(vmulq_f32(v, scale), post);
      else if (e->post) v = vaddq_f32(v, post);
      if (res_after) v = vaddq_f32(v, vld1q_f32(res_after + (pix - e->res_p0) * e->rs + o));
      if (fused) {
        float32x4_t s = v;
        if (e->pack_scale) s = vmulq_f32(s, ps);
        if (affine_pack) s = vaddq_f32(s, pt);
        e->yp[pix * e->yps + word] |= (uint64_t)signs4(s) << shift;
        if (e->y) vst1q_f32(e->y + pix * e->ys + o, v);
      } else {
        vst1q_f32(sofar_out_row(e, pix, r, tmp) + o, v);
      }
    }
  }
  sofar_bconv_out_finish(e, p0, mr, pc, corr, tmp, o, fused, sofar_pack_row_neon);
}

#endif
