/*
 * Binary conv pieces for AVX-512 (F + BW + VL + VPOPCNTDQ).
 * bgemm tile: 6 pixels x 32 output channels. The packed kernel holds 8 channels' words side by side per k,
 * so one vpxorq (activation word broadcast against 8 channels) + vpopcntq + vpaddq does 8 channels x 64
 * binary MACs; 24 accumulators of 8 int64 lanes stay in registers over the whole K loop. Blocks of at most
 * 2 or 4 pixels run a tile of that many rows.
 */
#include "internal.h"

#if SOFAR_X86
#include <immintrin.h>

#define MR 6

SOFAR_TARGET_AVX512 SOFAR_INLINE void bgemm_tile(size_t mr, size_t nr, size_t nseg, size_t seg_len,
                                                 const uint64_t *const *a, const uint64_t *b, int32_t *c,
                                                 size_t c_stride, const int nb, const int rows) {
  __m512i acc[MR][4];
#pragma GCC unroll 6
  for (int r = 0; r < rows; r++)
#pragma GCC unroll 4
    for (int j = 0; j < nb; j++) acc[r][j] = _mm512_setzero_si512();
  const size_t bs = nseg * seg_len * 8; /* words between blocks of 8 channels */
  const uint64_t *bk = b;
  for (size_t sg = 0; sg < nseg; sg++) {
    const uint64_t *const *as = a + sg * SOFAR_MR_MAX;
    const uint64_t *a0 = as[0], *a1 = as[1], *a2 = as[2], *a3 = as[3], *a4 = as[4], *a5 = as[5];
    for (size_t k = 0; k < seg_len; k++, bk += 8) {
      __m512i w[4];
#pragma GCC unroll 4
      for (int j = 0; j < nb; j++) w[j] = _mm512_loadu_si512((const void *)(bk + j * bs));
      __m512i x;
#define ROW(r, ar)                                                                             \
  x = _mm512_set1_epi64((long long)ar[k]);                                                     \
  _Pragma("GCC unroll 4") for (int j = 0; j < nb; j++)                                         \
      acc[r][j] = _mm512_add_epi64(acc[r][j], _mm512_popcnt_epi64(_mm512_xor_si512(x, w[j])));
      ROW(0, a0) ROW(1, a1)
      if (rows > 2) { ROW(2, a2) ROW(3, a3) }
      if (rows > 4) { ROW(4, a4) ROW(5, a5) }
#undef ROW
    }
  }
  /* counts fit in 32 bits: two blocks' low halves make one vector of 16 int32 (one store, not two narrowing
     masked stores, which are slow on some cores) */
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __mmask16 m01 = (__mmask16)(nr >= 16 ? 0xffffu : (1u << nr) - 1);
  const __mmask16 m23 = (__mmask16)(nr >= 32 ? 0xffffu : nr > 16 ? (1u << (nr - 16)) - 1 : 0);
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++) {
    if ((size_t)r >= mr) break;
    int32_t *cr = c + (size_t)r * c_stride;
    if (nb == 1) {
      _mm256_mask_storeu_epi32(cr, (__mmask8)m01, _mm512_cvtepi64_epi32(acc[r][0]));
    } else {
      _mm512_mask_storeu_epi32(cr, m01, _mm512_permutex2var_epi32(acc[r][0], even, acc[r][1]));
      if (nb == 3) _mm256_mask_storeu_epi32(cr + 16, (__mmask8)m23, _mm512_cvtepi64_epi32(acc[r][2]));
      if (nb == 4) _mm512_mask_storeu_epi32(cr + 16, m23, _mm512_permutex2var_epi32(acc[r][2], even, acc[r][3]));
    }
  }
}

SOFAR_TARGET_AVX512 void sofar_bgemm_avx512(size_t mr, size_t nr, size_t nseg, size_t seg_len,
                                            const uint64_t *const *a, const uint64_t *b, int32_t *c,
                                            size_t c_stride) {
  /* a block's last pixels (a 7x7 map's 49th, a row segment's tail) in a tile of 2 or 4 rows, not 6 */
#define TILE(rows)                                                                        \
  switch ((nr + 7) / 8) {                                                                 \
    case 4: bgemm_tile(mr, nr, nseg, seg_len, a, b, c, c_stride, 4, rows); break;         \
    case 3: bgemm_tile(mr, nr, nseg, seg_len, a, b, c, c_stride, 3, rows); break;         \
    case 2: bgemm_tile(mr, nr, nseg, seg_len, a, b, c, c_stride, 2, rows); break;         \
    default: bgemm_tile(mr, nr, nseg, seg_len, a, b, c, c_stride, 1, rows); break;        \
  }
  if (mr <= 2) TILE(2)
  else if (mr <= 4) TILE(4)
  else TILE(6)
#undef TILE
}

/* One 16-channel vector of row r (pixel pix): counts at pcr, padding correction cr (NULL: none). */
SOFAR_TARGET_AVX512 SOFAR_INLINE void transform_vec(const struct sofar_bconv_out *e, size_t pix, size_t r, size_t o,
                                                    __mmask16 m, const int32_t *pcr, const int32_t *cr,
                                                    __m512i vk, __m512 mul, __m512 bias, __m512 alpha, __m512 post,
                                                    __m512 scale, __m512 ps, __m512 pt, size_t bits_at, float *tmp,
                                                    const unsigned f) {
  const __m512 zero = _mm512_setzero_ps();
  /* the same channels' lines SOFAR_OUT_AHEAD pixels on (see sofar_bconv_out_prefetch), one per vector */
  if (pix + SOFAR_OUT_AHEAD < e->pf_end) {
    if ((f & (SOFAR_TF_RES_BEFORE | SOFAR_TF_RES_AFTER)) && !e->res_p0)
      __builtin_prefetch(e->res + (pix + SOFAR_OUT_AHEAD) * e->rs + o, 0, 3);
    if (f & SOFAR_TF_RES2) __builtin_prefetch(e->res2 + (pix + SOFAR_OUT_AHEAD) * e->r2s + o, 0, 3);
    if (f & SOFAR_TF_Y) __builtin_prefetch(e->y + (pix + SOFAR_OUT_AHEAD) * e->ys + o, 1, 3);
  }
  __m512i acc = _mm512_sub_epi32(vk, _mm512_slli_epi32(_mm512_maskz_loadu_epi32(m, pcr), 1));
  if (cr) acc = _mm512_sub_epi32(acc, _mm512_maskz_loadu_epi32(m, cr));
  __m512 v = _mm512_cvtepi32_ps(acc);
  if (f & SOFAR_TF_MUL) v = _mm512_mul_ps(v, mul);
  v = _mm512_add_ps(v, bias);
  if (f & SOFAR_TF_RES_BEFORE) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, e->res + (pix - e->res_p0) * e->rs + o));
  if (f & SOFAR_TF_RES2) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, e->res2 + pix * e->r2s + o));
  if (f & SOFAR_TF_ALPHA) v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), alpha, v);
  if (f & SOFAR_TF_SCALE) v = _mm512_add_ps(_mm512_mul_ps(v, scale), post);
  else if (f & SOFAR_TF_POST) v = _mm512_add_ps(v, post);
  if (f & SOFAR_TF_RES_AFTER) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, e->res + (pix - e->res_p0) * e->rs + o));
  if (f & SOFAR_TF_FUSED) {
    __m512 s = v;
    if (f & SOFAR_TF_PACK_SCALE) s = _mm512_mul_ps(s, ps);
    if (f & (SOFAR_TF_PACK_SCALE | SOFAR_TF_PACK_SHIFT)) s = _mm512_add_ps(s, pt);
    const uint16_t bits = (uint16_t)_mm512_cmp_ps_mask(s, zero, _CMP_LT_OQ);
    memcpy((unsigned char *)e->yp + pix * e->yps * 8 + bits_at, &bits, 2);
    if (f & SOFAR_TF_Y) _mm512_mask_storeu_ps(e->y + pix * e->ys + o, m, v);
  } else {
    _mm512_mask_storeu_ps(sofar_out_row(e, pix, r, tmp) + o, m, v);
  }
}

/* Channels outer, pixels inner: each 16-channel vector of every per-channel operand is loaded once per block;
   f: what it does (SOFAR_TF_*, a constant in the common cases). Fused (groups of a multiple of 16 channels,
   or one group whose last vector is masked): each vector's sign mask is 16 bits of a packed word. Blocks
   without padding corrections (most) run a loop without the test, so that its few pointers stay in
   registers. */
SOFAR_TARGET_AVX512 SOFAR_INLINE void transform(const struct sofar_bconv_out *e, size_t p0, size_t mr,
                                                const int32_t *pc, const int32_t *const *corr, float *tmp,
                                                const unsigned f) {
  const struct sofar_bconv_out el = *e; /* a local copy: the packed bits' byte stores cannot alias it */
  e = &el;
  const size_t cout = e->cout;
  const __m512i vk = _mm512_set1_epi32(e->kbits);
  const __m512 zero = _mm512_setzero_ps();
  size_t q = 0, gp = 0; /* o's group of packed signs, and o's channel in it (no division per vector) */
  for (size_t o = 0; o < cout; o += 16, gp += 16) {
    if ((f & SOFAR_TF_FUSED) && gp == e->yp_c) q++, gp = 0;
    const size_t n = sofar_min(16, cout - o);
    const __mmask16 m = (__mmask16)((1u << n) - 1);
#define LOAD(vec) (vec ? _mm512_maskz_loadu_ps(m, vec + o) : zero)
    const __m512 mul = LOAD(e->mul), bias = LOAD(e->bias), alpha = LOAD(e->alpha), post = LOAD(e->post);
    const __m512 scale = LOAD(e->scale), ps = LOAD(e->pack_scale), pt = LOAD(e->pack_shift);
#undef LOAD
    const size_t bits_at = (q * e->yp_wg + gp / 64) * 8 + (gp % 64) / 8; /* bytes into a pixel's packed words */
    if (corr) {
      for (size_t r = 0; r < mr; r++)
        transform_vec(e, p0 + r, r, o, m, pc + r * cout + o, corr[r] ? corr[r] + o : NULL, vk, mul, bias, alpha, post,
                      scale, ps, pt, bits_at, tmp, f);
    } else {
      for (size_t r = 0; r < mr; r++)
        transform_vec(e, p0 + r, r, o, m, pc + r * cout + o, NULL, vk, mul, bias, alpha, post, scale, ps, pt, bits_at,
                      tmp, f);
    }
  }
}

SOFAR_TARGET_AVX512 void sofar_bconv_transform_avx512(const struct sofar_bconv_out *e, size_t p0, size_t mr,
                                                      const int32_t *pc, const int32_t *const *corr, float *tmp) {
  const int fused = sofar_bconv_out_begin(e, p0, mr, 16, 1, 0);
  const unsigned f = sofar_bconv_out_flags(e, fused);
  SOFAR_TF_DISPATCH(transform, f, e, p0, mr, pc, corr, tmp)
  sofar_bconv_out_finish(e, p0, mr, pc, corr, tmp, e->cout, fused, sofar_pack_row_avx512);
}

/* The sign mask of 16 floats (n of them, mask m) after the optional scale and shift. */
SOFAR_TARGET_AVX512 SOFAR_INLINE __mmask16 signs16(const float *x, const float *scale, const float *shift, __mmask16 m) {
  __m512 v = _mm512_maskz_loadu_ps(m, x);
  if (scale) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, scale));
  if (shift) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, shift));
  return _mm512_mask_cmp_ps_mask(m, v, _mm512_setzero_ps(), _CMP_LT_OQ);
}

SOFAR_TARGET_AVX512 void sofar_pack_row_avx512(const float *x, const float *scale, const float *shift, uint64_t *y,
                                               size_t channels) {
  size_t w0 = 0;
  for (; w0 + 64 <= channels; w0 += 64) { /* whole words: four full vectors */
    uint64_t word = 0;
#pragma GCC unroll 4
    for (size_t q = 0; q < 4; q++) {
      const size_t c0 = w0 + q * 16;
      word |= (uint64_t)signs16(x + c0, scale ? scale + c0 : NULL, shift ? shift + c0 : NULL, 0xffff) << (q * 16);
    }
    y[w0 / 64] = word;
  }
  if (w0 == channels) return;
  uint64_t word = 0;
  for (size_t c0 = w0; c0 < channels; c0 += 16) {
    const size_t n = sofar_min(16, channels - c0);
    const __mmask16 m = (__mmask16)((1u << n) - 1);
    word |= (uint64_t)signs16(x + c0, scale ? scale + c0 : NULL, shift ? shift + c0 : NULL, m) << (c0 - w0);
  }
  y[w0 / 64] = word;
}

/* Rows of at most 64 channels (one word): the nv vectors of thresholds stay in registers over the rows. */
SOFAR_TARGET_AVX512 SOFAR_INLINE void pack_rows_word(const float *x, size_t xs, const float *scale, const float *shift,
                                                     uint64_t *y, size_t ys, size_t channels, size_t rows,
                                                     const int nv) {
  __m512 sc[4], sh[4];
  __mmask16 m[4];
#pragma GCC unroll 4
  for (int q = 0; q < nv; q++) {
    const size_t n = sofar_min(16, channels - (size_t)q * 16);
    m[q] = (__mmask16)((1u << n) - 1);
    sc[q] = scale ? _mm512_maskz_loadu_ps(m[q], scale + q * 16) : _mm512_setzero_ps();
    sh[q] = shift ? _mm512_maskz_loadu_ps(m[q], shift + q * 16) : _mm512_setzero_ps();
  }
  for (size_t r = 0; r < rows; r++, x += xs, y += ys) {
    uint64_t word = 0;
#pragma GCC unroll 4
    for (int q = 0; q < nv; q++) {
      __m512 v = _mm512_maskz_loadu_ps(m[q], x + q * 16);
      if (scale) v = _mm512_mul_ps(v, sc[q]);
      if (shift) v = _mm512_add_ps(v, sh[q]);
      word |= (uint64_t)_mm512_mask_cmp_ps_mask(m[q], v, _mm512_setzero_ps(), _CMP_LT_OQ) << (q * 16);
    }
    *y = word;
  }
}

SOFAR_TARGET_AVX512 void sofar_pack_rows_avx512(const float *x, size_t xs, const float *scale, const float *shift,
                                                uint64_t *y, size_t ys, size_t channels, size_t rows) {
  switch (channels > 64 ? 0 : (channels + 15) / 16) {
    case 1: pack_rows_word(x, xs, scale, shift, y, ys, channels, rows, 1); break;
    case 2: pack_rows_word(x, xs, scale, shift, y, ys, channels, rows, 2); break;
    case 3: pack_rows_word(x, xs, scale, shift, y, ys, channels, rows, 3); break;
    case 4: pack_rows_word(x, xs, scale, shift, y, ys, channels, rows, 4); break;
    default:
      for (size_t r = 0; r < rows; r++) sofar_pack_row_avx512(x + r * xs, scale, shift, y + r * ys, channels);
  }
}

/* sofar_pool_pairs_fn: x/4 and x*0.25 are the same float (a power of two) */
SOFAR_TARGET_AVX512 void sofar_pool_pairs_avx512(float *y, size_t ys, const float *top, const float *bottom, size_t pairs,
                                                 size_t cout) {
  const __m512 quarter = _mm512_set1_ps(0.25f);
  for (size_t j = 0; j < pairs; j++, y += ys, top += 2 * cout, bottom += 2 * cout)
    for (size_t o = 0; o < cout; o += 16) {
      const __mmask16 m = (__mmask16)((1u << sofar_min(16, cout - o)) - 1);
      __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, top + o), _mm512_maskz_loadu_ps(m, top + cout + o));
      v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bottom + o));
      v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bottom + cout + o));
      _mm512_mask_storeu_ps(y + o, m, _mm512_mul_ps(v, quarter));
    }
}

#endif
