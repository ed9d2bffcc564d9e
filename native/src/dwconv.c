/*
 * Depthwise float convolution driver (groups = input channels = output channels): a direct kernel, no
 * im2col and no GEMM. Weights are tap-major, [kh][kw][c] (the runtime transposes OIHW once at load time),
 * so every tap reads one contiguous run of channels from the NHWC map and from the weights: the
 * per-ISA pixel kernels vectorise over channels.
 *
 * Per output element: acc = 0, then acc = acc + x*w for the taps inside the input in row-major order
 * (mul, then add: no FMA, so every ISA gives the same floats), then + bias, + residual, relu.
 * Threaded over output pixels; each pixel is computed by one task. Runs of pixels whose taps all lie inside the
 * input go through a row kernel compiled at each x86 width (the same sums in the same order, so the same floats).
 */
#include "internal.h"

struct dw_ctx {
  struct sofar_conv_geom g;
  sofar_dwconv_fn pixel;
  const float *x, *w, *bias, *res;
  float *y;
  size_t ys;
  int relu;
};

/* Channels [q0, q0 + len) of one pixel whose taps all lie inside the input (x0: its first tap; taps rs floats
   apart down, cs across): the pixel kernels' sums, in their order; a constant len keeps them in registers. */
SOFAR_INLINE void dw_block(const struct dw_ctx *c, const float *x0, size_t rs, size_t cs, size_t q0, const size_t len,
                           const float *res, float *y) {
  const struct sofar_conv_geom *g = &c->g;
  float acc[64];
  for (size_t q = 0; q < len; q++) acc[q] = 0.0f;
  for (size_t i = 0; i < g->kh; i++)
    for (size_t j = 0; j < g->kw; j++) {
      const float *xt = x0 + i * rs + j * cs + q0, *wt = c->w + (i * g->kw + j) * g->cin + q0;
      for (size_t q = 0; q < len; q++) acc[q] = acc[q] + xt[q] * wt[q];
    }
  if (c->bias)
    for (size_t q = 0; q < len; q++) acc[q] = acc[q] + c->bias[q0 + q];
  if (res)
    for (size_t q = 0; q < len; q++) acc[q] = acc[q] + res[q0 + q];
  if (c->relu)
    for (size_t q = 0; q < len; q++) acc[q] = acc[q] > 0.0f ? acc[q] : 0.0f;
  for (size_t q = 0; q < len; q++) y[q0 + q] = acc[q];
}

/* A run of n pixels of one output row, all taps inside the input (x0: the first pixel's first tap, pixels
   sw*c floats apart), without tap pointers: what makes small channel counts (QuickNet's 16) per-pixel bound. */
SOFAR_INLINE void dw_run(const struct dw_ctx *c, const float *x0, size_t n, size_t pix) {
  const struct sofar_conv_geom *g = &c->g;
  const size_t ch = g->cin, rs = g->dh * g->w * ch, cs = g->dw * ch, ps = g->sw * ch;
  for (size_t r = 0; r < n; r++) {
    const float *xp = x0 + r * ps, *res = c->res ? c->res + (pix + r) * c->ys : NULL;
    float *y = c->y + (pix + r) * c->ys;
    size_t q0 = 0;
    for (; q0 + 64 <= ch; q0 += 64) dw_block(c, xp, rs, cs, q0, 64, res, y);
    if (q0 + 32 <= ch) dw_block(c, xp, rs, cs, q0, 32, res, y), q0 += 32;
    if (q0 + 16 <= ch) dw_block(c, xp, rs, cs, q0, 16, res, y), q0 += 16;
    if (q0 + 8 <= ch) dw_block(c, xp, rs, cs, q0, 8, res, y), q0 += 8;
    if (q0 + 4 <= ch) dw_block(c, xp, rs, cs, q0, 4, res, y), q0 += 4;
    if (q0 < ch) dw_block(c, xp, rs, cs, q0, ch - q0, res, y);
  }
}
static void dw_run_portable(const struct dw_ctx *c, const float *x0, size_t n, size_t pix) { dw_run(c, x0, n, pix); }
#if SOFAR_X86
SOFAR_TARGET_AVX2 static void dw_run_avx2(const struct dw_ctx *c, const float *x0, size_t n, size_t pix) {
  dw_run(c, x0, n, pix);
}
SOFAR_TARGET_AVX512 static void dw_run_avx512(const struct dw_ctx *c, const float *x0, size_t n, size_t pix) {
  dw_run(c, x0, n, pix);
}
#endif

/* Output columns [*a, *b) whose taps all lie inside the input's width. */
static void inner_columns(const struct sofar_conv_geom *g, size_t *a, size_t *b) {
  const size_t span = (g->kw - 1) * g->dw; /* from the first tap to the last */
  *a = sofar_div_up(g->pl, g->sw);
  *b = g->w + g->pl >= span + 1 ? (g->w + g->pl - span - 1) / g->sw + 1 : 0;
  if (*b > g->wo) *b = g->wo;
  if (*b < *a) *b = *a;
}

static void dw_task(void *vctx, size_t begin, size_t end, int slot) {
  (void)slot;
  const struct dw_ctx *c = (const struct dw_ctx *)vctx;
  const struct sofar_conv_geom *g = &c->g;
  const size_t hw_out = g->ho * g->wo, ch = g->cin;
  const float *taps[SOFAR_DW_MAX_TAPS];
  int inside = 0; /* the previous pixel's taps were all inside the input, and this one is its right neighbour */
  const size_t step = g->sw * ch;
  size_t col_a, col_b;
  inner_columns(g, &col_a, &col_b);
#if SOFAR_X86
  const int isa = sofar_ukernels_current()->isa;
#endif
  for (size_t pix = begin; pix < end; pix++) {
    const size_t img = pix / hw_out, rem = pix % hw_out, oh = rem / g->wo, ow = rem % g->wo;
    const ptrdiff_t ih0 = (ptrdiff_t)(oh * g->sh) - (ptrdiff_t)g->pt;
    if (ow >= col_a && ow < col_b && ih0 >= 0 && (size_t)ih0 + (g->kh - 1) * g->dh < g->h) {
      const size_t n = sofar_min(col_b - ow, end - pix);
      const float *x0 = c->x + ((img * g->h + (size_t)ih0) * g->w + ow * g->sw - g->pl) * ch;
#if SOFAR_X86
      if (isa == SOFAR_ISA_AVX512) dw_run_avx512(c, x0, n, pix);
      else if (isa == SOFAR_ISA_AVX2) dw_run_avx2(c, x0, n, pix);
      else
#endif
        dw_run_portable(c, x0, n, pix);
      pix += n - 1;
      inside = 0;
      continue;
    }
    const ptrdiff_t iw_last = (ptrdiff_t)(ow * g->sw + (g->kw - 1) * g->dw) - (ptrdiff_t)g->pl;
    if (inside && ow > 0 && iw_last < (ptrdiff_t)g->w) {
      /* the window moves right by one stride and stays inside: shift every tap */
      for (size_t t = 0; t < g->taps; t++) taps[t] += step;
      c->pixel(ch, g->taps, taps, c->w, c->bias, c->res ? c->res + pix * c->ys : NULL, c->y + pix * c->ys, c->relu);
      continue;
    }
    inside = 1;
    const float *ximg = c->x + img * g->h * g->w * ch;
    for (size_t i = 0; i < g->kh; i++) {
      const ptrdiff_t ih = (ptrdiff_t)(oh * g->sh + i * g->dh) - (ptrdiff_t)g->pt;
      for (size_t j = 0; j < g->kw; j++) {
        const ptrdiff_t iw = (ptrdiff_t)(ow * g->sw + j * g->dw) - (ptrdiff_t)g->pl;
        const int in = ih >= 0 && ih < (ptrdiff_t)g->h && iw >= 0 && iw < (ptrdiff_t)g->w;
        taps[i * g->kw + j] = in ? ximg + ((size_t)ih * g->w + (size_t)iw) * ch : NULL;
        inside &= in;
      }
    }
    c->pixel(ch, g->taps, taps, c->w, c->bias, c->res ? c->res + pix * c->ys : NULL, c->y + pix * c->ys, c->relu);
  }
}

void sofar_dwconv2d_f32(const float *x, const float *weights, const float *bias, const float *residual, float *y, int n,
                        int h, int w, int c, int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr, int dh,
                        int dw, int y_stride, int relu) {
  struct dw_ctx ctx;
  if (!sofar_conv_geom_init(&ctx.g, n, h, w, c, c, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, c)) return;
  if (ctx.g.taps > SOFAR_DW_MAX_TAPS) return;
  if (y_stride != 0 && (y_stride < 0 || y_stride < c)) return;
  ctx.pixel = sofar_ukernels_current()->dwconv;
  ctx.x = x;
  ctx.w = weights;
  ctx.bias = bias;
  ctx.res = residual;
  ctx.y = y;
  ctx.ys = y_stride ? (size_t)y_stride : (size_t)c;
  ctx.relu = relu != 0;
  sofar_parallel_for(ctx.g.pixels, dw_task, &ctx);
}
