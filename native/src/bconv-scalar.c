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

void sofar_bconv_out_range_scalar(const struct sofar_bconv_out *e, size_t pix, const int32_t *pc, const int32_t *corr,
                                  size_t o0, size_t o1, float *out) {
  const float *res = e->res ? e->res + (pix - e->res_p0) * e->rs : NULL;
  const float *res_before = e->res_after ? NULL : res, *res_after = e->res_after ? res : NULL;
  const float *res2 = e->res2 ? e->res2 + pix * e->r2s : NULL;
  for (size_t o = o0; o < o1; o++) {
    /* wrapping arithmetic, as in the SIMD variants (pc can only be garbage if buffers overlap) */
    const int32_t acc = (int32_t)((uint32_t)e->kbits - 2u * (uint32_t)pc[o] - (uint32_t)(corr ? corr[o] : 0));
    float v = (float)acc;
    if (e->mul) v = v * e->mul[o];
    v = v + (e->bias ? e->bias[o] : 0.0f);
    if (res_before) v = v + res_before[o];
    if (res2) v = v + res2[o];
    if (e->alpha) v = v < 0.0f ? e->alpha[o] * v : v;
    if (e->scale) v = v * e->scale[o] + (e->post ? e->post[o] : 0.0f);
    else if (e->post) v = v + e->post[o];
    if (res_after) v = v + res_after[o];
    out[o] = v;
  }
}

void sofar_bconv_transform_scalar(const struct sofar_bconv_out *e, size_t p0, size_t mr, const int32_t *pc,
                                  const int32_t *const *corr, float *tmp) {
  sofar_bconv_out_finish(e, p0, mr, pc, corr, tmp, 0, 0, sofar_pack_row_scalar);
}


void sofar_bconv_out_finish(const struct sofar_bconv_out *e, size_t p0, size_t mr, const int32_t *pc,
                            const int32_t *const *corr, float *tmp, size_t o, int fused, sofar_pack_row_fn pack_row) {
  for (size_t r = 0; o < e->cout && r < mr; r++)
    sofar_bconv_out_range_scalar(e, p0 + r, pc + r * e->cout, corr ? corr[r] : NULL, o, e->cout, sofar_out_row(e, p0 + r, r, tmp));
  if (!e->yp || fused) return;
  const size_t c = e->yp_c;
  for (size_t r = 0; r < mr; r++) {
    const float *out = sofar_out_row(e, p0 + r, r, tmp);
    uint64_t *yp = e->yp + (p0 + r) * e->yps;
    for (size_t q = 0; q < e->cout / c; q++)
      pack_row(out + q * c, e->pack_scale ? e->pack_scale + q * c : NULL, e->pack_shift ? e->pack_shift + q * c : NULL,
               yp + q * e->yp_wg, c);
  }
}

void sofar_pack_row_scalar(const float *x, const float *scale, const float *shift, uint64_t *y, size_t channels) {
  for (size_t w0 = 0; w0 < channels; w0 += 64) {
    const size_t n = sofar_min(64, channels - w0);
    uint64_t word = 0;
    for (size_t i = 0; i < n; i++) {
      float v = x[w0 + i];
      if (scale) v = v * scale[w0 + i];
      if (shift) v = v + shift[w0 + i];
      word |= (uint64_t)(v < 0.0f) << i;
    }
    y[w0 / 64] = word;
  }
}
