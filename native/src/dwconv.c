/*
 * Depthwise float convolution driver (groups = input channels = output channels): a direct kernel, no
 * im2col and no GEMM. Weights are tap-major, [kh][kw][c] (the runtime transposes OIHW once at load time),
 * so every tap reads one contiguous run of channels from the NHWC map and from the weights: the
 * per-ISA pixel kernels vectorise over channels.
 *
 * Per output element: acc = 0, then acc = acc + x*w for the taps inside the input in row-major order
 * (mul, then add: no FMA, so every ISA gives the same floats), then + bias, + residual, relu.
 * Threaded over output pixels; each pixel is computed by one task.
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

static void dw_task(void *vctx, size_t begin, size_t end, int slot) {
  (void)slot;
  const struct dw_ctx *c = (const struct dw_ctx *)vctx;
  const struct sofar_conv_geom *g = &c->g;
  const size_t hw_out = g->ho * g->wo, ch = g->cin;
  const float *taps[SOFAR_DW_MAX_TAPS];
  int inside = 0; /* the previous pixel's taps were all inside the input, and this one is its right neighbour */
  const size_t step = g->sw * ch;
  for (size_t pix = begin; pix < end; pix++) {
    const size_t img = pix / hw_out, rem = pix % hw_out, oh = rem / g->wo, ow = rem % g->wo;
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
