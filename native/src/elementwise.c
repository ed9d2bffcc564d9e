/*
 * Pooling, element-wise ops and layout changes: portable C written so the compiler vectorises the
 * channel loops (NHWC keeps channels contiguous). They are memory-bound; one C source serves every ISA,
 * so their results never depend on the ISA in use (pooling is compiled at AVX2 and AVX-512 width too,
 * with the same operations per element in the same order). Pooling is threaded over output pixels.
 */
#include "internal.h"

struct pool_ctx {
  struct sofar_conv_geom g;
  const float *x;
  float *y;
  int avg;
};

/* The pixels' loops, compiled at each x86 width below: the same operations per element in the same order. */
SOFAR_INLINE void pool_pixels(const struct pool_ctx *c, size_t begin, size_t end) {
  const struct sofar_conv_geom *g = &c->g;
  const size_t hw_out = g->ho * g->wo, ch = g->cin;
  for (size_t pix = begin; pix < end; pix++) {
    const size_t img = pix / hw_out, rem = pix % hw_out, oh = rem / g->wo, ow = rem % g->wo;
    float *yr = c->y + pix * ch;
    size_t count = 0;
    for (size_t i = 0; i < g->kh; i++) {
      const ptrdiff_t ih = (ptrdiff_t)(oh * g->sh + i) - (ptrdiff_t)g->pt;
      if (ih < 0 || ih >= (ptrdiff_t)g->h) continue;
      for (size_t j = 0; j < g->kw; j++) {
        const ptrdiff_t iw = (ptrdiff_t)(ow * g->sw + j) - (ptrdiff_t)g->pl;
        if (iw < 0 || iw >= (ptrdiff_t)g->w) continue;
        const float *xr = c->x + ((img * g->h + (size_t)ih) * g->w + (size_t)iw) * ch;
        if (count == 0) {
          for (size_t q = 0; q < ch; q++) yr[q] = xr[q];
        } else if (c->avg) {
          for (size_t q = 0; q < ch; q++) yr[q] = yr[q] + xr[q];
        } else {
          for (size_t q = 0; q < ch; q++) yr[q] = xr[q] > yr[q] ? xr[q] : yr[q];
        }
        count++;
      }
    }
    if (count == 0) {
      for (size_t q = 0; q < ch; q++) yr[q] = 0.0f; /* a window entirely in the padding */
    } else if (c->avg && count > 1) {
      const float d = (float)count;
      for (size_t q = 0; q < ch; q++) yr[q] = yr[q] / d;
    }
  }
}

static void pool_portable(const struct pool_ctx *c, size_t begin, size_t end) { pool_pixels(c, begin, end); }
#if SOFAR_X86
SOFAR_TARGET_AVX2 static void pool_avx2(const struct pool_ctx *c, size_t begin, size_t end) { pool_pixels(c, begin, end); }
SOFAR_TARGET_AVX512 static void pool_avx512(const struct pool_ctx *c, size_t begin, size_t end) {
  pool_pixels(c, begin, end);
}
#endif

static void pool_task(void *vctx, size_t begin, size_t end, int slot) {
  (void)slot;
  const struct pool_ctx *c = (const struct pool_ctx *)vctx;
#if SOFAR_X86
  const int isa = sofar_ukernels_current()->isa;
  if (isa == SOFAR_ISA_AVX512) return pool_avx512(c, begin, end);
  if (isa == SOFAR_ISA_AVX2) return pool_avx2(c, begin, end);
#endif
  pool_portable(c, begin, end);
}

static void pool(const float *x, float *y, int n, int h, int w, int c, int kh, int kw, int sh, int sw, int pt,
                 int pl, int pb, int pr, int avg) {
  struct pool_ctx ctx;
  if (!sofar_conv_geom_init(&ctx.g, n, h, w, c, c, kh, kw, sh, sw, pt, pl, pb, pr, 1, 1, 1)) return;
  ctx.x = x;
  ctx.y = y;
  ctx.avg = avg;
  sofar_parallel_for(ctx.g.pixels, pool_task, &ctx);
}

void sofar_maxpool_f32(const float *x, float *y, int n, int h, int w, int c, int kh, int kw, int sh, int sw, int pt,
                       int pl, int pb, int pr) {
  pool(x, y, n, h, w, c, kh, kw, sh, sw, pt, pl, pb, pr, 0);
}

void sofar_avgpool_f32(const float *x, float *y, int n, int h, int w, int c, int kh, int kw, int sh, int sw, int pt,
                       int pl, int pb, int pr) {
  pool(x, y, n, h, w, c, kh, kw, sh, sw, pt, pl, pb, pr, 1);
}

void sofar_global_avgpool_f32(const float *x, float *y, int n, int pixels, int c) {
  if (n <= 0 || pixels <= 0 || c <= 0) return;
  const size_t ch = (size_t)c, np = (size_t)pixels;
  const float d = (float)pixels;
  for (size_t img = 0; img < (size_t)n; img++) {
    float *yr = y + img * ch;
    const float *xi = x + img * np * ch;
    for (size_t q = 0; q < ch; q++) yr[q] = 0.0f;
    for (size_t pix = 0; pix < np; pix++)
      for (size_t q = 0; q < ch; q++) yr[q] = yr[q] + xi[pix * ch + q];
    for (size_t q = 0; q < ch; q++) yr[q] = yr[q] / d;
  }
}

#define ROWWISE(body)                                                                      \
  if (pixels <= 0 || c <= 0 || (y_stride != 0 && y_stride < c)) return;                   \
  const size_t ch = (size_t)c, ys = y_stride ? (size_t)y_stride : ch;                      \
  for (size_t pix = 0; pix < (size_t)pixels; pix++) {                                     \
    const float *xr = x + pix * ch;                                                        \
    float *yr = y + pix * ys;                                                              \
    for (size_t q = 0; q < ch; q++) {                                                      \
      const float v = xr[q];                                                               \
      body;                                                                                \
    }                                                                                      \
  }

void sofar_affine_f32(const float *x, const float *scale, const float *shift, float *y, int pixels, int c,
                      int y_stride) {
  ROWWISE(yr[q] = v * scale[q] + shift[q])
}
void sofar_relu_f32(const float *x, float *y, int pixels, int c, int y_stride) { ROWWISE(yr[q] = v > 0.0f ? v : 0.0f) }
void sofar_prelu_f32(const float *x, const float *alpha, float *y, int pixels, int c, int y_stride) {
  ROWWISE(yr[q] = v < 0.0f ? alpha[q] * v : v)
}
void sofar_clip_f32(const float *x, float *y, int pixels, int c, int y_stride, float lo, float hi) {
  ROWWISE(float t = v < lo ? lo : v; yr[q] = t > hi ? hi : t)
}
void sofar_sign_f32(const float *x, float *y, int pixels, int c, int y_stride) { ROWWISE(yr[q] = v < 0.0f ? -1.0f : 1.0f) }
void sofar_copy_f32(const float *x, float *y, int pixels, int c, int y_stride) { ROWWISE(yr[q] = v) }

/* e^x to about 2 ulp, portable (the wasm build has no libm): x = k·ln2 + r, a degree-6 polynomial for e^r. */
static float exp_f32(float x) {
  if (x != x) return x;
  if (x > 88.72f) return __builtin_inff();
  if (x < -103.98f) return 0.0f;
  const float k = (x * 1.44269504f + 12582912.0f) - 12582912.0f; /* round to nearest */
  const float r = (x - k * 0.693145751953125f) - k * 1.428606765330187e-06f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int e = (int)k;
  union { uint32_t u; float f; } scale;
  if (e < -126) { /* below the normal range: scale in two steps */
    scale.u = (uint32_t)(e + 126 + 127) << 23;
    return p * scale.f * 1.17549435e-38f;
  }
  scale.u = (uint32_t)(e + 127) << 23;
  return p * scale.f;
}

/* Round half to even (ONNX Round): exact by adding and removing 2^23 where the float still has a fraction. */
static float round_even_f32(float v) {
  const float a = __builtin_fabsf(v);
  if (!(a < 8388608.0f)) return v; /* NaN, ±inf and integers */
  return __builtin_copysignf((a + 8388608.0f) - 8388608.0f, v);
}

void sofar_sigmoid_f32(const float *x, float *y, int pixels, int c, int y_stride) {
  ROWWISE(yr[q] = 1.0f / (1.0f + exp_f32(-v)))
}
void sofar_heaviside_f32(const float *x, float *y, int pixels, int c, int y_stride) {
  ROWWISE(yr[q] = v > 0.0f ? 1.0f : 0.0f)
}
void sofar_round_f32(const float *x, float *y, int pixels, int c, int y_stride) { ROWWISE(yr[q] = round_even_f32(v)) }
void sofar_div_f32(const float *x, const float *d, float *y, int pixels, int c, int y_stride) {
  ROWWISE(yr[q] = v / d[q])
}

void sofar_copy_strided_f32(const float *x, float *y, int pixels, int c, int x_stride, int y_stride) {
  if (pixels <= 0 || c <= 0 || x_stride < c || y_stride < c) return;
  for (size_t pix = 0; pix < (size_t)pixels; pix++)
    memmove(y + pix * (size_t)y_stride, x + pix * (size_t)x_stride, (size_t)c * sizeof(float));
}

void sofar_pad_channels_f32(const float *x, float *y, int pixels, int c, int before, int after) {
  if (pixels <= 0 || c <= 0 || before < 0 || after < 0) return;
  const size_t ch = (size_t)c, b = (size_t)before, a = (size_t)after, ys = b + ch + a;
  for (size_t pix = 0; pix < (size_t)pixels; pix++) {
    float *yr = y + pix * ys;
    for (size_t q = 0; q < b; q++) yr[q] = 0.0f;
    for (size_t q = 0; q < ch; q++) yr[b + q] = x[pix * ch + q];
    for (size_t q = 0; q < a; q++) yr[b + ch + q] = 0.0f;
  }
}

void sofar_mul_f32(const float *a, const float *b, float *y, size_t count) {
  for (size_t i = 0; i < count; i++) y[i] = a[i] * b[i];
}

void sofar_mul_channels_f32(const float *x, const float *s, float *y, int n, int pixels, int c) {
  if (n <= 0 || pixels <= 0 || c <= 0) return;
  const size_t ch = (size_t)c, np = (size_t)pixels;
  for (size_t img = 0; img < (size_t)n; img++)
    for (size_t pix = 0; pix < np; pix++) {
      const size_t at = (img * np + pix) * ch;
      for (size_t q = 0; q < ch; q++) y[at + q] = x[at + q] * s[img * ch + q];
    }
}

void sofar_add_f32(const float *a, const float *b, float *y, size_t count) {
  for (size_t i = 0; i < count; i++) y[i] = a[i] + b[i];
}
void sofar_max_f32(const float *a, const float *b, float *y, size_t count) {
  for (size_t i = 0; i < count; i++) y[i] = a[i] > b[i] ? a[i] : b[i];
}
void sofar_scale_f32(const float *x, float s, float *y, size_t count) {
  for (size_t i = 0; i < count; i++) y[i] = x[i] * s;
}

void sofar_nchw_to_nhwc(const float *x, float *y, int n, int c, int h, int w) {
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0) return;
  const size_t C = (size_t)c, HW = (size_t)h * (size_t)w;
  for (size_t img = 0; img < (size_t)n; img++)
    for (size_t pix = 0; pix < HW; pix++)
      for (size_t q = 0; q < C; q++) y[(img * HW + pix) * C + q] = x[(img * C + q) * HW + pix];
}

void sofar_nhwc_to_nchw(const float *x, float *y, int n, int c, int h, int w) {
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0) return;
  const size_t C = (size_t)c, HW = (size_t)h * (size_t)w;
  for (size_t img = 0; img < (size_t)n; img++)
    for (size_t q = 0; q < C; q++)
      for (size_t pix = 0; pix < HW; pix++) y[(img * C + q) * HW + pix] = x[(img * HW + pix) * C + q];
}
