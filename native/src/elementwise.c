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
  int mode; /* POOL_MAX, POOL_AVG or POOL_MAX_RELU */
};

/* What a pooled cell computes: the max, the mean, or the max of relu(x) (relu as sofar_relu_f32). */
enum { POOL_MAX = 0, POOL_AVG = 1, POOL_MAX_RELU = 2 };

/* Channels [q0, q0 + len) of one pooled pixel (see pool_cell); a constant len keeps them in registers. */
SOFAR_INLINE float pool_relu(float v) { return v > 0.0f ? v : 0.0f; }

SOFAR_INLINE void pool_block(const float *x0, size_t nrows, size_t ncols, size_t rs, size_t ch, const int mode,
                             size_t q0, const size_t len, float *y) {
  float acc[64];
  if (mode == POOL_MAX_RELU)
    for (size_t q = 0; q < len; q++) acc[q] = pool_relu(x0[q0 + q]);
  else
    for (size_t q = 0; q < len; q++) acc[q] = x0[q0 + q];
  for (size_t i = 0; i < nrows; i++)
    for (size_t j = i == 0; j < ncols; j++) {
      const float *xr = x0 + i * rs + j * ch + q0;
      if (mode == POOL_AVG)
        for (size_t q = 0; q < len; q++) acc[q] = acc[q] + xr[q];
      else if (mode == POOL_MAX_RELU)
        for (size_t q = 0; q < len; q++) {
          const float r = pool_relu(xr[q]);
          acc[q] = r > acc[q] ? r : acc[q];
        }
      else
        for (size_t q = 0; q < len; q++) acc[q] = xr[q] > acc[q] ? xr[q] : acc[q];
    }
  const size_t count = nrows * ncols;
  if (mode == POOL_AVG && count > 1) {
    const float d = (float)count;
    for (size_t q = 0; q < len; q++) acc[q] = acc[q] / d;
  }
  for (size_t q = 0; q < len; q++) y[q0 + q] = acc[q];
}

/*
 * One pooled pixel: the window's nrows x ncols cells inside the input, from x0 (the first one), rows rs floats
 * apart; the first cell copied, then each further one (row-major) taken by max or added, a mean divided by the
 * count (> 1) at the end (POOL_MAX_RELU: each cell through relu first, so the result is the max pool of the
 * stored relu); no cell: 0. Channels go in blocks of 64, 32, 16, then the rest (up to 64 at a time).
 */
SOFAR_INLINE void pool_cell(const float *x0, size_t nrows, size_t ncols, size_t rs, size_t ch, const int mode,
                            float *y) {
  if (nrows == 0 || ncols == 0) {
    for (size_t q = 0; q < ch; q++) y[q] = 0.0f;
    return;
  }
  size_t q0 = 0;
  for (; q0 + 64 <= ch; q0 += 64) pool_block(x0, nrows, ncols, rs, ch, mode, q0, 64, y);
  if (q0 + 32 <= ch) pool_block(x0, nrows, ncols, rs, ch, mode, q0, 32, y), q0 += 32;
  if (q0 + 16 <= ch) pool_block(x0, nrows, ncols, rs, ch, mode, q0, 16, y), q0 += 16;
  if (q0 < ch) pool_block(x0, nrows, ncols, rs, ch, mode, q0, ch - q0, y);
}

/* The window's extent inside [0, n) along one axis: first index and length. */
static inline void window_span(size_t o, size_t s, size_t k, size_t pad, size_t n, size_t *first, size_t *len) {
  const ptrdiff_t a = (ptrdiff_t)(o * s) - (ptrdiff_t)pad, b = a + (ptrdiff_t)k;
  const ptrdiff_t lo = a < 0 ? 0 : a, hi = b > (ptrdiff_t)n ? (ptrdiff_t)n : b;
  *first = (size_t)lo;
  *len = hi > lo ? (size_t)(hi - lo) : 0;
}

/* Pool row cells from nrows input rows, rows rs floats apart, from row0 (geometry pg: w, cin, kw, sw, pl, wo). */
SOFAR_INLINE void pool_row(const float *row0, size_t nrows, size_t rs, const struct sofar_conv_geom *pg, const int mode,
                           float *y) {
  for (size_t ow = 0; ow < pg->wo; ow++) {
    size_t iw, ncols;
    window_span(ow, pg->sw, pg->kw, pg->pl, pg->w, &iw, &ncols);
    pool_cell(row0 + iw * pg->cin, nrows, ncols, rs, pg->cin, mode, y + ow * pg->cin);
  }
}

/* The pixels' loops, compiled at each x86 width below: the same operations per element in the same order. */
SOFAR_INLINE void pool_pixels(const struct pool_ctx *c, size_t begin, size_t end) {
  const struct sofar_conv_geom *g = &c->g;
  const size_t hw_out = g->ho * g->wo, ch = g->cin;
  for (size_t pix = begin; pix < end; pix++) {
    const size_t img = pix / hw_out, rem = pix % hw_out, oh = rem / g->wo, ow = rem % g->wo;
    size_t ih, nrows, iw, ncols;
    window_span(oh, g->sh, g->kh, g->pt, g->h, &ih, &nrows);
    window_span(ow, g->sw, g->kw, g->pl, g->w, &iw, &ncols);
    const float *x0 = nrows && ncols ? c->x + ((img * g->h + ih) * g->w + iw) * ch : c->x;
    /* constant modes, so each compiles to its own loop */
    if (c->mode == POOL_AVG) pool_cell(x0, nrows, ncols, g->w * ch, ch, POOL_AVG, c->y + pix * ch);
    else if (c->mode == POOL_MAX_RELU) pool_cell(x0, nrows, ncols, g->w * ch, ch, POOL_MAX_RELU, c->y + pix * ch);
    else pool_cell(x0, nrows, ncols, g->w * ch, ch, POOL_MAX, c->y + pix * ch);
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

static void maxpool_row_portable(const float *row0, size_t nrows, size_t rs, const struct sofar_conv_geom *pg,
                                 float *y) {
  pool_row(row0, nrows, rs, pg, POOL_MAX, y);
}
#if SOFAR_X86
SOFAR_TARGET_AVX2 static void maxpool_row_avx2(const float *row0, size_t nrows, size_t rs,
                                               const struct sofar_conv_geom *pg, float *y) {
  pool_row(row0, nrows, rs, pg, POOL_MAX, y);
}
SOFAR_TARGET_AVX512 static void maxpool_row_avx512(const float *row0, size_t nrows, size_t rs,
                                                   const struct sofar_conv_geom *pg, float *y) {
  pool_row(row0, nrows, rs, pg, POOL_MAX, y);
}
#endif

/* pool_cell's operations for a 2x2 window inside the input, in one loop the compiler vectorises */
SOFAR_INLINE void avgpool2_cell(const float *__restrict x0, size_t rs, size_t ch, float *__restrict y) {
  const float *__restrict a = x0, *__restrict b = x0 + ch, *__restrict c = x0 + rs, *__restrict d = c + ch;
  for (size_t q = 0; q < ch; q++) y[q] = (((a[q] + b[q]) + c[q]) + d[q]) / 4.0f;
}
static void avgpool2_cell_portable(const float *x0, size_t rs, size_t ch, float *y) { avgpool2_cell(x0, rs, ch, y); }
#if SOFAR_X86
SOFAR_TARGET_AVX2 static void avgpool2_cell_avx2(const float *x0, size_t rs, size_t ch, float *y) {
  avgpool2_cell(x0, rs, ch, y);
}
SOFAR_TARGET_AVX512 static void avgpool2_cell_avx512(const float *x0, size_t rs, size_t ch, float *y) {
  avgpool2_cell(x0, rs, ch, y);
}
#endif

void sofar_avgpool2_cell_f32(const float *x0, size_t rs, size_t ch, float *y) {
#if SOFAR_X86
  const int isa = sofar_ukernels_current()->isa;
  if (isa == SOFAR_ISA_AVX512) return avgpool2_cell_avx512(x0, rs, ch, y);
  if (isa == SOFAR_ISA_AVX2) return avgpool2_cell_avx2(x0, rs, ch, y);
#endif
  avgpool2_cell_portable(x0, rs, ch, y);
}

void sofar_maxpool_row_f32(const float *row0, size_t nrows, size_t rs, const struct sofar_conv_geom *pg, float *y) {
#if SOFAR_X86
  const int isa = sofar_ukernels_current()->isa;
  if (isa == SOFAR_ISA_AVX512) return maxpool_row_avx512(row0, nrows, rs, pg, y);
  if (isa == SOFAR_ISA_AVX2) return maxpool_row_avx2(row0, nrows, rs, pg, y);
#endif
  maxpool_row_portable(row0, nrows, rs, pg, y);
}

static void pool(const float *x, float *y, int n, int h, int w, int c, int kh, int kw, int sh, int sw, int pt,
                 int pl, int pb, int pr, int mode) {
  struct pool_ctx ctx;
  if (!sofar_conv_geom_init(&ctx.g, n, h, w, c, c, kh, kw, sh, sw, pt, pl, pb, pr, 1, 1, 1)) return;
  ctx.x = x;
  ctx.y = y;
  ctx.mode = mode;
  sofar_parallel_for(ctx.g.pixels, pool_task, &ctx);
}

void sofar_maxpool_f32(const float *x, float *y, int n, int h, int w, int c, int kh, int kw, int sh, int sw, int pt,
                       int pl, int pb, int pr) {
  pool(x, y, n, h, w, c, kh, kw, sh, sw, pt, pl, pb, pr, POOL_MAX);
}

void sofar_maxpool_relu_f32(const float *x, float *y, int n, int h, int w, int c, int kh, int kw, int sh, int sw,
                            int pt, int pl, int pb, int pr) {
  pool(x, y, n, h, w, c, kh, kw, sh, sw, pt, pl, pb, pr, POOL_MAX_RELU);
}

void sofar_avgpool_f32(const float *x, float *y, int n, int h, int w, int c, int kh, int kw, int sh, int sw, int pt,
                       int pl, int pb, int pr) {
  pool(x, y, n, h, w, c, kh, kw, sh, sw, pt, pl, pb, pr, POOL_AVG);
}

/*
 * The global average pool sums each image's first and second half of its pixels (each in pixel order), then adds
 * the two: ((sum over [0, P/2)) + (sum over [P/2, P))) / P, for any thread count. On two threads each half is
 * summed by the thread whose half of the map the convs around it compute, so the map stays in that core: read
 * whole on the calling thread (Real-to-Binary Net's gates pool every block's input), the next conv, writing
 * the map in place, took 1.5-1.6x as long, its lines shared with the other core. Halves of up to GAP_GROUP
 * floats of partial sums a call (images in groups); wider rows, one image at a time on this thread.
 */
#define GAP_GROUP 4096

struct gap_ctx {
  const float *x;
  float *y, *second; /* first halves' sums into y, second halves' into second */
  size_t ch, pixels, img0;
};

/* the sums over pixels [p0, p1) of an image's channels [q0, q0 + cq) (ch a pixel), each in pixel order, into out */
static void gap_sum(const float *xi, size_t ch, size_t q0, size_t cq, size_t p0, size_t p1, float *out) {
  for (size_t q = 0; q < cq; q++) out[q] = 0.0f;
  for (size_t pix = p0; pix < p1; pix++)
    for (size_t q = 0; q < cq; q++) out[q] = out[q] + xi[pix * ch + q0 + q];
}

/* task t: image img0 + t / 2, half t % 2 */
static void gap_task(void *vctx, size_t begin, size_t end, int thread) {
  (void)thread;
  const struct gap_ctx *g = (const struct gap_ctx *)vctx;
  const size_t half = g->pixels / 2;
  for (size_t t = begin; t < end; t++) {
    const size_t i = t / 2, img = g->img0 + i;
    const float *xi = g->x + img * g->pixels * g->ch;
    if (t % 2 == 0) gap_sum(xi, g->ch, 0, g->ch, 0, half, g->y + img * g->ch);
    else gap_sum(xi, g->ch, 0, g->ch, half, g->pixels, g->second + i * g->ch);
  }
}

void sofar_global_avgpool_f32(const float *x, float *y, int n, int pixels, int c) {
  if (n <= 0 || pixels <= 0 || c <= 0) return;
  const size_t ch = (size_t)c, np = (size_t)pixels;
  const float d = (float)pixels;
  float second[GAP_GROUP];
  if (ch > GAP_GROUP) { /* one image at a time on this thread, in channel blocks: the first half's sums in y */
    for (size_t img = 0; img < (size_t)n; img++) {
      float *yr = y + img * ch;
      const float *xi = x + img * np * ch;
      for (size_t q0 = 0; q0 < ch; q0 += GAP_GROUP) { /* channel blocks: each channel's sums are independent */
        const size_t cq = sofar_min(GAP_GROUP, ch - q0);
        gap_sum(xi, ch, q0, cq, 0, np / 2, yr + q0);
        gap_sum(xi, ch, q0, cq, np / 2, np, second);
        for (size_t q = 0; q < cq; q++) yr[q0 + q] = (yr[q0 + q] + second[q]) / d;
      }
    }
    return;
  }
  const size_t group = GAP_GROUP / ch;
  for (size_t img0 = 0; img0 < (size_t)n; img0 += group) {
    const size_t imgs = sofar_min(group, (size_t)n - img0);
    struct gap_ctx g = {x, y, second, ch, np, img0};
    sofar_parallel_for(2 * imgs, gap_task, &g);
    for (size_t i = 0; i < imgs; i++)
      for (size_t q = 0; q < ch; q++) y[(img0 + i) * ch + q] = (y[(img0 + i) * ch + q] + second[i * ch + q]) / d;
  }
}

/*
 * The element-wise kernels run on the pool, in blocks of about EW_BLOCK floats: each thread then reads and
 * writes the part of a map that it computes in the convs around them (the pool gives each thread the same
 * range every call), and the map stays in that thread's core. Done on the calling thread alone, they left
 * the whole map in one core and the next conv pulled half of it across. Small maps are one block (no
 * hand-off). Every element is computed as before: bit-identical for any thread count.
 */
#define EW_BLOCK 4096

enum { RW_AFFINE, RW_RELU, RW_PRELU, RW_CLIP, RW_SIGN, RW_COPY, RW_SIGMOID, RW_HEAVISIDE, RW_ROUND, RW_DIV };

struct rowwise_ctx {
  int op;
  const float *x, *p1, *p2; /* p1, p2: the op's per-channel operands */
  float *y;
  size_t ch, ys, pixels, per; /* per: pixels a task */
  float lo, hi;
};

static float exp_f32(float x);
static float round_even_f32(float v);

#define ROWWISE(body)                                                                      \
  for (size_t pix = p0; pix < p1; pix++) {                                                 \
    const float *xr = x + pix * ch;                                                        \
    float *yr = y + pix * ys;                                                              \
    for (size_t q = 0; q < ch; q++) {                                                      \
      const float v = xr[q];                                                               \
      body;                                                                                \
    }                                                                                      \
  }

/*
 * GCC, under its default -ftrapping-math, keeps PReLU's select of a product as a branch (mispredicted on every
 * other element of a real map: 1.2 ms against 0.08 for relu on 112x112x64, Real-to-Binary's first PReLU) and
 * vectorises it without: the values are the same, only whether an FP exception flag could be raised changes,
 * and nothing reads those flags. Clang (the WebAssembly build) does so by default. fp-contract stays off.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define SOFAR_SELECTS_VECTORISE __attribute__((optimize("no-trapping-math", "fp-contract=off")))
#else
#define SOFAR_SELECTS_VECTORISE
#endif

SOFAR_SELECTS_VECTORISE static void rowwise_task(void *vctx, size_t begin, size_t end, int slot) {
  (void)slot;
  const struct rowwise_ctx *k = (const struct rowwise_ctx *)vctx;
  const float *const x = k->x, *const a = k->p1, *const b = k->p2;
  float *const y = k->y;
  const size_t ch = k->ch, ys = k->ys, p0 = begin * k->per, p1 = sofar_min(end * k->per, k->pixels);
  const float lo = k->lo, hi = k->hi;
  switch (k->op) {
    case RW_AFFINE: ROWWISE(yr[q] = v * a[q] + b[q]) break;
    case RW_RELU: ROWWISE(yr[q] = v > 0.0f ? v : 0.0f) break;
    case RW_PRELU: ROWWISE(const float av = a[q] * v; yr[q] = v < 0.0f ? av : v) break;
    case RW_CLIP: ROWWISE(float t = v < lo ? lo : v; yr[q] = t > hi ? hi : t) break;
    case RW_SIGN: ROWWISE(yr[q] = v < 0.0f ? -1.0f : 1.0f) break;
    case RW_COPY: ROWWISE(yr[q] = v) break;
    case RW_SIGMOID: ROWWISE(yr[q] = 1.0f / (1.0f + exp_f32(-v))) break;
    case RW_HEAVISIDE: ROWWISE(yr[q] = v > 0.0f ? 1.0f : 0.0f) break;
    case RW_ROUND: ROWWISE(yr[q] = round_even_f32(v)) break;
    case RW_DIV: ROWWISE(yr[q] = v / a[q]) break;
  }
}
#undef ROWWISE

static void rowwise(int op, const float *x, const float *p1, const float *p2, float *y, int pixels, int c,
                    int y_stride, float lo, float hi) {
  if (pixels <= 0 || c <= 0 || (y_stride != 0 && y_stride < c)) return;
  const size_t ch = (size_t)c;
  struct rowwise_ctx k = {op, x, p1, p2, y, ch, y_stride ? (size_t)y_stride : ch, (size_t)pixels,
                          ch >= EW_BLOCK ? 1 : EW_BLOCK / ch, lo, hi};
  sofar_parallel_for(sofar_div_up(k.pixels, k.per), rowwise_task, &k);
}

void sofar_affine_f32(const float *x, const float *scale, const float *shift, float *y, int pixels, int c,
                      int y_stride) {
  rowwise(RW_AFFINE, x, scale, shift, y, pixels, c, y_stride, 0, 0);
}
/* RW_PRELU's formula in place over rows of c floats ys apart, on the calling thread (the stem's conv rows). */
SOFAR_SELECTS_VECTORISE void sofar_prelu_rows(float *y, size_t pixels, size_t c, size_t ys, const float *alpha) {
  for (size_t pix = 0; pix < pixels; pix++) {
    float *yr = y + pix * ys;
    for (size_t q = 0; q < c; q++) {
      const float v = yr[q], av = alpha[q] * v;
      yr[q] = v < 0.0f ? av : v;
    }
  }
}

void sofar_relu_f32(const float *x, float *y, int pixels, int c, int y_stride) {
  rowwise(RW_RELU, x, NULL, NULL, y, pixels, c, y_stride, 0, 0);
}
void sofar_prelu_f32(const float *x, const float *alpha, float *y, int pixels, int c, int y_stride) {
  rowwise(RW_PRELU, x, alpha, NULL, y, pixels, c, y_stride, 0, 0);
}
void sofar_clip_f32(const float *x, float *y, int pixels, int c, int y_stride, float lo, float hi) {
  rowwise(RW_CLIP, x, NULL, NULL, y, pixels, c, y_stride, lo, hi);
}
void sofar_sign_f32(const float *x, float *y, int pixels, int c, int y_stride) {
  rowwise(RW_SIGN, x, NULL, NULL, y, pixels, c, y_stride, 0, 0);
}
void sofar_copy_f32(const float *x, float *y, int pixels, int c, int y_stride) {
  rowwise(RW_COPY, x, NULL, NULL, y, pixels, c, y_stride, 0, 0);
}

/* e^x to about 2 ulp, portable (the wasm build has no libm): x = k·ln2 + r, a degree-7 polynomial for e^r
   (degree 6 reached 4.3 ulp near |r| = ln2/2). */
static float exp_f32(float x) {
  if (x != x) return x;
  if (x > 88.72f) return __builtin_inff();
  if (x < -103.98f) return 0.0f;
  const float k = (x * 1.44269504f + 12582912.0f) - 12582912.0f; /* round to nearest */
  const float r = (x - k * 0.693145751953125f) - k * 1.428606765330187e-06f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
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
  rowwise(RW_SIGMOID, x, NULL, NULL, y, pixels, c, y_stride, 0, 0);
}
void sofar_heaviside_f32(const float *x, float *y, int pixels, int c, int y_stride) {
  rowwise(RW_HEAVISIDE, x, NULL, NULL, y, pixels, c, y_stride, 0, 0);
}
void sofar_round_f32(const float *x, float *y, int pixels, int c, int y_stride) {
  rowwise(RW_ROUND, x, NULL, NULL, y, pixels, c, y_stride, 0, 0);
}
void sofar_div_f32(const float *x, const float *d, float *y, int pixels, int c, int y_stride) {
  rowwise(RW_DIV, x, d, NULL, y, pixels, c, y_stride, 0, 0);
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

void sofar_mul_channels_f32(const float *x, const float *s, float *y, int n, int pixels, int c) {
  if (n <= 0 || pixels <= 0 || c <= 0) return;
  const size_t ch = (size_t)c, np = (size_t)pixels;
  for (size_t img = 0; img < (size_t)n; img++)
    for (size_t pix = 0; pix < np; pix++) {
      const size_t at = (img * np + pix) * ch;
      for (size_t q = 0; q < ch; q++) y[at + q] = x[at + q] * s[img * ch + q];
    }
}

enum { FLAT_ADD, FLAT_MAX, FLAT_MUL, FLAT_SCALE };
struct flat_ctx {
  int op;
  const float *a, *b;
  float *y;
  float s;
  size_t count;
};
static void flat_task(void *vctx, size_t begin, size_t end, int slot) {
  (void)slot;
  const struct flat_ctx *k = (const struct flat_ctx *)vctx;
  const float *const a = k->a, *const b = k->b;
  float *const y = k->y;
  const float s = k->s;
  const size_t i0 = begin * EW_BLOCK, i1 = sofar_min(end * EW_BLOCK, k->count);
  switch (k->op) {
    case FLAT_ADD: for (size_t i = i0; i < i1; i++) y[i] = a[i] + b[i]; break;
    case FLAT_MAX: for (size_t i = i0; i < i1; i++) y[i] = a[i] > b[i] ? a[i] : b[i]; break;
    case FLAT_MUL: for (size_t i = i0; i < i1; i++) y[i] = a[i] * b[i]; break;
    case FLAT_SCALE: for (size_t i = i0; i < i1; i++) y[i] = a[i] * s; break;
  }
}
static void flat(int op, const float *a, const float *b, float s, float *y, size_t count) {
  struct flat_ctx k = {op, a, b, y, s, count};
  sofar_parallel_for(sofar_div_up(count, EW_BLOCK), flat_task, &k);
}

void sofar_mul_f32(const float *a, const float *b, float *y, size_t count) { flat(FLAT_MUL, a, b, 0, y, count); }
void sofar_add_f32(const float *a, const float *b, float *y, size_t count) { flat(FLAT_ADD, a, b, 0, y, count); }
void sofar_max_f32(const float *a, const float *b, float *y, size_t count) { flat(FLAT_MAX, a, b, 0, y, count); }
void sofar_scale_f32(const float *x, float s, float *y, size_t count) { flat(FLAT_SCALE, x, NULL, s, y, count); }

struct sum_ctx {
  const float *a, *b, *c, *d;
  float s;
  float *y;
  uint64_t *yp;
  size_t ch, ys, pix_per_task, pixels; /* ys: y's pixel stride (and a's, where a is y) */
  const struct sofar_ukernels *uk;
};
/* y = ((a + b) + c) + d over n floats (c, d NULL: left out), then y * s unless s is 1 */
static void sum_floats(const float *a, const float *b, const float *c, const float *d, float s, float *y, size_t n) {
  if (c && d) for (size_t i = 0; i < n; i++) y[i] = ((a[i] + b[i]) + c[i]) + d[i];
  else if (c) for (size_t i = 0; i < n; i++) y[i] = (a[i] + b[i]) + c[i];
  else for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
  if (s != 1.0f)
    for (size_t i = 0; i < n; i++) y[i] = y[i] * s;
}

/* a task's pixels: their floats, then their signs while the floats are in L1 */
static void sum_task(void *vctx, size_t begin, size_t end, int slot) {
  (void)slot;
  const struct sum_ctx *k = (const struct sum_ctx *)vctx;
  const size_t p0 = begin * k->pix_per_task, p1 = sofar_min(end * k->pix_per_task, k->pixels);
  const size_t ch = k->ch, ys = k->ys;
  if (ys == ch) { /* contiguous: one run of floats */
    sum_floats(k->a + p0 * ch, k->b + p0 * ch, k->c ? k->c + p0 * ch : NULL, k->d ? k->d + p0 * ch : NULL, k->s,
               k->y + p0 * ch, (p1 - p0) * ch);
  } else { /* y a slice of a concat: pixel by pixel */
    const size_t as = k->a == k->y ? ys : ch;
    for (size_t p = p0; p < p1; p++)
      sum_floats(k->a + p * as, k->b + p * ch, k->c ? k->c + p * ch : NULL, k->d ? k->d + p * ch : NULL, k->s,
                 k->y + p * ys, ch);
  }
  if (k->yp) {
    const size_t words = sofar_div_up(ch, 64);
    sofar_pack_rows(k->uk, k->y + p0 * ys, ys, NULL, NULL, k->yp + p0 * words, words, ch, p1 - p0);
  }
}
/* On the pool in blocks of whole pixels (about EW_BLOCK floats), each thread on the pixels the convs give it. */
void sofar_sum_f32(const float *a, const float *b, const float *c, const float *d, float s, float *y,
                   uint64_t *y_packed, int pixels, int channels, int y_stride) {
  if (pixels <= 0 || channels <= 0 || (d && !c) || (y_stride != 0 && y_stride < channels)) return;
  struct sum_ctx k = {a, b, c, d, s, y, y_packed, (size_t)channels, y_stride ? (size_t)y_stride : (size_t)channels, 0,
                      (size_t)pixels, sofar_ukernels_current()};
  k.pix_per_task = EW_BLOCK / k.ch > 1 ? EW_BLOCK / k.ch : 1;
  sofar_parallel_for(sofar_div_up(k.pixels, k.pix_per_task), sum_task, &k);
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
