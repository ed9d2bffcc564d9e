/*
 * C test harness for the kernels: random shapes (odd channel counts, strides, asymmetric pads, dilation,
 * groups, pad values, output strides, residuals, packed outputs), every available ISA and 1 and 2
 * threads, against naive references written from the header's definitions: binary results exactly,
 * float results within a tolerance scaled by the magnitude of the summed terms. Every buffer is
 * allocated with exactly the extent the kernel may touch, so AddressSanitizer (kernels-asan.test.ts
 * builds this with -fsanitize=address,undefined) catches any read or write outside it; the gaps of a
 * strided output are checked to be left untouched.
 *
 * Build: gcc -std=c11 -O2 -Inative/include native/src/[!a]*.c native/test/kernels_test.c -lpthread
 * Run: ./a.out [cases-per-kernel] [seed]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sofar_kernels.h"

/* native/src/internal.h, a hook for tests: the packed weight bytes from which binary convs split by channels */
void sofar_bconv_split_at(size_t bytes);
/* native/src/internal.h: the pool every threaded kernel runs on */
typedef void (*sofar_task_fn)(void *ctx, size_t begin, size_t end, int slot);
void sofar_parallel_for(size_t ntasks, sofar_task_fn fn, void *ctx);

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_u64(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}
static int rnd(int n) { return (int)(next_u64() % (uint64_t)n); }
static float rndf(void) { return (float)((double)(next_u64() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }
static int pick(const int *v, int n) { return v[rnd(n)]; }

static int failures = 0;
#define CHECK(cond, ...)                        \
  do {                                          \
    if (!(cond)) {                              \
      failures++;                               \
      if (failures < 20) {                      \
        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
        fprintf(stderr, __VA_ARGS__);           \
        fprintf(stderr, "\n");                  \
      }                                         \
    }                                           \
  } while (0)

/* exact-extent allocations: the usable bytes end where the allocation ends */
static void *alloc_exact(size_t bytes) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) abort();
  return p;
}

static const int isas[] = {SOFAR_ISA_SCALAR, SOFAR_ISA_AVX2, SOFAR_ISA_AVX512, SOFAR_ISA_WASM_SIMD128, SOFAR_ISA_NEON};
static int isa_available(int isa) { return sofar_set_isa(isa) == isa; }

static const float SENTINEL = 12345.5f;

/* ---------------------------------------------------------------------------------------------------- */

static int words_of(int c, int g) { return g * ((c / g + 63) / 64); }

static int bit_of(const uint64_t *row, int c) { return (int)((row[c / 64] >> (c % 64)) & 1); }

static void random_packed(uint64_t *x, size_t pixels, int channels, int groups) {
  const int cg = channels / groups, wg = (cg + 63) / 64;
  for (size_t p = 0; p < pixels; p++)
    for (int g = 0; g < groups; g++)
      for (int k = 0; k < wg; k++) {
        uint64_t v = next_u64();
        const int valid = cg - k * 64;
        if (valid < 64) v &= ((uint64_t)1 << valid) - 1;
        x[(p * groups + g) * wg + k] = v;
      }
}

/* The signs of one pixel's cout floats, packed in ypg groups (bit 1 = negative). */
static void pack_pixel(const float *v, uint64_t *out, int cout, int ypg) {
  const int cq = cout / ypg, wq = (cq + 63) / 64;
  for (int q = 0; q < ypg; q++)
    for (int k2 = 0; k2 < wq; k2++) {
      uint64_t word = 0;
      for (int b = 0; b < 64 && k2 * 64 + b < cq; b++) word |= (uint64_t)(v[q * cq + k2 * 64 + b] < 0.0f) << b;
      out[(size_t)q * wq + k2] = word;
    }
}

/* One binary conv shape (the rest of it random) against the reference, on every ISA, 1 and 2 threads, all modes. */
static int pooled_out_cases = 0; /* bconv_case's SOFAR_EPI_POOL2_OUT checks run */
/* bconv_case's maps up to this many rows and columns more than the kernel spans (7: small and quick; larger maps
   give a task several spans of pixels per transform call, see bconv_blocks) */
static int map_extent = 7;

/* The epilogue's per-channel vectors (sofar_bconv2d_epilogue's SOFAR_EPI_* order). */
struct epilogue_vectors {
  const float *mul, *bias, *alpha, *scale, *post, *pack_scale, *pack_shift;
};

/* Channel o's float after the epilogue chain `ops`, from the count acc: res (NULL: none) before or after the
   activation, res2 (NULL: none) right after res's place before it (sofar_bconv2d_epilogue_res2). */
static float epilogue_ref(const struct epilogue_vectors *e, int ops, int o, float acc, const float *res, const float *res2) {
  float v = acc;
  if (ops & SOFAR_EPI_MULTIPLIER) v = v * e->mul[o];
  v = v + ((ops & SOFAR_EPI_BIAS) ? e->bias[o] : 0.0f);
  if (res && !(ops & SOFAR_EPI_RESIDUAL_AFTER)) v = v + *res;
  if (res2) v = v + *res2;
  if ((ops & SOFAR_EPI_ALPHA) && v < 0.0f) v = e->alpha[o] * v;
  if (ops & SOFAR_EPI_SCALE) v = v * e->scale[o] + ((ops & SOFAR_EPI_SHIFT) ? e->post[o] : 0.0f);
  else if (ops & SOFAR_EPI_SHIFT) v = v + e->post[o];
  if (res && (ops & SOFAR_EPI_RESIDUAL_AFTER)) v = v + *res;
  return v;
}

/* The value whose sign channel o's packed bit holds. */
static float epilogue_sign_ref(const struct epilogue_vectors *e, int ops, int o, float v) {
  if (!(ops & (SOFAR_EPI_PACK_SCALE | SOFAR_EPI_PACK_SHIFT))) return v;
  return ((ops & SOFAR_EPI_PACK_SCALE) ? v * e->pack_scale[o] : v) + ((ops & SOFAR_EPI_PACK_SHIFT) ? e->pack_shift[o] : 0.0f);
}

static void bconv_case(int groups, int cg, int og, int kh, int kw, int sh, int sw, int dh, int dw, int pad_value) {
  {
    const int cin = cg * groups, cout = og * groups;
    const int n = 1 + rnd(2);
    const int pt = rnd(kh), pl = rnd(kw), pb = rnd(kh), pr = rnd(kw);
    const int h = 1 + rnd(map_extent) + dh * (kh - 1), w = 1 + rnd(map_extent) + dw * (kw - 1);
    const int ho = (h + pt + pb - dh * (kh - 1) - 1) / sh + 1, wo = (w + pl + pr - dw * (kw - 1) - 1) / sw + 1;
    const size_t P = (size_t)n * ho * wo;
    const int ys = rnd(2) ? 0 : cout + rnd(5);
    const size_t yss = ys ? (size_t)ys : (size_t)cout;
    /* a third of the time the operands of the zoo's models, whose combinations the SIMD transforms compile on
       their own (with the ops chosen below): float output, packed output and residual all present */
    const int zoo = rnd(3) == 0;
    const int use_y = zoo || rnd(4) != 0, use_yp = zoo || !use_y || rnd(2);
    int ypg = 1;
    if (cout % 2 == 0 && rnd(2)) ypg = 2;
    if (cout % groups == 0 && rnd(3) == 0) ypg = groups;
    const int use_res = zoo || rnd(2), use_bias = rnd(3) != 0, use_mul = zoo || rnd(5) != 0;
    const size_t wx = (size_t)words_of(cin, groups), wgk = (size_t)((cg + 63) / 64);
    const size_t kwords = (size_t)cout * kh * kw * wgk;
    const size_t yext = (P - 1) * yss + (size_t)cout;
    const size_t ypw = (size_t)words_of(cout, ypg);

    uint64_t *x = alloc_exact(P ? (size_t)n * h * w * wx * 8 : 8);
    random_packed(x, (size_t)n * h * w, cin, groups);
    uint64_t *k = alloc_exact(kwords * 8);
    random_packed(k, (size_t)cout * kh * kw, cg, 1); /* cout*kh*kw taps of cg channels each */
    float *mul = alloc_exact((size_t)cout * 4), *bias = alloc_exact((size_t)cout * 4);
    for (int o = 0; o < cout; o++) {
      mul[o] = rndf() * 0.1f;
      bias[o] = rndf();
    }
    float *res = alloc_exact(yext * 4);
    for (size_t i = 0; i < yext; i++) res[i] = rndf();

    /* reference */
    float *ref = alloc_exact(yext * 4), *accs = alloc_exact((P ? P : 1) * (size_t)cout * 4);
    uint64_t *refp = alloc_exact(P * ypw * 8);
    for (size_t i = 0; i < yext; i++) ref[i] = SENTINEL;
    for (size_t p = 0; p < P; p++) {
      const int img = (int)(p / ((size_t)ho * wo)), oh = (int)(p / wo % ho), ow = (int)(p % wo);
      for (int o = 0; o < cout; o++) {
        const int g = o / og;
        long acc = 0;
        for (int i = 0; i < kh; i++)
          for (int j = 0; j < kw; j++) {
            const int ih = oh * sh - pt + i * dh, iw = ow * sw - pl + j * dw;
            const int in = ih >= 0 && ih < h && iw >= 0 && iw < w;
            const uint64_t *xr = in ? x + (((size_t)img * h + ih) * w + iw) * wx + (size_t)g * wgk : NULL;
            const uint64_t *kr = k + (((size_t)o * kh + i) * kw + j) * wgk;
            for (int c = 0; c < cg; c++) {
              const int xv = in ? (bit_of(xr, c) ? -1 : 1) : pad_value;
              const int wv = bit_of(kr, c) ? -1 : 1;
              acc += xv * wv;
            }
          }
        float v = (float)acc;
        accs[p * cout + o] = v;
        if (use_mul) v = v * mul[o];
        v = v + (use_bias ? bias[o] : 0.0f);
        if (use_res) v = v + res[p * yss + o];
        ref[p * yss + o] = v;
      }
      pack_pixel(ref + p * yss, refp + p * ypw, cout, ypg);
    }

    /* the post transform (PReLU alpha, then + post) on the same accumulators: ref2, refp2 */
    float *alpha = alloc_exact((size_t)cout * 4), *post = alloc_exact((size_t)cout * 4), *ref2 = alloc_exact(yext * 4);
    uint64_t *refp2 = alloc_exact(P * ypw * 8);
    for (int o = 0; o < cout; o++) alpha[o] = rndf(), post[o] = rndf() * 0.5f;
    for (size_t i = 0; i < yext; i++) ref2[i] = ref[i];
    for (size_t p = 0; p < P; p++) {
      for (int o = 0; o < cout; o++) {
        float v = ref[p * yss + o];
        v = v < 0.0f ? alpha[o] * v : v;
        ref2[p * yss + o] = v + post[o];
      }
      pack_pixel(ref2 + p * yss, refp2 + p * ypw, cout, ypg);
    }

    /* sofar_bconv2d_epilogue with random ops, the residual after the activation when set, a wider packed stride */
    /* the zoo's combinations (ReActNet's BN, RPReLU and RSign: 43, 171; QuickNet's ReLU, BN, shortcut after:
       61; Real-to-Binary Net's multiplier, PReLU, shortcut after, the next BN's signs: 205; DRF's join: 17; RF's
       join convs with epilogue_res2 below: 3, and 19 for the last, scaled),
       else any ops; the signs of an affine map half the time */
    static const int zoo_ops[] = {43, 171, 61, 61 | SOFAR_EPI_PACK_SHIFT, 205, 17, 3, 19};
    const int ops = zoo ? pick(zoo_ops, 8) : rnd(256) | (rnd(2) ? SOFAR_EPI_PACK_SHIFT : 0);
    const int yps = rnd(2) ? 0 : (int)ypw + 1 + rnd(2);
    const size_t ypss = yps ? (size_t)yps : ypw;
    float *scale = alloc_exact((size_t)cout * 4), *pscale = alloc_exact((size_t)cout * 4), *pshift = alloc_exact((size_t)cout * 4);
    for (int o = 0; o < cout; o++) scale[o] = rndf(), pscale[o] = rnd(8) ? rndf() : -0.0f, pshift[o] = rndf();
    const float *vectors[8] = {mul, bias, NULL, alpha, scale, post, pscale, pshift};
    float *params = alloc_exact(8 * (size_t)cout * 4);
    size_t nparams = 0;
    for (int bit = 0; bit < 8; bit++)
      if (ops & (1 << bit) && vectors[bit]) memcpy(params + (nparams++) * cout, vectors[bit], (size_t)cout * 4);
    const struct epilogue_vectors epi = {mul, bias, alpha, scale, post, pscale, pshift};
    float *ref3 = alloc_exact(yext * 4), *signs3 = alloc_exact((size_t)cout * 4);
    uint64_t *refp3 = alloc_exact(((P ? P - 1 : 0) * ypss + ypw) * 8);
    for (size_t i = 0; i < yext; i++) ref3[i] = SENTINEL;
    memset(refp3, 0xa5, ((P ? P - 1 : 0) * ypss + ypw) * 8);
    for (size_t p = 0; p < P; p++) {
      for (int o = 0; o < cout; o++) {
        const float v = epilogue_ref(&epi, ops, o, accs[p * cout + o], use_res ? &res[p * yss + o] : NULL, NULL);
        ref3[p * yss + o] = v;
        signs3[o] = epilogue_sign_ref(&epi, ops, o, v);
      }
      pack_pixel(signs3, refp3 + p * ypss, cout, ypg);
    }

    const size_t sbytes = sofar_bconv2d_scratch_bytes(n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups);
    const size_t pbytes = sofar_bconv2d_packed_kernel_bytes(cout, cin, kh, kw, groups);
    CHECK(sbytes > 0 && pbytes > 0, "scratch sizes");
    void *scratch = alloc_exact(sbytes);
    void *packed = alloc_exact(pbytes);
    sofar_bconv2d_pack_kernel(k, packed, cout, cin, kh, kw, groups);
    float *y = alloc_exact(yext * 4);
    const size_t ypext = (P ? P - 1 : 0) * ypss + ypw; /* words, the widest packed stride of the modes */
    uint64_t *yp = alloc_exact(ypext * 8);
    float *first = alloc_exact(yext * 4);
    for (int ii = 0; ii < (int)(sizeof isas / sizeof isas[0]); ii++) {
      if (!isa_available(isas[ii])) continue;
      for (int threads = 1; threads <= 3; threads++) {
        /* mode + 4: the same call in place, y over the residual (the planner's in-place outputs) */
        for (int mode = 0; mode <= 7; mode++) {
          const int prepacked = mode % 4, inplace = mode >= 4;
          if (inplace && !(use_res && use_y)) continue;
          sofar_set_threads(threads);
          for (size_t i = 0; i < yext; i++) y[i] = inplace ? res[i] : SENTINEL;
          memset(yp, 0xa5, ypext * 8);
          const float *rin = inplace ? y : res;
          const float *want = prepacked == 3 ? ref3 : prepacked == 2 ? ref2 : ref;
          const uint64_t *wantp = prepacked == 3 ? refp3 : prepacked == 2 ? refp2 : refp;
          if (prepacked == 3)
            sofar_bconv2d_epilogue(x, packed, nparams ? params : NULL, use_res ? rin : NULL, use_y ? y : NULL,
                                   use_yp ? yp : NULL, scratch, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh,
                                   dw, groups, pad_value, ys, 0, yps, ops, ypg);
          else if (prepacked == 2)
            sofar_bconv2d_prepacked_post(x, packed, use_mul ? mul : NULL, use_bias ? bias : NULL, use_res ? rin : NULL,
                                         alpha, post, use_y ? y : NULL, use_yp ? yp : NULL, scratch, n, h, w, cin,
                                         cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, pad_value, ys, ypg);
          else if (prepacked)
            sofar_bconv2d_prepacked(x, packed, use_mul ? mul : NULL, use_bias ? bias : NULL, use_res ? rin : NULL,
                                    use_y ? y : NULL, use_yp ? yp : NULL, scratch, n, h, w, cin, cout, kh, kw, sh, sw,
                                    pt, pl, pb, pr, dh, dw, groups, pad_value, ys, ypg);
          else
            sofar_bconv2d(x, k, use_mul ? mul : NULL, use_bias ? bias : NULL, use_res ? rin : NULL, use_y ? y : NULL,
                          use_yp ? yp : NULL, scratch, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw,
                          groups, pad_value, ys, ypg);
          if (use_y) {
            size_t bad = 0, at = 0;
            for (size_t i = 0; i < yext; i++) {
              /* in place, the floats between pixels (a wider stride) keep the residual's */
              const float wi = inplace && i % yss >= (size_t)cout ? res[i] : want[i];
              if (!(y[i] == wi) && !(isnan(y[i]) && isnan(wi))) {
                if (!bad) at = i;
                bad++;
              }
            }
            CHECK(!bad,
                  "bconv isa %d threads %d mode %d: %zu of %zu floats differ (first at %zu: %g vs %g); "
                  "n%d h%d w%d cin%d cout%d k%dx%d s%dx%d p%d,%d,%d,%d d%dx%d g%d pad%d ys%d",
                  isas[ii], threads, mode, bad, yext, at, y[at], want[at], n, h, w, cin, cout, kh, kw, sh, sw,
                  pt, pl, pb, pr, dh, dw, groups, pad_value, ys);
          }
          if (use_yp)
            CHECK(!memcmp(yp, wantp, (prepacked == 3 ? ypext : P * ypw) * 8),
                  "bconv packed output isa %d threads %d mode %d: cin%d cout%d ypg%d ops%d yps%d", isas[ii], threads,
                  mode, cin, cout, ypg, ops, yps);
        }
      }
    }
    /* sofar_bconv2d_epilogue_pack2 (with a float output): the second packing reads y's rows over the whole stride
       (the gap channels hold SENTINEL, as a concat's other slices would hold their values), with a threshold of
       its own; everything else as the epilogue */
    if (use_y) {
      const size_t p2c = yss, p2w = (p2c + 63) / 64;
      float *s2 = alloc_exact(p2c * 4), *t2 = alloc_exact(p2c * 4), *row = alloc_exact(p2c * 4);
      for (size_t c = 0; c < p2c; c++) s2[c] = rnd(4) ? rndf() : -0.0f, t2[c] = rndf();
      const int with_scale = rnd(2), with_shift = rnd(4) != 0;
      uint64_t *refp4 = alloc_exact(P * p2w * 8), *yp2 = alloc_exact(P * p2w * 8);
      for (size_t q = 0; q < P; q++) {
        for (size_t c = 0; c < p2c; c++) {
          const size_t at = q * yss + c;
          float v = at < yext ? ref3[at] : SENTINEL;
          if (with_scale) v = v * s2[c];
          if (with_shift) v = v + t2[c];
          row[c] = v;
        }
        pack_pixel(row, refp4 + q * p2w, (int)p2c, 1);
      }
      /* y's extent covers every row's p2c floats only up to the last row's cout: read a copy as wide as needed */
      float *yw = alloc_exact(P * yss * 4);
      for (int ii = 0; ii < (int)(sizeof isas / sizeof isas[0]); ii++) {
        if (!isa_available(isas[ii])) continue;
        for (int threads = 1; threads <= 3; threads++) {
          sofar_set_threads(threads);
          for (size_t i = 0; i < P * yss; i++) yw[i] = SENTINEL;
          memset(yp, 0xa5, ypext * 8);
          memset(yp2, 0x5a, P * p2w * 8);
          sofar_bconv2d_epilogue_pack2(x, packed, nparams ? params : NULL, use_res ? res : NULL, yw, use_yp ? yp : NULL,
                                       yw, with_scale ? s2 : NULL, with_shift ? t2 : NULL, yp2, scratch, n, h, w, cin,
                                       cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, pad_value, ys, 0, yps, ops,
                                       ypg, (int)p2c, (int)yss);
          size_t bad = 0;
          for (size_t i = 0; i < yext; i++) bad += !(yw[i] == ref3[i]) && !(isnan(yw[i]) && isnan(ref3[i]));
          CHECK(!bad, "epilogue_pack2 isa %d threads %d: %zu floats differ", isas[ii], threads, bad);
          if (use_yp) CHECK(!memcmp(yp, refp3, ypext * 8), "epilogue_pack2 packed output isa %d threads %d", isas[ii], threads);
          CHECK(!memcmp(yp2, refp4, P * p2w * 8), "epilogue_pack2 second packing isa %d threads %d: cout%d stride%zu scale%d shift%d",
                isas[ii], threads, cout, yss, with_scale, with_shift);
        }
      }
      free(s2); free(t2); free(row); free(refp4); free(yp2); free(yw);
    }
    /* sofar_bconv2d_epilogue_res2: a second map added right after the first residual's place before the
       activation (RF's fractal joins: the unit's shortcut, then the sum so far), at a stride of its own or y's;
       in place over y (the same pointer and stride) half the time it has y's */
    {
      const int r2s = rnd(2) ? 0 : cout + rnd(3);
      const size_t r2ss = r2s ? (size_t)r2s : yss, r2ext = (P - 1) * r2ss + (size_t)cout;
      float *res2 = alloc_exact(r2ext * 4), *want8 = alloc_exact(yext * 4), *y8 = alloc_exact(yext * 4), *signs8 = alloc_exact((size_t)cout * 4);
      uint64_t *wantp8 = alloc_exact(ypext * 8);
      for (size_t i = 0; i < r2ext; i++) res2[i] = rndf();
      for (size_t i = 0; i < yext; i++) want8[i] = SENTINEL;
      memset(wantp8, 0xa5, ypext * 8);
      for (size_t p = 0; p < P; p++) {
        for (int o = 0; o < cout; o++) {
          const float v = epilogue_ref(&epi, ops, o, accs[p * cout + o], use_res ? &res[p * yss + o] : NULL, &res2[p * r2ss + o]);
          want8[p * yss + o] = v;
          signs8[o] = epilogue_sign_ref(&epi, ops, o, v);
        }
        pack_pixel(signs8, wantp8 + p * ypss, cout, ypg);
      }
      const int inplace = use_y && r2s == 0 && rnd(2);
      for (int ii = 0; ii < (int)(sizeof isas / sizeof isas[0]); ii++) {
        if (!isa_available(isas[ii])) continue;
        for (int threads = 1; threads <= 3; threads++) {
          sofar_set_threads(threads);
          for (size_t i = 0; i < yext; i++) y8[i] = inplace ? res2[i] : SENTINEL;
          memset(yp, 0xa5, ypext * 8);
          sofar_bconv2d_epilogue_res2(x, packed, nparams ? params : NULL, use_res ? res : NULL, use_y ? y8 : NULL,
                                      use_yp ? yp : NULL, inplace ? y8 : res2, scratch, n, h, w, cin, cout, kh, kw, sh,
                                      sw, pt, pl, pb, pr, dh, dw, groups, pad_value, ys, 0, yps, ops, ypg, r2s);
          if (use_y) {
            size_t bad = 0;
            for (size_t i = 0; i < yext; i++) {
              const float wi = inplace && i % yss >= (size_t)cout ? res2[i] : want8[i];
              bad += !(y8[i] == wi) && !(isnan(y8[i]) && isnan(wi));
            }
            CHECK(!bad, "epilogue_res2 isa %d threads %d: %zu floats differ (cout%d ops%d r2s%d inplace%d)", isas[ii],
                  threads, bad, cout, ops, r2s, inplace);
          }
          if (use_yp) CHECK(!memcmp(yp, wantp8, ypext * 8), "epilogue_res2 packed output isa %d threads %d ops%d", isas[ii], threads, ops);
        }
      }
      free(res2); free(want8); free(y8); free(signs8); free(wantp8);
    }
    /* SOFAR_EPI_RESIDUAL_POOL2: the residual pooled 2x2 /2 from a map of the input's size in the conv's pass,
       against sofar_avgpool_f32 then the epilogue with the pooled map (both checked on their own above) */
    if (use_res && 2 * ho <= h && 2 * wo <= w && groups == 1) {
      const int rs2 = cout + rnd(3);
      const size_t src_n = (size_t)n * h * w * rs2;
      float *src = alloc_exact(src_n * 4), *pooled = alloc_exact((size_t)n * (h / 2) * (w / 2) * cout * 4);
      float *want5 = alloc_exact(yext * 4), *y5 = alloc_exact(yext * 4);
      uint64_t *wantp5 = alloc_exact(ypext * 8);
      for (size_t i = 0; i < src_n; i++) src[i] = rndf();
      float *dense_src = alloc_exact((size_t)n * h * w * cout * 4);
      for (size_t q = 0; q < (size_t)n * h * w; q++) memcpy(dense_src + q * cout, src + q * rs2, (size_t)cout * 4);
      sofar_set_threads(1);
      sofar_avgpool_f32(dense_src, pooled, n, h, w, cout, 2, 2, 2, 2, 0, 0, 0, 0);
      /* the pooled map has ho' = h/2 rows: keep the conv's ho x wo of them */
      const int hp = h / 2, wp = w / 2;
      float *pooled_out = alloc_exact(P * (size_t)cout * 4);
      for (int im = 0; im < n; im++)
        for (int i = 0; i < ho; i++)
          memcpy(pooled_out + (((size_t)im * ho + i) * wo) * cout, pooled + (((size_t)im * hp + i) * wp) * cout, (size_t)wo * cout * 4);
      for (size_t i = 0; i < yext; i++) want5[i] = SENTINEL;
      memset(wantp5, 0xa5, ypext * 8);
      sofar_bconv2d_epilogue(x, packed, nparams ? params : NULL, pooled_out, want5, use_yp ? wantp5 : NULL, scratch, n, h, w,
                             cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, pad_value, ys, cout, yps, ops, ypg);
      for (int ii = 0; ii < (int)(sizeof isas / sizeof isas[0]); ii++) {
        if (!isa_available(isas[ii])) continue;
        for (int threads = 1; threads <= 3; threads++) {
          sofar_set_threads(threads);
          for (size_t i = 0; i < yext; i++) y5[i] = SENTINEL;
          memset(yp, 0xa5, ypext * 8);
          sofar_bconv2d_epilogue(x, packed, nparams ? params : NULL, src, y5, use_yp ? yp : NULL, scratch, n, h, w, cin,
                                 cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, pad_value, ys, rs2, yps,
                                 ops | SOFAR_EPI_RESIDUAL_POOL2, ypg);
          size_t bad = 0;
          for (size_t i = 0; i < yext; i++) bad += !(y5[i] == want5[i]) && !(isnan(y5[i]) && isnan(want5[i]));
          CHECK(!bad, "pooled residual isa %d threads %d: %zu floats differ (h%d w%d ho%d wo%d cout%d ops%d)", isas[ii],
                threads, bad, h, w, ho, wo, cout, ops);
          if (use_yp) CHECK(!memcmp(yp, wantp5, ypext * 8), "pooled residual packed isa %d threads %d", isas[ii], threads);
        }
      }
      free(src); free(pooled); free(pooled_out); free(dense_src); free(want5); free(y5); free(wantp5);
    }
    /* SOFAR_EPI_POOL2_OUT (1x1, stride 1, no padding, even h and w): y is the 2x2 /2 average of the epilogue's
       output (ref3), at a stride of its own, and the packed signs are every pixel's (refp3); with 32 channels or
       fewer in one group, also into either half of words whose other half is kept (SOFAR_EPI_PACK_LOW32/HIGH32) */
    if (kh == 1 && kw == 1 && sh == 1 && sw == 1 && h % 2 == 0 && w % 2 == 0) {
      pooled_out_cases++;
      const int hp = h / 2, wp = w / 2, ysp = cout + rnd(3);
      const size_t pp = (size_t)n * hp * wp, pext = (pp - 1) * ysp + (size_t)cout;
      float *want6 = alloc_exact(pext * 4), *y6 = alloc_exact(pext * 4);
      for (size_t i = 0; i < pext; i++) want6[i] = SENTINEL;
      for (size_t q = 0; q < pp; q++) {
        const size_t im = q / ((size_t)hp * wp), i = q / wp % hp, j = q % wp;
        const size_t top = ((im * h + 2 * i) * w + 2 * j) * yss, bottom = top + (size_t)w * yss;
        for (int o = 0; o < cout; o++)
          want6[q * ysp + o] = (((ref3[top + o] + ref3[top + yss + o]) + ref3[bottom + o]) + ref3[bottom + yss + o]) / 4.0f;
      }
      const int halves = cout <= 32 && ypg == 1;
      uint64_t *before = alloc_exact(ypext * 8), *want7 = alloc_exact(ypext * 8);
      for (size_t i = 0; i < ypext; i++) before[i] = next_u64();
      for (int mode = 0; mode < (halves ? 3 : 1); mode++) { /* 0: whole words, 1: low halves, 2: high halves */
        const int half_ops = mode == 1 ? SOFAR_EPI_PACK_LOW32 : mode == 2 ? SOFAR_EPI_PACK_HIGH32 : 0;
        if (mode == 0) {
          memcpy(want7, refp3, ypext * 8);
        } else {
          memcpy(want7, before, ypext * 8);
          for (size_t q = 0; q < P; q++) {
            uint64_t *wd = want7 + q * ypss;
            const uint64_t bits = refp3[q * ypss];
            *wd = mode == 1 ? (*wd & ~(uint64_t)0xffffffff) | bits : (*wd & 0xffffffff) | bits << 32;
          }
        }
        for (int ii = 0; ii < (int)(sizeof isas / sizeof isas[0]); ii++) {
          if (!isa_available(isas[ii])) continue;
          for (int threads = 1; threads <= 3; threads++) {
            sofar_set_threads(threads);
            for (size_t i = 0; i < pext; i++) y6[i] = SENTINEL;
            if (mode == 0) memset(yp, 0xa5, ypext * 8);
            else memcpy(yp, before, ypext * 8);
            const int packs = use_yp || mode != 0;
            sofar_bconv2d_epilogue(x, packed, nparams ? params : NULL, use_res ? res : NULL, y6, packs ? yp : NULL, scratch,
                                   n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, pad_value, ysp, (int)yss,
                                   yps, ops | SOFAR_EPI_POOL2_OUT | half_ops, ypg);
            size_t bad = 0, at = 0;
            for (size_t i = 0; i < pext; i++)
              if (!(y6[i] == want6[i]) && !(isnan(y6[i]) && isnan(want6[i]))) {
                if (!bad) at = i;
                bad++;
              }
            CHECK(!bad, "pooled output isa %d threads %d mode %d: %zu of %zu floats differ (first at %zu: %g vs %g) n%d h%d w%d cout%d g%d ops%d",
                  isas[ii], threads, mode, bad, pext, at, y6[at], want6[at], n, h, w, cout, groups, ops);
            if (packs)
              CHECK(!memcmp(yp, want7, ypext * 8), "pooled output's packed signs isa %d threads %d mode %d: cout%d ypg%d yps%d",
                    isas[ii], threads, mode, cout, ypg, yps);
          }
        }
      }
      free(want6); free(y6); free(before); free(want7);
    }
    free(x); free(k); free(mul); free(bias); free(res); free(ref); free(refp); free(scratch); free(packed); free(y);
    free(yp); free(first); free(alpha); free(post); free(ref2); free(refp2);
    free(accs); free(scale); free(pscale); free(pshift); free(params); free(ref3); free(signs3); free(refp3);
  }
}

static void test_bconv(int cases) {
  static const int cgs[] = {1, 3, 31, 63, 64, 65, 127, 128, 200};
  static const int ogs[] = {1, 3, 7, 8, 9, 31, 32, 33, 64, 65, 100};
  for (int t = 0; t < cases; t++) {
    const int groups = pick((const int[]){1, 1, 1, 2, 4}, 5);
    const int cg = pick(cgs, 9), og = pick(ogs, 11);
    const int kh = t == 1 ? 18 : 1 + rnd(3), kw = 1 + rnd(3), sh = 1 + rnd(2), sw = 1 + rnd(2);
    const int dh = 1 + (rnd(4) == 0), dw = 1 + (rnd(4) == 0);
    bconv_case(groups, cg, og, kh, kw, sh, sw, dh, dw, rnd(3) - 1);
  }
}

/* Output-channel parts (the split bconv.c uses for weights over half an L2, forced here from 0 bytes): one
   group of 128, 192, 256 or 384 channels in 2 or 3 parts of whole words (uneven where the words do not
   divide), with every other operand of bconv_case (padding corrections, strides, packed and float outputs,
   the epilogues) */
static void test_bconv_split(int cases) {
  sofar_bconv_split_at(0);
  static const int cgs[] = {3, 64, 65, 128}, ogs[] = {128, 192, 256, 384};
  for (int t = 0; t < cases; t++)
    bconv_case(1, pick(cgs, 4), pick(ogs, 4), 1 + rnd(3), 1 + rnd(3), 1 + rnd(2), 1 + rnd(2), 1, 1, rnd(3) - 1);
  /* one or two pixels (a binary dense layer at batch 1): fewer pixels than the 2 and 3 threads that split them */
  map_extent = 1;
  for (int t = 0; t < 4; t++) bconv_case(1, pick(cgs, 4), pick(ogs, 4), 1, 1, 1, 1, 1, 1, rnd(3) - 1);
  map_extent = 7;
  sofar_bconv_split_at(512 * 1024);
}

/* 1x1 convs of stride 1, as ReActNet's pointwise convs: SOFAR_EPI_POOL2_OUT runs where h and w are even, and
   the half-word packing where cout <= 32 (32 among them, as ReActNet-A's first concat) */
static void test_bconv_pooled_out(int cases) {
  static const int cgs[] = {1, 31, 32, 64, 65, 128}, ogs[] = {1, 8, 16, 31, 32, 33, 64, 100};
  const int before = pooled_out_cases;
  for (int t = 0; t < cases; t++) {
    map_extent = t % 2 ? 40 : 7; /* up to 3,200 pixels: several spans of 60 pixels a task */
    bconv_case(pick((const int[]){1, 1, 2}, 3), pick(cgs, 6), t % 3 == 0 ? 32 : pick(ogs, 8), 1, 1, 1, 1, 1, 1, rnd(3) - 1);
  }
  map_extent = 7;
  CHECK(pooled_out_cases - before > 0, "the pooled-output checks ran %d times in %d cases", pooled_out_cases - before, cases);
}

/* 3x3 convs on maps up to 40x40: a task's interior blocks make spans of up to 64 pixels for one transform call,
   broken by the blocks with padding corrections (pad value 0) or not (+1, -1), row-packed (32, 41) or not */
static void test_bconv_spans(int cases) {
  static const int cgs[] = {32, 41, 64, 130}, ogs[] = {16, 32, 41, 64};
  map_extent = 40;
  for (int t = 0; t < cases; t++) bconv_case(1, pick(cgs, 4), pick(ogs, 4), 3, 3, 1 + rnd(2), 1 + rnd(2), 1, 1, t % 3 - 1);
  map_extent = 7;
}

/*
 * Every channel count per group from 1 to 130, with 2- and 3-wide kernels: the counts whose kernel rows are
 * packed bit by bit across taps (e.g. 41: 3 taps in 2 words) and those that are not, each with strides,
 * dilations, pad values -1/0/+1 and groups cycling through it.
 */
static void test_bconv_channel_sweep(void) {
  for (int cg = 1; cg <= 130; cg++)
    for (int kw = 2; kw <= 3; kw++) {
      /* few output channels (no row packing: not worth its gather) and many (row-packed where it saves words) */
      const int groups = cg % 5 == 0 ? 2 : 1, og = (cg + kw) % 2 ? 1 + (cg * 7 + kw) % 16 : 40 + (cg * 13 + kw) % 60;
      const int s = 1 + (cg % 3 == 0), d = 1 + (cg % 4 == 0);
      bconv_case(groups, cg, og, 3, kw, s, 1 + (cg % 7 == 0), d, 1 + (cg % 6 == 0), (cg + kw) % 3 - 1);
    }
  /* 32 channels, 3 taps a row, row-packed (ReActNet-A's and QuickNetSmall's first binary convs): two taps to a
     word, gathered by their own path where the three lie in the image */
  for (int s = 1; s <= 2; s++)
    for (int pad_value = -1; pad_value <= 1; pad_value++) bconv_case(1, 32, 32 * s, 3, 3, s, s, 1, 1, pad_value);
}

/* ---------------------------------------------------------------------------------------------------- */

static void test_pack_signs(int cases) {
  static const float specials[] = {0.0f, -0.0f, 1.0f, -1.0f, 1e-30f, -1e-30f};
  for (int t = 0; t < cases; t++) {
    const int groups = pick((const int[]){1, 2, 4}, 3), cg = pick((const int[]){1, 3, 16, 17, 32, 33, 41, 48, 63, 64, 65, 127, 200}, 13);
    /* some maps of many pixels: sofar_pack_signs_affine2 works in blocks of rows */
    const int channels = cg * groups, pixels = rnd(4) ? 1 + rnd(9) : 40 + rnd(200), xs = rnd(2) ? 0 : channels + rnd(4);
    const size_t xss = xs ? (size_t)xs : (size_t)channels, xext = (size_t)(pixels - 1) * xss + channels;
    float *x = alloc_exact(xext * 4);
    for (size_t i = 0; i < xext; i++) {
      const int r = rnd(10);
      x[i] = r < 6 ? rndf() : r < 9 ? specials[rnd(6)] : NAN;
    }
    const size_t words = (size_t)pixels * words_of(channels, groups);
    uint64_t *ref = alloc_exact(words * 8), *y = alloc_exact(words * 8), *y2 = alloc_exact(words * 8);
    const int wg = (cg + 63) / 64;
    for (int p = 0; p < pixels; p++)
      for (int g = 0; g < groups; g++)
        for (int k = 0; k < wg; k++) {
          uint64_t word = 0;
          for (int b = 0; b < 64 && k * 64 + b < cg; b++) word |= (uint64_t)(x[p * xss + g * cg + k * 64 + b] < 0) << b;
          ref[((size_t)p * groups + g) * wg + k] = word;
        }
    /* the affine variant: signs of x*scale + shift, as sofar_affine_f32 computes it */
    float *scale = alloc_exact((size_t)channels * 4), *shift = alloc_exact((size_t)channels * 4);
    float *ax = alloc_exact(xext * 4);
    uint64_t *aref = alloc_exact(words * 8);
    for (int c = 0; c < channels; c++) scale[c] = rnd(8) ? rndf() : 0.0f, shift[c] = rnd(8) ? rndf() : -0.0f;
    /* either may be absent (1, +0): the multi-row packers keep each in registers or leave it out */
    const int with_scale = rnd(4) != 0, with_shift = !with_scale || rnd(4) != 0;
    for (int p = 0; p < pixels; p++)
      for (int c = 0; c < channels; c++) {
        float v = x[p * xss + c];
        if (with_scale) v = v * scale[c];
        if (with_shift) v = v + shift[c];
        ax[p * xss + c] = v;
      }
    for (int p = 0; p < pixels; p++)
      for (int g = 0; g < groups; g++)
        for (int k = 0; k < wg; k++) {
          uint64_t word = 0;
          for (int b = 0; b < 64 && k * 64 + b < cg; b++) word |= (uint64_t)(ax[p * xss + g * cg + k * 64 + b] < 0) << b;
          aref[((size_t)p * groups + g) * wg + k] = word;
        }
    for (int ii = 0; ii < (int)(sizeof isas / sizeof isas[0]); ii++) {
      if (!isa_available(isas[ii])) continue;
      memset(y, 0x5a, words * 8);
      sofar_pack_signs(x, y, pixels, channels, xs, groups);
      CHECK(!memcmp(y, ref, words * 8), "pack_signs isa %d channels %d groups %d", isas[ii], channels, groups);
      memset(y, 0x5a, words * 8);
      sofar_pack_signs_affine(x, with_scale ? scale : NULL, with_shift ? shift : NULL, y, pixels, channels, xs, groups);
      CHECK(!memcmp(y, aref, words * 8), "pack_signs_affine isa %d channels %d groups %d scale %d shift %d", isas[ii],
            channels, groups, with_scale, with_shift);
      /* two in one pass, either first (the plain signs as the other: no scale, no shift), 1-3 threads */
      for (int threads = 1; threads <= 3; threads++) {
        sofar_set_threads(threads);
        memset(y, 0x5a, words * 8);
        memset(y2, 0xa5, words * 8);
        const int swap = rnd(2);
        const float *s1 = with_scale ? scale : NULL, *t1 = with_shift ? shift : NULL;
        if (swap) sofar_pack_signs_affine2(x, NULL, NULL, y2, s1, t1, y, pixels, channels, xs, groups);
        else sofar_pack_signs_affine2(x, s1, t1, y, NULL, NULL, y2, pixels, channels, xs, groups);
        CHECK(!memcmp(y, aref, words * 8) && !memcmp(y2, ref, words * 8),
              "pack_signs_affine2 isa %d threads %d pixels %d channels %d groups %d swapped %d", isas[ii], threads, pixels,
              channels, groups, swap);
      }
      sofar_set_threads(1);
    }
    free(x); free(ref); free(y); free(y2); free(scale); free(shift); free(ax); free(aref);
  }
}

/* ---------------------------------------------------------------------------------------------------- */

static void test_conv(int cases) {
  for (int t = 0; t < cases; t++) {
    /* 3 and 8 groups of at most 8 columns: the grouped tile's pairs of groups and its last single group */
    const int groups = pick((const int[]){1, 1, 1, 2, 3, 4, 8}, 7);
    const int cg = pick((const int[]){1, 3, 8, 17, 64}, 5), og = pick((const int[]){1, 5, 8, 16, 17, 33, 64, 65, 100}, 9);
    const int cin = cg * groups, cout = og * groups;
    const int n = 1 + rnd(2), kh = t == 1 ? 18 : 1 + rnd(3), kw = 1 + rnd(3), sh = 1 + rnd(2), sw = 1 + rnd(2);
    const int dh = 1 + (rnd(4) == 0), dw = 1 + (rnd(4) == 0);
    const int pt = rnd(kh), pl = rnd(kw), pb = rnd(kh), pr = rnd(kw);
    const int h = 1 + rnd(7) + dh * (kh - 1), w = 1 + rnd(7) + dw * (kw - 1);
    const int ho = (h + pt + pb - dh * (kh - 1) - 1) / sh + 1, wo = (w + pl + pr - dw * (kw - 1) - 1) / sw + 1;
    const size_t P = (size_t)n * ho * wo;
    const int ys = rnd(2) ? 0 : cout + rnd(5);
    const size_t yss = ys ? (size_t)ys : (size_t)cout, yext = (P - 1) * yss + cout;
    const int use_res = rnd(2), use_bias = rnd(3) != 0, relu = rnd(2);
    const size_t xn = (size_t)n * h * w * cin, wn = (size_t)cout * cg * kh * kw;
    float *x = alloc_exact(xn * 4), *wt = alloc_exact(wn * 4), *bias = alloc_exact((size_t)cout * 4);
    float *res = alloc_exact(yext * 4), *y = alloc_exact(yext * 4), *first = alloc_exact(yext * 4);
    double *ref = alloc_exact(yext * 8), *mag = alloc_exact(yext * 8);
    for (size_t i = 0; i < xn; i++) x[i] = rndf();
    for (size_t i = 0; i < wn; i++) wt[i] = rndf();
    for (int i = 0; i < cout; i++) bias[i] = rndf();
    for (size_t i = 0; i < yext; i++) res[i] = rndf();
    for (size_t p = 0; p < P; p++) {
      const int img = (int)(p / ((size_t)ho * wo)), oh = (int)(p / wo % ho), ow = (int)(p % wo);
      for (int o = 0; o < cout; o++) {
        const int g = o / og;
        double s = 0, m = 0;
        for (int c = 0; c < cg; c++)
          for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
              const int ih = oh * sh - pt + i * dh, iw = ow * sw - pl + j * dw;
              if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
              const double term = (double)x[(((size_t)img * h + ih) * w + iw) * cin + g * cg + c] *
                                  wt[(((size_t)o * cg + c) * kh + i) * kw + j];
              s += term;
              m += fabs(term);
            }
        if (use_bias) s += bias[o], m += fabs(bias[o]);
        if (use_res) s += res[p * yss + o], m += fabs(res[p * yss + o]);
        if (relu && s < 0) s = 0;
        ref[p * yss + o] = s;
        mag[p * yss + o] = m;
      }
    }
    const size_t pwb = sofar_conv2d_f32_packed_weights_bytes(cout, cin, kh, kw, groups);
    const size_t sb = sofar_conv2d_f32_scratch_bytes(n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups);
    float *pw = alloc_exact(pwb);
    void *scratch = alloc_exact(sb);
    sofar_conv2d_f32_pack_weights(wt, pw, cout, cin, kh, kw, groups);
    for (int ii = 0; ii < (int)(sizeof isas / sizeof isas[0]); ii++) {
      if (!isa_available(isas[ii])) continue;
      for (int threads = 1; threads <= 2; threads++) {
        sofar_set_threads(threads);
        for (size_t i = 0; i < yext; i++) y[i] = SENTINEL;
        sofar_conv2d_f32(x, pw, use_bias ? bias : NULL, use_res ? res : NULL, y, scratch, n, h, w, cin, cout, kh, kw, sh,
                         sw, pt, pl, pb, pr, dh, dw, groups, ys, relu);
        size_t bad = 0, at = 0;
        for (size_t p = 0; p < P; p++)
          for (size_t q = 0; q < yss && p * yss + q < yext; q++) {
            const size_t i = p * yss + q;
            const int ok = q < (size_t)cout ? fabs(y[i] - ref[i]) <= 2e-6 * mag[i] + 1e-6 : y[i] == SENTINEL;
            if (!ok && !bad++) at = i;
          }
        CHECK(!bad, "conv isa %d threads %d: %zu bad (first %zu: %g vs %g); n%d h%d w%d cin%d cout%d k%dx%d s%dx%d p%d,%d,%d,%d d%dx%d g%d ys%d",
              isas[ii], threads, bad, at, y[at], ref[at], n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw,
              groups, ys);
        if (threads == 1) memcpy(first, y, yext * 4);
        else CHECK(!memcmp(first, y, yext * 4), "conv isa %d: 2 threads differ from 1", isas[ii]);
      }
    }
    free(x); free(wt); free(bias); free(res); free(y); free(first); free(ref); free(mag); free(pw); free(scratch);
  }
}

static void test_dense(int cases) {
  for (int t = 0; t < cases; t++) {
    const int n = 1 + rnd(9), in = pick((const int[]){1, 3, 17, 64, 100}, 5), out = pick((const int[]){1, 7, 16, 63, 65, 130}, 6);
    const int use_bias = rnd(2);
    float *x = alloc_exact((size_t)n * in * 4), *wt = alloc_exact((size_t)in * out * 4), *b = alloc_exact((size_t)out * 4);
    float *y = alloc_exact((size_t)n * out * 4);
    for (int i = 0; i < n * in; i++) x[i] = rndf();
    for (int i = 0; i < in * out; i++) wt[i] = rndf();
    for (int i = 0; i < out; i++) b[i] = rndf();
    for (int ii = 0; ii < (int)(sizeof isas / sizeof isas[0]); ii++) {
      if (!isa_available(isas[ii])) continue;
      for (int threads = 1; threads <= 2; threads++) {
        sofar_set_threads(threads);
        sofar_dense_f32(x, wt, use_bias ? b : NULL, y, n, in, out);
        int bad = 0;
        for (int r = 0; r < n; r++)
          for (int o = 0; o < out; o++) {
            double s = use_bias ? b[o] : 0, m = use_bias ? fabs(b[o]) : 0;
            for (int k = 0; k < in; k++) s += (double)x[r * in + k] * wt[k * out + o], m += fabs((double)x[r * in + k] * wt[k * out + o]);
            if (!(fabs(y[r * out + o] - s) <= 2e-6 * m + 1e-6)) bad++;
          }
        CHECK(!bad, "dense isa %d threads %d n%d in%d out%d: %d bad", isas[ii], threads, n, in, out, bad);
      }
    }
    free(x); free(wt); free(b); free(y);
  }
}

/* A few-input-channel conv with its max pool fused: bit-identical to the conv, then the pool (every ISA, 1-3 threads);
   also reading NCHW (as the transpose then the conv), and with no pool (a 1x1/1 window: the conv alone). */
static void test_conv_maxpool(int cases) {
  for (int t = 0; t < cases; t++) {
    const int bireal = t == 0; /* Bi-Real's 7x7/2 to 64, "same" pads, then 3x3/2 */
    const int react = t == 1;  /* ReActNet-A's and QuickNet's 3x3/2 to 32 from the NCHW image (t % 3 == 1) */
    const int n = 1 + rnd(2), cin = bireal || react ? 3 : 1 + rnd(4);
    const int cout = bireal ? 64 : react ? 32 : pick((const int[]){1, 16, 17, 32, 48, 64, 65, 130}, 8);
    const int kh = bireal ? 7 : react ? 3 : 1 + rnd(7), kw = bireal ? 7 : react ? 3 : 1 + rnd(7);
    const int sh = bireal || react ? 2 : 1 + rnd(3), sw = bireal || react ? 2 : 1 + rnd(3);
    const int pt = bireal ? 2 : react ? 1 : rnd(kh), pl = bireal ? 2 : react ? 1 : rnd(kw);
    const int pb = bireal ? 3 : react ? 1 : rnd(kh), pr = bireal ? 3 : react ? 1 : rnd(kw);
    const int h = bireal ? 61 : react ? 45 : kh + rnd(40), w = bireal ? 57 : react ? 67 : kw + rnd(40);
    const int ho = (h + pt + pb - kh) / sh + 1, wo = (w + pl + pr - kw) / sw + 1;
    int qkh = bireal ? 3 : 1 + rnd(ho < 4 ? ho : 4), qkw = bireal ? 3 : 1 + rnd(wo < 4 ? wo : 4);
    int qsh = bireal ? 2 : 1 + rnd(3), qsw = bireal ? 2 : 1 + rnd(3);
    int qpt = bireal ? 0 : rnd(qkh), qpl = bireal ? 0 : rnd(qkw), qpb = bireal ? 1 : rnd(qkh), qpr = bireal ? 1 : rnd(qkw);
    const int nchw = t % 3 == 1, identity = t % 4 == 3;
    if (identity) qkh = qkw = qsh = qsw = 1, qpt = qpl = qpb = qpr = 0;
    const int pho = (ho + qpt + qpb - qkh) / qsh + 1, pwo = (wo + qpl + qpr - qkw) / qsw + 1;
    const size_t xn = (size_t)n * h * w * cin, wn = (size_t)cout * cin * kh * kw;
    const size_t cn = (size_t)n * ho * wo * cout, yn = (size_t)n * pho * pwo * cout;
    const int use_bias = rnd(3) != 0, relu = rnd(2), use_alpha = rnd(2);
    float *x = alloc_exact(xn * 4), *wt = alloc_exact(wn * 4), *bias = alloc_exact((size_t)cout * 4);
    float *alpha = alloc_exact((size_t)cout * 4);
    for (int i = 0; i < cout; i++) alpha[i] = rndf();
    float *conv = alloc_exact(cn * 4), *want = alloc_exact(yn * 4), *y = alloc_exact(yn * 4), *xc = alloc_exact(xn * 4);
    for (size_t i = 0; i < xn; i++) x[i] = rndf();
    sofar_nhwc_to_nchw(x, xc, n, cin, h, w); /* the same image in NCHW */
    for (size_t i = 0; i < wn; i++) wt[i] = rndf();
    for (int i = 0; i < cout; i++) bias[i] = rndf();
    float *pw = alloc_exact(sofar_conv2d_f32_packed_weights_bytes(cout, cin, kh, kw, 1));
    void *cs = alloc_exact(sofar_conv2d_f32_scratch_bytes(n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, 1, 1, 1));
    const size_t fsb = sofar_conv2d_f32_maxpool_scratch_bytes(n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, 1, 1, 1,
                                                              qkh, qkw, qsh, qsw, qpt, qpl, qpb, qpr);
    CHECK(fsb > 0, "conv+maxpool: no scratch size for a stem");
    CHECK(sofar_conv2d_f32_maxpool_scratch_bytes(n, h, w, 5, cout, kh, kw, sh, sw, pt, pl, pb, pr, 1, 1, 1, qkh, qkw, qsh,
                                                 qsw, qpt, qpl, qpb, qpr) == 0,
          "conv+maxpool: 5 input channels are not a stem");
    void *fs = alloc_exact(fsb);
    const size_t pn = (size_t)n * pho * pwo * (size_t)((cout + 63) / 64);
    float *pscale = alloc_exact((size_t)cout * 4), *pshift = alloc_exact((size_t)cout * 4);
    for (int i = 0; i < cout; i++) pscale[i] = rndf(), pshift[i] = rndf();
    uint64_t *packed = alloc_exact(pn * 8), *pwant = alloc_exact(pn * 8);
    sofar_conv2d_f32_pack_weights(wt, pw, cout, cin, kh, kw, 1);
    for (int ii = 0; ii < (int)(sizeof isas / sizeof isas[0]); ii++) {
      if (!isa_available(isas[ii])) continue;
      for (int threads = 1; threads <= 3; threads++) {
        sofar_set_threads(threads);
        sofar_conv2d_f32(x, pw, use_bias ? bias : NULL, NULL, conv, cs, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr,
                         1, 1, 1, 0, relu);
        if (use_alpha) sofar_prelu_f32(conv, alpha, conv, n * ho * wo, cout, 0);
        sofar_maxpool_f32(conv, want, n, ho, wo, cout, qkh, qkw, qsh, qsw, qpt, qpl, qpb, qpr);
        for (size_t i = 0; i < yn; i++) y[i] = SENTINEL;
        sofar_conv2d_f32_maxpool(nchw ? xc : x, pw, use_bias ? bias : NULL, use_alpha ? alpha : NULL, y, fs, n, h, w, cin,
                                 cout, kh, kw, sh, sw, pt, pl, pb, pr, 1, 1, 1, relu, nchw, qkh, qkw, qsh, qsw, qpt, qpl,
                                 qpb, qpr);
        CHECK(!memcmp(y, want, yn * 4),
              "conv+maxpool nchw %d prelu %d isa %d threads %d: n%d h%d w%d cin%d cout%d k%dx%d s%dx%d p%d,%d,%d,%d pool %dx%d s%dx%d p%d,%d,%d,%d",
              nchw, use_alpha, isas[ii], threads, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, qkh, qkw, qsh, qsw, qpt, qpl, qpb, qpr);
        /* the same call packing its output's signs (of a batch norm of it, in turn): as the separate pack */
        const int affine = (t + threads) % 2;
        sofar_pack_signs_affine(want, affine ? pscale : NULL, affine ? pshift : NULL, pwant, n * pho * pwo, cout, 0, 1);
        for (size_t i = 0; i < yn; i++) y[i] = SENTINEL;
        memset(packed, 0xa5, pn * 8);
        sofar_conv2d_f32_maxpool_pack(nchw ? xc : x, pw, use_bias ? bias : NULL, use_alpha ? alpha : NULL, y, packed,
                                      affine ? pscale : NULL, affine ? pshift : NULL, fs, n, h, w, cin, cout, kh, kw, sh, sw,
                                      pt, pl, pb, pr, 1, 1, 1, relu, nchw, qkh, qkw, qsh, qsw, qpt, qpl, qpb, qpr);
        CHECK(!memcmp(y, want, yn * 4) && !memcmp(packed, pwant, pn * 8),
              "conv+maxpool+pack (affine %d) isa %d threads %d: n%d cout%d pool %dx%d", affine, isas[ii], threads, n, cout,
              qkh, qkw);
      }
    }
    CHECK((sofar_conv2d_f32_maxpool_pack(x, pw, NULL, NULL, y, NULL, NULL, NULL, fs, n, h, w, cin, cout, kh, kw, sh, sw,
                                         pt, pl, pb, pr, 1, 1, 1, relu, 0, qkh, qkw, qsh, qsw, qpt, qpl, qpb, qpr),
           y[0] == y[0]), "conv+maxpool+pack without y_packed returns");
    free(x); free(xc); free(wt); free(bias); free(alpha); free(conv); free(want); free(y); free(pw); free(cs); free(fs);
    free(pscale); free(pshift); free(packed); free(pwant);
  }
}

/* ---------------------------------------------------------------------------------------------------- */

static void test_pool(int cases) {
  for (int t = 0; t < cases; t++) {
    const int n = 1 + rnd(2), c = pick((const int[]){1, 3, 17, 48, 64, 100, 130}, 7), kh = 1 + rnd(3), kw = 1 + rnd(3);
    const int sh = 1 + rnd(2), sw = 1 + rnd(2), pt = rnd(kh), pl = rnd(kw), pb = rnd(kh), pr = rnd(kw);
    const int h = kh + rnd(6), w = kw + rnd(6);
    const int ho = (h + pt + pb - kh) / sh + 1, wo = (w + pl + pr - kw) / sw + 1;
    const size_t xn = (size_t)n * h * w * c, yn = (size_t)n * ho * wo * c;
    float *x = alloc_exact(xn * 4), *y = alloc_exact(yn * 4), *rm = alloc_exact(yn * 4), *ra = alloc_exact(yn * 4);
    float *rr = alloc_exact(yn * 4); /* max pool of relu(x) */
    for (size_t i = 0; i < xn; i++) x[i] = rndf();
    /* NaN and -0 among them: the first cell of a window copied, each later one taken where greater (relu: 0, +0) */
    for (size_t i = 0; i < xn; i += 7) x[i] = rnd(2) ? NAN : -0.0f;
    for (int img = 0; img < n; img++)
      for (int oh = 0; oh < ho; oh++)
        for (int ow = 0; ow < wo; ow++)
          for (int q = 0; q < c; q++) {
            float mx = 0, sm = 0, mr = 0;
            int cnt = 0;
            for (int i = 0; i < kh; i++)
              for (int j = 0; j < kw; j++) {
                const int ih = oh * sh - pt + i, iw = ow * sw - pl + j;
                if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                const float v = x[(((size_t)img * h + ih) * w + iw) * c + q];
                const float r = v > 0 ? v : 0;
                mx = cnt == 0 || v > mx ? v : mx;
                mr = cnt == 0 || r > mr ? r : mr;
                sm = cnt == 0 ? v : sm + v;
                cnt++;
              }
            const size_t o = (((size_t)img * ho + oh) * wo + ow) * c + q;
            rm[o] = cnt ? mx : 0;
            rr[o] = cnt ? mr : 0;
            ra[o] = cnt ? (cnt > 1 ? sm / (float)cnt : sm) : 0;
          }
    for (int ii = 0; ii < (int)(sizeof isas / sizeof isas[0]); ii++) {
      if (!isa_available(isas[ii])) continue;
      for (int threads = 1; threads <= 2; threads++) {
        sofar_set_threads(threads);
        sofar_maxpool_f32(x, y, n, h, w, c, kh, kw, sh, sw, pt, pl, pb, pr);
        CHECK(!memcmp(y, rm, yn * 4), "maxpool isa %d threads %d", isas[ii], threads);
        sofar_avgpool_f32(x, y, n, h, w, c, kh, kw, sh, sw, pt, pl, pb, pr);
        CHECK(!memcmp(y, ra, yn * 4), "avgpool isa %d threads %d", isas[ii], threads);
        sofar_maxpool_relu_f32(x, y, n, h, w, c, kh, kw, sh, sw, pt, pl, pb, pr);
        CHECK(!memcmp(y, rr, yn * 4), "maxpool of relu isa %d threads %d", isas[ii], threads);
      }
    }
    free(x); free(y); free(rm); free(ra); free(rr);
  }
}

static void test_elementwise(void) {
  const int pixels = 7, c = 13, ys = 16;
  const size_t yext = (size_t)(pixels - 1) * ys + c;
  float *x = alloc_exact((size_t)pixels * c * 4), *y = alloc_exact(yext * 4), *s = alloc_exact(c * 4), *b = alloc_exact(c * 4);
  for (int i = 0; i < pixels * c; i++) x[i] = rndf();
  x[0] = -0.0f;
  x[1] = 0.0f;
  x[2] = NAN;
  for (int i = 0; i < c; i++) s[i] = rndf(), b[i] = rndf();
  sofar_affine_f32(x, s, b, y, pixels, c, ys);
  for (int p = 0; p < pixels; p++)
    for (int q = 0; q < c; q++) {
      const float v = x[p * c + q], e = v * s[q] + b[q], got = y[p * ys + q];
      CHECK(got == e || (isnan(got) && isnan(e)), "affine");
    }
  sofar_sign_f32(x, y, pixels, c, ys);
  CHECK(y[0] == 1.0f && y[1] == 1.0f && y[2] == 1.0f, "sign of -0, 0, NaN");
  sofar_relu_f32(x, y, pixels, c, 0);
  for (int i = 0; i < pixels * c; i++) CHECK(y[i] == (x[i] > 0 ? x[i] : 0), "relu");
  sofar_clip_f32(x, y, pixels, c, 0, -0.5f, 0.25f);
  for (int i = 3; i < pixels * c; i++) CHECK(y[i] == (x[i] < -0.5f ? -0.5f : x[i] > 0.25f ? 0.25f : x[i]), "clip");
  sofar_prelu_f32(x, s, y, pixels, c, 0);
  for (int i = 3; i < pixels * c; i++) CHECK(y[i] == (x[i] < 0 ? s[i % c] * x[i] : x[i]), "prelu");
  /* the select, however compiled, keeps what is not below zero as it is: -0 stays -0, NaN stays NaN */
  CHECK(y[0] == 0.0f && signbit(y[0]) && y[1] == 0.0f && !signbit(y[1]) && isnan(y[2]), "prelu of -0, 0, NaN");
  sofar_copy_f32(x, y, pixels, c, ys);
  for (int p = 0; p < pixels; p++) CHECK(!memcmp(y + p * ys, x + p * c, c * 4), "copy");
  /* layout round trip */
  const int n = 2, C = 5, H = 3, W = 4;
  float *a = alloc_exact(n * C * H * W * 4), *bb = alloc_exact(n * C * H * W * 4), *cc = alloc_exact(n * C * H * W * 4);
  for (int i = 0; i < n * C * H * W; i++) a[i] = (float)i;
  sofar_nchw_to_nhwc(a, bb, n, C, H, W);
  CHECK(bb[1] == (float)(H * W), "nchw->nhwc");
  sofar_nhwc_to_nchw(bb, cc, n, C, H, W);
  CHECK(!memcmp(a, cc, n * C * H * W * 4), "layout round trip");
  sofar_global_avgpool_f32(a, bb, n, H * W, C);
  free(x); free(y); free(s); free(b); free(a); free(bb); free(cc);
}

/* The global average pool: each image's two halves of pixels summed in pixel order, then added, over d; 1-3
   threads, batches past one group of partial sums, one pixel, and rows too wide for a group (the serial path). */
static void test_global_avgpool(void) {
  static const int shapes[][3] = {{1, 3136, 64}, {3, 1000, 37}, {2, 1, 5}, {200, 7, 33}, {2, 5, 4100}, {1, 49, 1024}};
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    const int n = shapes[k][0], pixels = shapes[k][1], c = shapes[k][2];
    const size_t nx = (size_t)n * pixels * c;
    float *x = alloc_exact(nx * 4), *y = alloc_exact((size_t)n * c * 4), *want = alloc_exact((size_t)n * c * 4);
    for (size_t i = 0; i < nx; i++) x[i] = rndf() * 8.0f;
    for (int img = 0; img < n; img++)
      for (int q = 0; q < c; q++) {
        float first = 0.0f, second = 0.0f;
        for (int p = 0; p < pixels; p++) {
          const float v = x[((size_t)img * pixels + p) * c + q];
          if (p < pixels / 2) first = first + v;
          else second = second + v;
        }
        want[(size_t)img * c + q] = (first + second) / (float)pixels;
      }
    for (int threads = 1; threads <= 3; threads++) {
      sofar_set_threads(threads);
      for (size_t i = 0; i < (size_t)n * c; i++) y[i] = SENTINEL;
      sofar_global_avgpool_f32(x, y, n, pixels, c);
      CHECK(!memcmp(y, want, (size_t)n * c * 4), "global avgpool n%d pixels%d c%d, %d threads", n, pixels, c, threads);
    }
    free(x); free(y); free(want);
  }
  sofar_set_threads(1);
}

/* The element-wise kernels on maps of many blocks (they split over the pool), 1-3 threads, each element
   against its scalar expression; the flat ones in place too. */
static void test_elementwise_threads(void) {
  const int pixels = 1000, c = 37, ys = 40;
  const size_t nx = (size_t)pixels * c, ny = (size_t)(pixels - 1) * ys + c;
  float *x = alloc_exact(nx * 4), *x2 = alloc_exact(nx * 4), *y = alloc_exact(ny * 4), *s = alloc_exact(c * 4), *b = alloc_exact(c * 4);
  for (size_t i = 0; i < nx; i++) x[i] = rndf() * 4.0f, x2[i] = rndf();
  for (int i = 0; i < c; i++) s[i] = rndf(), b[i] = rndf() + 2.0f;
  for (int threads = 1; threads <= 3; threads++) {
    sofar_set_threads(threads);
    memset(y, 0xa5, ny * 4);
    sofar_affine_f32(x, s, b, y, pixels, c, ys);
    for (int p = 0; p < pixels; p++)
      for (int q = 0; q < c; q++) CHECK(y[(size_t)p * ys + q] == x[(size_t)p * c + q] * s[q] + b[q], "affine, %d threads", threads);
    sofar_prelu_f32(x, s, y, pixels, c, 0);
    for (size_t i = 0; i < nx; i++) CHECK(y[i] == (x[i] < 0 ? s[i % c] * x[i] : x[i]), "prelu, %d threads", threads);
    sofar_relu_f32(x, y, pixels, c, 0);
    for (size_t i = 0; i < nx; i++) CHECK(y[i] == (x[i] > 0 ? x[i] : 0), "relu, %d threads", threads);
    sofar_div_f32(x, b, y, pixels, c, 0);
    for (size_t i = 0; i < nx; i++) CHECK(y[i] == x[i] / b[i % c], "div, %d threads", threads);
    sofar_copy_f32(x, y, pixels, c, ys);
    for (int p = 0; p < pixels; p++) CHECK(!memcmp(y + (size_t)p * ys, x + (size_t)p * c, (size_t)c * 4), "copy, %d threads", threads);
    sofar_add_f32(x, x2, y, nx);
    for (size_t i = 0; i < nx; i++) CHECK(y[i] == x[i] + x2[i], "add, %d threads", threads);
    sofar_max_f32(x, x2, y, nx);
    for (size_t i = 0; i < nx; i++) CHECK(y[i] == (x[i] > x2[i] ? x[i] : x2[i]), "max, %d threads", threads);
    sofar_scale_f32(x, 0.3f, y, nx);
    for (size_t i = 0; i < nx; i++) CHECK(y[i] == x[i] * 0.3f, "scale, %d threads", threads);
    sofar_mul_f32(x, x2, y, nx);
    for (size_t i = 0; i < nx; i++) CHECK(y[i] == x[i] * x2[i], "mul, %d threads", threads);
    memcpy(y, x, nx * 4);
    sofar_add_f32(y, x2, y, nx); /* in place */
    for (size_t i = 0; i < nx; i++) CHECK(y[i] == x[i] + x2[i], "add in place, %d threads", threads);
  }
  sofar_set_threads(1);
  free(x); free(x2); free(y); free(s); free(b);
  test_global_avgpool();
}

/* sofar_sum_f32: 2 to 4 inputs, the mean's scale or none, the signs packed or not, continued in place, y contiguous
   or a slice of wider pixels (its gaps untouched); against sofar_add_f32, sofar_scale_f32 and sofar_pack_signs on
   every ISA (the packing is the ISA's), 1-3 threads */
static void test_sum(int cases) {
  for (int t = 0; t < cases; t++) {
    const int pixels = 1 + rnd(300), c = pick((const int[]){1, 7, 16, 32, 41, 64, 65, 82, 130}, 9), k = 2 + rnd(3);
    const size_t nx = (size_t)pixels * c, words = (size_t)pixels * ((c + 63) / 64);
    const int ys = rnd(2) ? 0 : c + 1 + rnd(5), yss = ys ? ys : c;
    const size_t ny = (size_t)(pixels - 1) * yss + c;
    float *in[4], *want = alloc_exact(nx * 4), *y = alloc_exact(ny * 4);
    for (int i = 0; i < 4; i++) {
      in[i] = alloc_exact(nx * 4);
      for (size_t q = 0; q < nx; q++) in[i][q] = rnd(16) ? rndf() : (rnd(2) ? 0.0f : -0.0f);
    }
    const float sc = rnd(2) ? 1.0f / (float)k : 1.0f;
    sofar_add_f32(in[0], in[1], want, nx);
    for (int i = 2; i < k; i++) sofar_add_f32(want, in[i], want, nx);
    if (sc != 1.0f) sofar_scale_f32(want, sc, want, nx);
    uint64_t *wantp = alloc_exact(words * 8), *yp = alloc_exact(words * 8);
    sofar_pack_signs(want, wantp, pixels, c, 0, 1);
    const int packed = rnd(3) != 0, in_place = rnd(2);
    for (int ii = 0; ii < (int)(sizeof isas / sizeof isas[0]); ii++) {
      if (!isa_available(isas[ii])) continue;
      for (int threads = 1; threads <= 3; threads++) {
        sofar_set_threads(threads);
        memset(y, 0xa5, ny * 4);
        memset(yp, 0x5a, words * 8);
        if (in_place && k > 2) { /* the first two, then the running sum and the rest */
          sofar_sum_f32(in[0], in[1], NULL, NULL, 1.0f, y, NULL, pixels, c, ys);
          sofar_sum_f32(y, in[2], k > 3 ? in[3] : NULL, NULL, sc, y, packed ? yp : NULL, pixels, c, ys);
        } else {
          sofar_sum_f32(in[0], in[1], k > 2 ? in[2] : NULL, k > 3 ? in[3] : NULL, sc, y, packed ? yp : NULL, pixels, c, ys);
        }
        int same = 1;
        for (size_t p = 0; p < (size_t)pixels; p++) {
          same &= !memcmp(y + p * yss, want + p * c, (size_t)c * 4);
          if (p + 1 < (size_t)pixels) /* the gap between two pixels' channels: untouched */
            for (size_t q = (size_t)c; q < (size_t)yss; q++) same &= ((const uint32_t *)y)[p * yss + q] == 0xa5a5a5a5u;
        }
        CHECK(same, "sum isa %d threads %d: %d inputs, c %d, y stride %d, scale %g", isas[ii], threads, k, c, ys, sc);
        if (packed) CHECK(!memcmp(yp, wantp, words * 8), "sum packed isa %d threads %d: c %d", isas[ii], threads, c);
      }
    }
    sofar_set_threads(1);
    for (int i = 0; i < 4; i++) free(in[i]);
    free(want); free(y); free(wantp); free(yp);
  }
}

/* Depthwise conv: every ISA and 1 and 2 threads bit-identical to this loop (the header's float32 order). */
static void test_dwconv(int cases) {
  static const int cs[] = {1, 2, 3, 4, 7, 8, 15, 16, 17, 24, 31, 32, 33, 48, 64, 65, 100, 130};
  for (int t = 0; t < cases; t++) {
    const int c = pick(cs, 18), kh = 1 + rnd(5), kw = 1 + rnd(5), dh = rnd(4) ? 1 : 2, dw = rnd(4) ? 1 : 2;
    const int n = 1 + rnd(2), h = 1 + rnd(9) + dh * (kh - 1), w = 1 + rnd(9) + dw * (kw - 1);
    const int sh = 1 + rnd(2), sw = 1 + rnd(2), pt = rnd(kh), pl = rnd(kw), pb = rnd(kh), pr = rnd(kw);
    const int ho = (h + pt + pb - dh * (kh - 1) - 1) / sh + 1, wo = (w + pl + pr - dw * (kw - 1) - 1) / sw + 1;
    const int ys = rnd(2) ? c : c + 1 + rnd(3), use_bias = rnd(3) != 0, use_res = rnd(2), relu = rnd(2);
    const size_t pixels = (size_t)n * ho * wo, yext = (pixels - 1) * (size_t)ys + (size_t)c;
    float *x = alloc_exact((size_t)n * h * w * c * 4), *wt = alloc_exact((size_t)kh * kw * c * 4);
    float *bias = alloc_exact((size_t)c * 4), *res = alloc_exact(yext * 4), *y = alloc_exact(yext * 4), *want = alloc_exact(yext * 4);
    for (size_t i = 0; i < (size_t)n * h * w * c; i++) x[i] = rndf();
    for (int i = 0; i < kh * kw * c; i++) wt[i] = rndf();
    for (int i = 0; i < c; i++) bias[i] = rndf();
    for (size_t i = 0; i < yext; i++) res[i] = rndf(), want[i] = SENTINEL;
    for (int b = 0; b < n; b++)
      for (int oh = 0; oh < ho; oh++)
        for (int ow = 0; ow < wo; ow++) {
          const size_t p = ((size_t)b * ho + oh) * wo + ow;
          for (int q = 0; q < c; q++) {
            float acc = 0.0f;
            for (int i = 0; i < kh; i++)
              for (int j = 0; j < kw; j++) {
                const int ih = oh * sh - pt + i * dh, iw = ow * sw - pl + j * dw;
                if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                const float prod = x[(((size_t)b * h + ih) * w + iw) * c + q] * wt[(i * kw + j) * c + q];
                acc = acc + prod;
              }
            if (use_bias) acc = acc + bias[q];
            if (use_res) acc = acc + res[p * ys + q];
            if (relu) acc = acc > 0.0f ? acc : 0.0f;
            want[p * ys + q] = acc;
          }
        }
    for (int ii = 0; ii < (int)(sizeof isas / sizeof isas[0]); ii++) {
      if (!isa_available(isas[ii])) continue;
      for (int threads = 1; threads <= 2; threads++) {
        sofar_set_threads(threads);
        for (size_t i = 0; i < yext; i++) y[i] = SENTINEL;
        sofar_dwconv2d_f32(x, wt, use_bias ? bias : NULL, use_res ? res : NULL, y, n, h, w, c, kh, kw, sh, sw, pt, pl,
                           pb, pr, dh, dw, ys == c ? 0 : ys, relu);
        CHECK(!memcmp(y, want, yext * 4), "dwconv c%d %dx%d s%d,%d d%d,%d isa %d threads %d", c, kh, kw, sh, sw, dh, dw,
              isas[ii], threads);
      }
    }
    sofar_set_isa(sofar_detected_isa());
    free(x); free(wt); free(bias); free(res); free(y); free(want);
  }
}

/* Sigmoid (to e^x's accuracy), round half to even, division, products, channel slices and padding. */
static void test_float_ops(void) {
  const int n = 2, pixels = 5, c = 13, rows = n * pixels;
  float *x = alloc_exact((size_t)rows * c * 4), *x2 = alloc_exact((size_t)rows * c * 4), *y = alloc_exact((size_t)rows * (c + 5) * 4);
  float *d = alloc_exact((size_t)c * 4), *sv = alloc_exact((size_t)n * c * 4);
  for (int i = 0; i < rows * c; i++) x[i] = rndf() * 12.0f, x2[i] = rndf();
  const float specials[] = {-0.0f, 0.0f, 0.5f, 1.5f, 2.5f, -2.5f, -0.5f, 100.0f, -100.0f, 4194304.5f, 8388609.0f};
  memcpy(x, specials, sizeof specials);
  for (int i = 0; i < c; i++) d[i] = i % 2 ? 3.0f : rndf();
  for (int i = 0; i < n * c; i++) sv[i] = rndf();
  sofar_round_f32(x, y, rows, c, 0);
  for (int i = 0; i < rows * c; i++) {
    const float r = nearbyintf(x[i]);
    CHECK(y[i] == r && signbit(y[i]) == signbit(r), "round(%g) = %g, expected %g", x[i], y[i], r);
  }
  sofar_heaviside_f32(x, y, rows, c, 0);
  for (int i = 0; i < rows * c; i++) CHECK(y[i] == (x[i] > 0 ? 1.0f : 0.0f), "heaviside");
  sofar_div_f32(x, d, y, rows, c, 0);
  for (int i = 0; i < rows * c; i++) CHECK(y[i] == x[i] / d[i % c], "div");
  sofar_sigmoid_f32(x, y, rows, c, 0);
  for (int i = 0; i < rows * c; i++) {
    const double e = 1.0 / (1.0 + exp(-(double)x[i]));
    CHECK(fabs(y[i] - e) <= 4.0 * 0x1p-24 * e + 0x1p-120, "sigmoid(%g) = %g, expected %g", x[i], y[i], e);
  }
  sofar_mul_f32(x, x2, y, (size_t)rows * c);
  for (int i = 0; i < rows * c; i++) CHECK(y[i] == x[i] * x2[i], "mul");
  sofar_mul_channels_f32(x, sv, y, n, pixels, c);
  for (int i = 0; i < rows * c; i++) CHECK(y[i] == x[i] * sv[i / (pixels * c) * c + i % c], "mul channels");
  sofar_copy_strided_f32(x + 2, y, rows, 7, c, 9);
  for (int p = 0; p < rows; p++) CHECK(!memcmp(y + p * 9, x + p * c + 2, 7 * 4), "copy strided");
  sofar_pad_channels_f32(x, y, rows, c, 2, 3);
  for (int p = 0; p < rows; p++) {
    const float *r = y + p * (c + 5);
    CHECK(r[0] == 0 && r[1] == 0 && r[c + 2] == 0 && r[c + 3] == 0 && r[c + 4] == 0 && !memcmp(r + 2, x + p * c, (size_t)c * 4), "pad channels");
  }
  free(x); free(x2); free(y); free(d); free(sv);
}

/* sofar_conv2d_f32_avgpool2 against sofar_avgpool_f32 (2x2 /2) then sofar_conv2d_f32 (1x1), bit for bit. */
static void test_avgpool2_conv(int cases) {
  for (int t = 0; t < cases; t++) {
    const int bireal = t == 0; /* Bi-Real's first shortcut: 56x56x64 pooled, then 1x1 to 128 */
    const int n = 1 + rnd(2), cin = bireal ? 64 : pick((const int[]){1, 3, 16, 17, 40, 64, 100, 128}, 8);
    const int cout = bireal ? 128 : pick((const int[]){1, 16, 17, 32, 63, 64, 100, 130}, 8);
    const int h = bireal ? 56 : 2 + rnd(20), w = bireal ? 56 : 2 + rnd(20), ho = h / 2, wo = w / 2;
    const int ys = rnd(3) == 0 ? cout + rnd(20) : 0, relu = rnd(2), use_bias = rnd(3) != 0, use_res = rnd(3) == 0;
    const size_t xn = (size_t)n * h * w * cin, pn = (size_t)n * ho * wo * cin, yn = (size_t)n * ho * wo * (ys ? ys : cout);
    float *x = alloc_exact(xn * 4), *pooled = alloc_exact(pn * 4), *wt = alloc_exact((size_t)cout * cin * 4);
    float *bias = alloc_exact((size_t)cout * 4), *res = alloc_exact(yn * 4), *want = alloc_exact(yn * 4), *y = alloc_exact(yn * 4);
    for (size_t i = 0; i < xn; i++) x[i] = rndf();
    for (size_t i = 0; i < (size_t)cout * cin; i++) wt[i] = rndf();
    for (int i = 0; i < cout; i++) bias[i] = rndf();
    for (size_t i = 0; i < yn; i++) res[i] = rndf();
    float *pw = alloc_exact(sofar_conv2d_f32_packed_weights_bytes(cout, cin, 1, 1, 1));
    sofar_conv2d_f32_pack_weights(wt, pw, cout, cin, 1, 1, 1);
    void *cs = alloc_exact(sofar_conv2d_f32_scratch_bytes(n, ho, wo, cin, cout, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1) + 1);
    const size_t fsb = sofar_conv2d_f32_avgpool2_scratch_bytes(n, h, w, cin, cout);
    CHECK(fsb > 0, "avgpool2+conv: no scratch size");
    CHECK(sofar_conv2d_f32_avgpool2_scratch_bytes(n, 1, w, cin, cout) == 0, "avgpool2+conv: a 1-row input has no pool");
    void *fs = alloc_exact(fsb);
    for (int ii = 0; ii < (int)(sizeof isas / sizeof isas[0]); ii++) {
      if (!isa_available(isas[ii])) continue;
      for (int threads = 1; threads <= 3; threads++) {
        sofar_set_threads(threads);
        for (size_t i = 0; i < yn; i++) want[i] = y[i] = SENTINEL; /* the strided rows' gaps stay untouched */
        sofar_avgpool_f32(x, pooled, n, h, w, cin, 2, 2, 2, 2, 0, 0, 0, 0);
        sofar_conv2d_f32(pooled, pw, use_bias ? bias : NULL, use_res ? res : NULL, want, cs, n, ho, wo, cin, cout, 1, 1, 1, 1,
                         0, 0, 0, 0, 1, 1, 1, ys, relu);
        sofar_conv2d_f32_avgpool2(x, pw, use_bias ? bias : NULL, use_res ? res : NULL, y, fs, n, h, w, cin, cout, ys, relu);
        CHECK(!memcmp(y, want, yn * 4), "avgpool2+conv isa %d threads %d: n%d h%d w%d cin%d cout%d ys%d relu%d bias%d res%d",
              isas[ii], threads, n, h, w, cin, cout, ys, relu, use_bias, use_res);
      }
    }
    free(x); free(pooled); free(wt); free(bias); free(res); free(want); free(y); free(pw); free(cs); free(fs);
  }
  sofar_set_isa(sofar_detected_isa());
}

/* The pool: every task of a job run exactly once, in ranges within [0, ntasks), on a slot below the thread
   count, whatever the split into ranges and chunks (halving sizes, claimed from both ends). */
struct pool_probe {
  unsigned char runs[1200];
  int bad_slot, bad_range;
  int threads;
};
static void pool_probe_task(void *vctx, size_t begin, size_t end, int slot) {
  struct pool_probe *p = (struct pool_probe *)vctx;
  if (slot < 0 || slot >= p->threads) __atomic_store_n(&p->bad_slot, 1, __ATOMIC_RELAXED);
  if (begin >= end || end > sizeof p->runs) {
    __atomic_store_n(&p->bad_range, 1, __ATOMIC_RELAXED);
    return;
  }
  for (size_t t = begin; t < end; t++) __atomic_fetch_add(&p->runs[t], 1, __ATOMIC_RELAXED);
}
static void test_parallel_for(void) {
  static const size_t counts[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 523, 1200};
  for (int threads = 1; threads <= 5; threads++) {
    sofar_set_threads(threads);
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
      for (int rep = 0; rep < 20; rep++) {
        static struct pool_probe p;
        memset(&p, 0, sizeof p);
        p.threads = threads;
        sofar_parallel_for(counts[i], pool_probe_task, &p);
        size_t wrong = 0;
        for (size_t t = 0; t < sizeof p.runs; t++) wrong += p.runs[t] != (t < counts[i]);
        CHECK(!wrong && !p.bad_slot && !p.bad_range,
              "parallel_for %zu tasks, %d threads: %zu tasks not run exactly once, bad slot %d, bad range %d", counts[i],
              threads, wrong, p.bad_slot, p.bad_range);
      }
  }
  sofar_set_threads(1);
}

/* The register-only loops (sofar_register_peak): every instruction set's runs and reports the MACs of its
   inner step (12 chains of its vector width: binary bits, float lanes), at 1 and 3 threads; bad arguments: 0. */
static void test_register_peak(void) {
  static const struct { int isa; double binary, fl; } widths[] = {
      {SOFAR_ISA_SCALAR, 12 * 64, 12}, {SOFAR_ISA_AVX2, 12 * 256, 12 * 8}, {SOFAR_ISA_AVX512, 12 * 512, 12 * 16},
      {SOFAR_ISA_NEON, 12 * 128, 12 * 4}};
  for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
    if (!isa_available(widths[i].isa)) continue;
    for (int threads = 1; threads <= 3; threads += 2) {
      sofar_set_threads(threads);
      CHECK(sofar_register_peak(0, 1000, 5) == 5 * 1000 * widths[i].binary, "register peak, isa %d: binary MACs %g",
            widths[i].isa, sofar_register_peak(0, 1000, 5));
      CHECK(sofar_register_peak(1, 1000, 5) == 5 * 1000 * widths[i].fl, "register peak, isa %d: float MACs %g",
            widths[i].isa, sofar_register_peak(1, 1000, 5));
    }
  }
  CHECK(sofar_register_peak(2, 10, 1) == 0 && sofar_register_peak(0, 0, 1) == 0 && sofar_register_peak(0, 10, 0) == 0,
        "register peak: bad arguments must give 0");
  sofar_set_threads(1);
  sofar_set_isa(sofar_detected_isa());
}

int main(int argc, char **argv) {
  const int cases = argc > 1 ? atoi(argv[1]) : 40;
  if (argc > 2) rng ^= (uint64_t)strtoull(argv[2], NULL, 10) * 0x2545f4914f6cdd1dull;
  printf("detected isa %d\n", sofar_detected_isa());
  test_parallel_for();
  test_register_peak();
  test_pack_signs(cases);
  test_bconv(cases);
  test_bconv_channel_sweep();
  test_bconv_split(cases / 2 + 1);
  test_bconv_pooled_out(cases);
  test_bconv_spans(6);
  test_conv(cases);
  test_conv_maxpool(cases / 2 + 1);
  test_avgpool2_conv(cases / 2 + 1);
  test_dense(cases / 2 + 1);
  test_pool(cases / 2 + 1);
  test_elementwise();
  test_elementwise_threads();
  test_sum(20);
  test_dwconv(cases);
  test_float_ops();
  sofar_set_threads(1);
  if (failures) {
    fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  printf("ok\n");
  return 0;
}
