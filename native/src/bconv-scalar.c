/* Binary conv pieces, portable C: the reference every other variant is tested against. */
#include "internal.h"

/* 4x8 tile: 4 pixels x one block of 8 output channels at a time. */
void sofar_bgemm_scalar(size_t mr, size_t nr, size_t nseg, size_t seg_len, const uint64_t *const *a,
                        const uint64_t *b, int32_t *c, size_t c_stride) {
  const size_t kwords = nseg * seg_len;
  for (size_t j0 = 0; j0 < nr; j0 += 8) {
    const size_t nj = sofar_min(8, nr - j0);
    for (size_t r = 0; r < mr; r++) {
      const uint64_t *bb = b + (j0 / 8) * kwords * 8;
      uint32_t acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (size_t sg = 0; sg < nseg; sg++) {
        const uint64_t *ar = a[sg * SOFAR_MR_MAX + r];
        for (size_t k = 0; k < seg_len; k++, bb += 8) {
          const uint64_t x = ar[k];
          for (size_t j = 0; j < 8; j++) acc[j] += (uint32_t)__builtin_popcountll(x ^ bb[j]);
        }
      }
      for (size_t j = 0; j < nj; j++) c[r * c_stride + j0 + j] = (int32_t)acc[j];
    }
  }
}

void sofar_bconv_transform_scalar(size_t cout, int32_t kbits, const int32_t *pc, const int32_t *corr,
                                  const float *multiplier, const float *bias, const float *res, const float *alpha,
                                  const float *post, const struct sofar_bconv_tail *tail, float *y, uint64_t *yp,
                                  size_t yp_c, size_t yp_wg, float *tmp) {
  float *out = y ? y : tmp;
  const struct sofar_bconv_tail tl = sofar_tail_or_none(tail);
  const float *scale = tl.scale, *res_after = tl.res;
  for (size_t o = 0; o < cout; o++) {
    /* wrapping arithmetic, as in the SIMD variants (pc can only be garbage if buffers overlap) */
    const int32_t acc = (int32_t)((uint32_t)kbits - 2u * (uint32_t)pc[o] - (uint32_t)(corr ? corr[o] : 0));
    float v = (float)acc;
    if (multiplier) v = v * multiplier[o];
    v = v + (bias ? bias[o] : 0.0f);
    if (res) v = v + res[o];
    if (alpha) v = v < 0.0f ? alpha[o] * v : v;
    if (scale) v = v * scale[o] + (post ? post[o] : 0.0f);
    else if (post) v = v + post[o];
    if (res_after) v = v + res_after[o];
    out[o] = v;
  }
  if (!yp) return;
  const float *signs = out;
  if (sofar_tail_packs_affine(tail)) {
    float *t = tmp + cout;
    for (size_t o = 0; o < cout; o++)
      t[o] = (tail->pack_scale ? out[o] * tail->pack_scale[o] : out[o]) + (tail->pack_shift ? tail->pack_shift[o] : 0.0f);
    signs = t;
  }
  for (size_t q = 0; q < cout / yp_c; q++) sofar_pack_row_scalar(signs + q * yp_c, yp + q * yp_wg, yp_c);
}

void sofar_pack_row_scalar(const float *x, uint64_t *y, size_t channels) {
  for (size_t w0 = 0; w0 < channels; w0 += 64) {
    const size_t n = sofar_min(64, channels - w0);
    uint64_t word = 0;
    for (size_t i = 0; i < n; i++) word |= (uint64_t)(x[w0 + i] < 0.0f) << i;
    y[w0 / 64] = word;
  }
}
