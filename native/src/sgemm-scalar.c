/* Float GEMM tile, portable C (4 x 16): the reference for the SIMD variants. */
#include "internal.h"

void sofar_sgemm_scalar(size_t mr, size_t nr, size_t nseg, size_t seg_len, const float *const *a, const float *b,
                        size_t b_row_stride, size_t b_panel_stride, float *c, size_t c_stride, const float *bias,
                        const float *res, int relu) {
  (void)b_panel_stride; /* nr <= 16: one panel */
  for (size_t r = 0; r < mr; r++) {
    float acc[16] = {0};
    const float *br = b;
    for (size_t sg = 0; sg < nseg; sg++) {
      const float *ar = a[sg * SOFAR_MR_MAX + r];
      for (size_t kk = 0; kk < seg_len; kk++, br += b_row_stride) {
        const float av = ar[kk];
        for (size_t j = 0; j < nr; j++) acc[j] += av * br[j];
      }
    }
    for (size_t j = 0; j < nr; j++) {
      float v = acc[j];
      if (bias) v += bias[j];
      if (res) v += res[r * c_stride + j];
      if (relu) v = v > 0.0f ? v : 0.0f;
      c[r * c_stride + j] = v;
    }
  }
}
