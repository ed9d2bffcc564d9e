/*
 * Binary conv pieces for AVX2 (+ FMA + POPCNT). Popcount of 64-bit lanes: the nibble look-up table
 * (vpshufb on the low and high nibbles, vpaddb) then vpsadbw against zero, which sums the 8 byte counts of
 * each 64-bit lane (Mula, Kurz, Lemire). Byte counts of several k are summed before the vpsadbw (at most
 * 31 steps of <= 8, so no byte overflows).
 * bgemm tile: 3 pixels x 8 output channels (2 ymm of 4 channels per pixel).
 */
#include "internal.h"

#if SOFAR_X86
#include <immintrin.h>

#define MR 3
#define KBLOCK 31

SOFAR_TARGET_AVX2 void sofar_bgemm_avx2(size_t mr, size_t nr, size_t nseg, size_t seg_len, const uint64_t *const *a,
                                        const uint64_t *b, int32_t *c, size_t c_stride) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2,
                                       2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  const __m256i zero = _mm256_setzero_si256();
  /* nr <= 8: one block of 8 channels */
  __m256i s00 = zero, s01 = zero, s10 = zero, s11 = zero, s20 = zero, s21 = zero; /* 64-bit sums */
  const uint64_t *bk = b;
  for (size_t sg = 0; sg < nseg; sg++) {
    const uint64_t *const *as = a + sg * SOFAR_MR_MAX;
    const uint64_t *a0 = as[0], *a1 = as[1], *a2 = as[2];
    for (size_t k0 = 0; k0 < seg_len; k0 += KBLOCK) {
      const size_t k1 = sofar_min(seg_len, k0 + KBLOCK);
      __m256i c00 = zero, c01 = zero, c10 = zero, c11 = zero, c20 = zero, c21 = zero; /* byte counts */
      for (size_t k = k0; k < k1; k++, bk += 8) {
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)bk);
        const __m256i w1 = _mm256_loadu_si256((const __m256i *)(bk + 4));
        __m256i x, v;
#define COUNT(acc, w)                                                                                  \
  v = _mm256_xor_si256(x, w);                                                                          \
  acc = _mm256_add_epi8(acc, _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(v, low)),      \
                                             _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low))));
        x = _mm256_set1_epi64x((long long)a0[k]);
        COUNT(c00, w0) COUNT(c01, w1)
        x = _mm256_set1_epi64x((long long)a1[k]);
        COUNT(c10, w0) COUNT(c11, w1)
        x = _mm256_set1_epi64x((long long)a2[k]);
        COUNT(c20, w0) COUNT(c21, w1)
#undef COUNT
      }
      s00 = _mm256_add_epi64(s00, _mm256_sad_epu8(c00, zero));
      s01 = _mm256_add_epi64(s01, _mm256_sad_epu8(c01, zero));
      s10 = _mm256_add_epi64(s10, _mm256_sad_epu8(c10, zero));
      s11 = _mm256_add_epi64(s11, _mm256_sad_epu8(c11, zero));
      s20 = _mm256_add_epi64(s20, _mm256_sad_epu8(c20, zero));
      s21 = _mm256_add_epi64(s21, _mm256_sad_epu8(c21, zero));
    }
  }
  /* the low 32 bits of each 64-bit lane, 8 int32 per pixel */
  const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i store_mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr), lanes);
  __m256i rows[MR];
  rows[0] = _mm256_permute2x128_si256(_mm256_permutevar8x32_epi32(s00, even), _mm256_permutevar8x32_epi32(s01, even), 0x20);
  rows[1] = _mm256_permute2x128_si256(_mm256_permutevar8x32_epi32(s10, even), _mm256_permutevar8x32_epi32(s11, even), 0x20);
  rows[2] = _mm256_permute2x128_si256(_mm256_permutevar8x32_epi32(s20, even), _mm256_permutevar8x32_epi32(s21, even), 0x20);
  /* plain stores when all 8 counts are kept: vpmaskmovd stores are slow (microcoded on AMD cores) */
  for (size_t r = 0; r < mr && r < MR; r++) {
    if (nr == 8) _mm256_storeu_si256((__m256i *)(c + r * c_stride), rows[r]);
    else _mm256_maskstore_epi32((int *)(c + r * c_stride), store_mask, rows[r]);
  }
}

/* Channels outer, pixels inner: each 8-channel vector of every per-channel operand is loaded once per block;
   f: what it does (SOFAR_TF_*, a constant in the common cases). Fused (groups of a multiple of 8 channels):
   each vector's signs are a byte of a packed word. Returns the channels done (the rest: the reference). */
SOFAR_TARGET_AVX2 SOFAR_INLINE size_t transform(const struct sofar_bconv_out *e, size_t p0, size_t mr,
                                                const int32_t *pc, const int32_t *const *corr, float *tmp,
                                                const unsigned f) {
  const struct sofar_bconv_out el = *e; /* a local copy: the packed bits' byte stores cannot alias it */
  e = &el;
  const size_t cout = e->cout, yp_c = e->yp_c, rs = e->rs, ys = e->ys, yps = e->yps;
  const __m256i vk = _mm256_set1_epi32(e->kbits);
  const __m256 zero = _mm256_setzero_ps();
  const float *const res = e->res;
  float *const y = e->y;
  unsigned char *const ypb = (unsigned char *)e->yp;
  size_t o = 0, q = 0, gp = 0; /* o's group of packed signs, and o's channel in it (no division per vector) */
  for (; o + 8 <= cout; o += 8, gp += 8) {
    if ((f & SOFAR_TF_FUSED) && gp == yp_c) q++, gp = 0;
    /* prefetch the lines SOFAR_OUT_AHEAD pixels on (see sofar_bconv_out_prefetch) from every other vector */
    const int line = o % 16 == 0;
#define LOAD(vec) (vec ? _mm256_loadu_ps(vec + o) : zero)
    const __m256 mul = LOAD(e->mul), bias = LOAD(e->bias), alpha = LOAD(e->alpha), post = LOAD(e->post);
    const __m256 scale = LOAD(e->scale), ps = LOAD(e->pack_scale), pt = LOAD(e->pack_shift);
#undef LOAD
    const size_t bits_at = (q * e->yp_wg + gp / 64) * 8 + (gp % 64) / 8; /* bytes into a pixel's packed words */
    const int32_t *pcr = pc + o;
    for (size_t r = 0, pix = p0; r < mr; r++, pix++, pcr += cout) {
      if (line && pix + SOFAR_OUT_AHEAD < e->pf_end) {
        if ((f & (SOFAR_TF_RES_BEFORE | SOFAR_TF_RES_AFTER)) && !e->res_p0) __builtin_prefetch(res + (pix + SOFAR_OUT_AHEAD) * rs + o, 0, 3);
        if (f & SOFAR_TF_RES2) __builtin_prefetch(e->res2 + (pix + SOFAR_OUT_AHEAD) * e->r2s + o, 0, 3);
        if (f & SOFAR_TF_Y) __builtin_prefetch(y + (pix + SOFAR_OUT_AHEAD) * ys + o, 1, 3);
      }
      __m256i acc = _mm256_sub_epi32(vk, _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)pcr), 1));
      if (corr && corr[r]) acc = _mm256_sub_epi32(acc, _mm256_loadu_si256((const __m256i *)(corr[r] + o)));
      __m256 v = _mm256_cvtepi32_ps(acc);
      if (f & SOFAR_TF_MUL) v = _mm256_mul_ps(v, mul);
      v = _mm256_add_ps(v, bias);
      if (f & SOFAR_TF_RES_BEFORE) v = _mm256_add_ps(v, _mm256_loadu_ps(res + (pix - e->res_p0) * rs + o));
      if (f & SOFAR_TF_RES2) v = _mm256_add_ps(v, _mm256_loadu_ps(e->res2 + pix * e->r2s + o));
      if (f & SOFAR_TF_ALPHA) v = _mm256_blendv_ps(v, _mm256_mul_ps(alpha, v), _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
      if (f & SOFAR_TF_SCALE) v = _mm256_add_ps(_mm256_mul_ps(v, scale), post);
      else if (f & SOFAR_TF_POST) v = _mm256_add_ps(v, post);
      if (f & SOFAR_TF_RES_AFTER) v = _mm256_add_ps(v, _mm256_loadu_ps(res + (pix - e->res_p0) * rs + o));
      if (f & SOFAR_TF_FUSED) {
        __m256 s = v;
        if (f & SOFAR_TF_PACK_SCALE) s = _mm256_mul_ps(s, ps);
        if (f & (SOFAR_TF_PACK_SCALE | SOFAR_TF_PACK_SHIFT)) s = _mm256_add_ps(s, pt);
        ypb[pix * yps * 8 + bits_at] = (unsigned char)_mm256_movemask_ps(_mm256_cmp_ps(s, zero, _CMP_LT_OQ));
        if (f & SOFAR_TF_Y) _mm256_storeu_ps(y + pix * ys + o, v);
      } else {
        _mm256_storeu_ps(sofar_out_row(e, pix, r, tmp) + o, v);
      }
    }
  }
  return o;
}

SOFAR_TARGET_AVX2 void sofar_bconv_transform_avx2(const struct sofar_bconv_out *e, size_t p0, size_t mr,
                                                  const int32_t *pc, const int32_t *const *corr, float *tmp) {
  const int fused = sofar_bconv_out_begin(e, p0, mr, 8, 0, 0);
  const unsigned f = sofar_bconv_out_flags(e, fused);
  size_t done = 0;
#define BODY(...) done = transform(__VA_ARGS__)
  SOFAR_TF_DISPATCH(BODY, f, e, p0, mr, pc, corr, tmp)
#undef BODY
  sofar_bconv_out_finish(e, p0, mr, pc, corr, tmp, done, fused, sofar_pack_row_avx2);
}

SOFAR_TARGET_AVX2 void sofar_pack_row_avx2(const float *x, const float *scale, const float *shift, uint64_t *y,
                                           size_t channels) {
  const __m256 zero = _mm256_setzero_ps();
  size_t w0 = 0;
  for (; w0 + 64 <= channels; w0 += 64) {
    uint64_t word = 0;
    for (size_t q = 0; q < 8; q++) {
      const size_t c0 = w0 + q * 8;
      __m256 v = _mm256_loadu_ps(x + c0);
      if (scale) v = _mm256_mul_ps(v, _mm256_loadu_ps(scale + c0));
      if (shift) v = _mm256_add_ps(v, _mm256_loadu_ps(shift + c0));
      word |= (uint64_t)(unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_LT_OQ)) << (q * 8);
    }
    y[w0 / 64] = word;
  }
  if (w0 == channels) return;
  /* the last, partial word: whole vectors of 8, then the few channels left one by one (ReActNet's 32-channel
     and RF's 41-channel rows are all partial: 20 -> 3.5 ns a 32-channel row, 26 -> 4.8 a 41-channel one) */
  uint64_t word = 0;
  size_t c0 = w0;
  for (; c0 + 8 <= channels; c0 += 8) {
    __m256 v = _mm256_loadu_ps(x + c0);
    if (scale) v = _mm256_mul_ps(v, _mm256_loadu_ps(scale + c0));
    if (shift) v = _mm256_add_ps(v, _mm256_loadu_ps(shift + c0));
    word |= (uint64_t)(unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_LT_OQ)) << (c0 - w0);
  }
  for (; c0 < channels; c0++) {
    float v = x[c0];
    if (scale) v = v * scale[c0];
    if (shift) v = v + shift[c0];
    word |= (uint64_t)(v < 0.0f) << (c0 - w0);
  }
  y[w0 / 64] = word;
}

#endif
