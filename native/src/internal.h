/*
 * Internal declarations shared by the kernel drivers and the per-ISA micro-kernel files.
 *
 * Layering (as in XNNPACK / LCE): a driver per op (bconv.c, conv.c, ...) does the geometry, im2col,
 * threading and scratch carving once, in portable C; the inner pieces (binary GEMM tile, output
 * transform, sign packing, float GEMM tile) come in one variant per instruction set, each in its own
 * file (*-scalar.c, *-avx2.c, *-avx512.c, *-wasmsimd.c, *-neon.c), and are reached through a table chosen at run
 * time (dispatch.c). The variants compute identical integers and, for the binary conv, identical
 * floats; the float GEMM variants differ only in rounding (FMA vs. mul+add).
 */
#ifndef SOFAR_INTERNAL_H
#define SOFAR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#if defined(__wasm__)
/* freestanding: wasm-libc.c provides these (as memory.copy / memory.fill) */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
#else
#include <string.h>
#endif

#include "sofar_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#define SOFAR_X86 1
/* Every function using instructions beyond the baseline carries its own target attribute, so one
   compile with default flags builds all variants; dispatch.c only calls a variant the CPU supports. */
#define SOFAR_TARGET_AVX2 __attribute__((target("avx2,fma,popcnt")))
#define SOFAR_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vpopcntdq,avx2,fma,popcnt")))
#endif

#if defined(__wasm__) && defined(__wasm_simd128__)
#define SOFAR_WASM_SIMD 1
#endif

#if defined(__aarch64__)
/* Advanced SIMD is part of every AArch64 CPU: no run-time check, no target attribute needed. */
#define SOFAR_ARM64 1
#endif

#define SOFAR_INLINE static inline __attribute__((always_inline))

/** Upper bound of sofar_set_threads; scratch holds one slot per thread up to this (or per task, if fewer). */
#if defined(__wasm__) && defined(__wasm_atomics__)
#define SOFAR_MAX_THREADS 16 /* the threaded WebAssembly build: the caller and up to 15 Web Workers */
#elif defined(__wasm__) || defined(SOFAR_NO_THREADS)
#define SOFAR_MAX_THREADS 1
#else
#define SOFAR_MAX_THREADS 64
#endif
/** Largest micro-kernel row count of any variant (scratch is sized with it, so any ISA fits any scratch). */
#define SOFAR_MR_MAX 8
#define SOFAR_ALIGN 64

static inline size_t sofar_round_up(size_t x, size_t a) { return (x + a - 1) / a * a; }
static inline size_t sofar_div_up(size_t x, size_t a) { return (x + a - 1) / a; }
static inline size_t sofar_min(size_t a, size_t b) { return a < b ? a : b; }
static inline size_t sofar_max(size_t a, size_t b) { return a > b ? a : b; }
static inline void *sofar_align_ptr(void *p) {
  return (void *)(((uintptr_t)p + (SOFAR_ALIGN - 1)) & ~(uintptr_t)(SOFAR_ALIGN - 1));
}

/* ---- micro-kernel signatures ----------------------------------------------------------------------- */

/** Most row segments a GEMM row may have (one per kernel row; taller kernels fall back to one segment). */
#define SOFAR_MAX_SEGS 16

/**
 * Binary GEMM tile: for rows r < mr and channels j < nr,
 *   c[r*c_stride + j] = sum over k < nseg*seg_len of popcount(A(r, k) ^ b(j, k))
 * Row r is nseg segments of seg_len words: segment s at a[s*SOFAR_MR_MAX + r] (a conv row: one segment per
 * kernel row, read in place from the input map, or the whole im2col row as one segment). Callers point
 * unused rows (r >= mr) at a valid row. b is the packed kernel of the tile: blocks of 8 channels laid out
 * [block][k][8] words, block j/8 at b + (j/8)*K*8; lanes past nr are read (blocks are zero-padded) but
 * not stored.
 */
typedef void (*sofar_bgemm_fn)(size_t mr, size_t nr, size_t nseg, size_t seg_len, const uint64_t *const *a,
                               const uint64_t *b, int32_t *c, size_t c_stride);

/**
 * Packs the signs of `channels` floats into ceil(channels/64) words (tail bits 0): bit i = v < 0 with
 * v = x[i], then v = v*scale[i] where scale is not NULL, then v = v + shift[i] where shift is not NULL
 * (float32, rounded after each step: the affine kernel's arithmetic).
 */
typedef void (*sofar_pack_row_fn)(const float *x, const float *scale, const float *shift, uint64_t *y, size_t channels);
/** pack_row over `rows` rows: row r's floats at x + r*xs, its words at y + r*ys. */
typedef void (*sofar_pack_rows_fn)(const float *x, size_t xs, const float *scale, const float *shift, uint64_t *y,
                                   size_t ys, size_t channels, size_t rows);

/**
 * The binary conv's output transform: its operands, fixed over a call (per-channel vectors NULL where absent).
 * For output pixel p and channel o < cout, in float32 and in this order:
 *   acc = kbits - 2*pc[o] - (corr ? corr[o] : 0);  v = acc*mul[o] (mul NULL: acc);  v = v + (bias ? bias[o] : +0)
 *   v = v + res[p*rs + o]                  (res, res_after 0)
 *   v = v + res2[p*r2s + o]                (res2: a second map, e.g. a fractal join's sum so far)
 *   v = v < 0 ? alpha[o]*v : v             (alpha: PReLU)
 *   v = v*scale[o] + (post ? post[o] : +0) (scale), else v = v + post[o] (post alone)
 *   v = v + res[p*rs + o]                  (res, res_after 1)
 * y[p*ys + o] = v where y is not NULL; yp: the signs (bit = s < 0) of s = (pack_scale ? v*pack_scale[o] : v)
 * + (pack_shift ? pack_shift[o] : +0) when either is given, else of v, in groups of yp_c channels of yp_wg
 * words each, pixel p's words at yp + p*yps.
 */
struct sofar_bconv_out {
  size_t cout;
  int32_t kbits;
  const float *mul, *bias, *alpha, *post, *scale, *pack_scale, *pack_shift;
  const float *res;
  size_t rs;
  int res_after;
  /* pixel pix's residual row is res + (pix - res_p0)*rs: 0, or the block's first pixel when res holds only the
     block's rows (the driver pools them: sofar_bconv2d_epilogue's SOFAR_EPI_RESIDUAL_POOL2) */
  size_t res_p0;
  /* the second residual (NULL: none), pixel pix's row at res2 + pix*r2s */
  const float *res2;
  size_t r2s;
  float *y;
  size_t ys;
  uint64_t *yp;
  size_t yps, yp_c, yp_wg;
  /* sofar_bconv2d_epilogue_pack2's second packing, done by the driver after each block's transform (p2_y NULL:
     none): pixel p's p2_c floats at p2_x + p*p2_xs, times p2_scale plus p2_shift, into p2_y + p*p2_ys */
  const float *p2_x, *p2_scale, *p2_shift;
  size_t p2_xs, p2_c, p2_ys;
  uint64_t *p2_y;
  /* the transforms prefetch rows of pixels below pf_end only: the end of the calling task's pixels, so that a
     thread does not pull the rows another thread is about to write into its own cache */
  size_t pf_end;
};

/** Whether the packed signs are those of an affine map of the output. */
static inline int sofar_out_packs_affine(const struct sofar_bconv_out *e) {
  return e->pack_scale || e->pack_shift;
}

/**
 * The output transform of a block of mr output pixels p0 .. p0+mr-1 (see struct sofar_bconv_out): row r's
 * counts at pc + r*cout, its padding correction corr[r] (NULL: none). tmp: (SOFAR_MR_MAX + 1)*cout floats.
 */
typedef void (*sofar_bconv_transform_fn)(const struct sofar_bconv_out *e, size_t p0, size_t mr, const int32_t *pc,
                                         const int32_t *const *corr, float *tmp);

/** The reference's floats of channels [o0, o1) of one pixel (counts pc, correction corr), written to out[o]. */
void sofar_bconv_out_range_scalar(const struct sofar_bconv_out *e, size_t pix, const int32_t *pc, const int32_t *corr,
                                  size_t o0, size_t o1, float *out);

/** How many pixels ahead the transforms prefetch the residual and output rows. */
#define SOFAR_OUT_AHEAD 16
/**
 * Prefetches pixel pix's residual row (to read) and output row (to write): rows of a wider map, and maps
 * evicted since their last use, outrun the hardware prefetchers. Never faults, even past a map's end; only
 * pixels below e->pf_end (the task's own).
 */
static inline void sofar_bconv_out_prefetch(const struct sofar_bconv_out *e, size_t pix) {
  if (pix >= e->pf_end) return;
  for (size_t at = 0; at < e->cout; at += 16) {
    if (e->res && !e->res_p0) __builtin_prefetch(e->res + pix * e->rs + at, 0, 3);
    if (e->res2) __builtin_prefetch(e->res2 + pix * e->r2s + at, 0, 3);
    if (e->y) __builtin_prefetch(e->y + pix * e->ys + at, 1, 3);
  }
}

/**
 * The start every SIMD transform shares: prefetches the rows SOFAR_OUT_AHEAD pixels past the block's, and
 * says whether the signs are packed lane by lane (fused: groups of a multiple of the variant's `lanes`
 * channels, or one group of any width where the variant packs a masked last vector); if so, zeroes the
 * block's packed words the variant then writes its bits into.
 */
static inline int sofar_bconv_out_begin(const struct sofar_bconv_out *e, size_t p0, size_t mr, size_t lanes,
                                        int masked_tail, int prefetch) {
  /* masked_tail: the variant packs a last, partial vector's signs too (its lanes past cout give 0 bits);
     possible where the signs form one group, whose vectors then start at multiples of the lane count.
     prefetch 0: the variant prefetches inside its loop instead, a line per vector (no loop of its own). */
  if (prefetch)
    for (size_t r = 0; r < mr; r++) sofar_bconv_out_prefetch(e, p0 + r + SOFAR_OUT_AHEAD);
  const int fused = e->yp && (e->yp_c % lanes == 0 || (masked_tail && e->yp_c == e->cout));
  if (fused) { /* inline: a call to memset costs more than the one or two words of a small layer */
    const size_t words = e->cout / e->yp_c * e->yp_wg;
    for (size_t r = 0; r < mr; r++)
      for (size_t i = 0; i < words; i++) e->yp[(p0 + r) * e->yps + i] = 0;
  }
  return fused;
}

/** Row r's float output: y's row, or tmp's (the floats only feed the packing). */
static inline float *sofar_out_row(const struct sofar_bconv_out *e, size_t pix, size_t r, float *tmp) {
  return e->y ? e->y + pix * e->ys : tmp + r * e->cout;
}

/*
 * What a call's transform does (SOFAR_TF_*). A SIMD variant compiles its transform body once per combination
 * the zoo's models use, so that its loop carries no tests and few live registers, and once generic:
 * SOFAR_TF_DISPATCH(body, f, args...) calls body(args..., f) with f a constant where it is one of them.
 */
enum {
  SOFAR_TF_MUL = 1, SOFAR_TF_RES_BEFORE = 2, SOFAR_TF_ALPHA = 4, SOFAR_TF_SCALE = 8, SOFAR_TF_POST = 16,
  SOFAR_TF_RES_AFTER = 32, SOFAR_TF_FUSED = 64, SOFAR_TF_Y = 128, SOFAR_TF_PACK_SCALE = 256, SOFAR_TF_PACK_SHIFT = 512,
  SOFAR_TF_RES2 = 1024,
  /* Bi-Real: BN, shortcut, the next sign */
  SOFAR_TF_BIREAL = SOFAR_TF_MUL | SOFAR_TF_RES_BEFORE | SOFAR_TF_FUSED | SOFAR_TF_Y,
  /* ReActNet: BN, shortcut, RPReLU; then with the next RSign's threshold */
  SOFAR_TF_REACT = SOFAR_TF_MUL | SOFAR_TF_RES_BEFORE | SOFAR_TF_ALPHA | SOFAR_TF_POST | SOFAR_TF_Y,
  SOFAR_TF_REACT_PACKED = SOFAR_TF_REACT | SOFAR_TF_FUSED | SOFAR_TF_PACK_SHIFT,
  /* QuickNet: ReLU, BN, the shortcut after them; then with the next sign */
  SOFAR_TF_QUICK = SOFAR_TF_MUL | SOFAR_TF_ALPHA | SOFAR_TF_SCALE | SOFAR_TF_POST | SOFAR_TF_RES_AFTER | SOFAR_TF_Y,
  SOFAR_TF_QUICK_PACKED = SOFAR_TF_QUICK | SOFAR_TF_FUSED,
  /* a fractal join computed by a column's conv (DRF): its batch norm, the sum so far, the mean's scale */
  SOFAR_TF_JOIN = SOFAR_TF_MUL | SOFAR_TF_RES_BEFORE | SOFAR_TF_SCALE | SOFAR_TF_Y,
  /* the same where the column's conv adds its unit's shortcut first (RF): the sum so far is the second residual;
     a join's last conv scales by the mean's 1/k and packs the join's signs */
  SOFAR_TF_JOIN_RES = SOFAR_TF_MUL | SOFAR_TF_RES_BEFORE | SOFAR_TF_RES2 | SOFAR_TF_Y,
  SOFAR_TF_JOIN_RES_LAST = SOFAR_TF_JOIN_RES | SOFAR_TF_SCALE | SOFAR_TF_FUSED,
};
static inline unsigned sofar_bconv_out_flags(const struct sofar_bconv_out *e, int fused) {
  return (e->mul ? SOFAR_TF_MUL : 0) | (e->res && !e->res_after ? SOFAR_TF_RES_BEFORE : 0) |
         (e->alpha ? SOFAR_TF_ALPHA : 0) | (e->scale ? SOFAR_TF_SCALE : 0) | (e->post ? SOFAR_TF_POST : 0) |
         (e->res && e->res_after ? SOFAR_TF_RES_AFTER : 0) | (fused ? SOFAR_TF_FUSED : 0) | (e->y ? SOFAR_TF_Y : 0) |
         (e->pack_scale ? SOFAR_TF_PACK_SCALE : 0) | (e->pack_shift ? SOFAR_TF_PACK_SHIFT : 0) |
         (e->res2 ? SOFAR_TF_RES2 : 0);
}
#define SOFAR_TF_DISPATCH(body, f, ...)                                                        \
  switch (f) {                                                                                 \
    case SOFAR_TF_BIREAL: body(__VA_ARGS__, SOFAR_TF_BIREAL); break;                           \
    case SOFAR_TF_REACT: body(__VA_ARGS__, SOFAR_TF_REACT); break;                             \
    case SOFAR_TF_REACT_PACKED: body(__VA_ARGS__, SOFAR_TF_REACT_PACKED); break;               \
    case SOFAR_TF_QUICK: body(__VA_ARGS__, SOFAR_TF_QUICK); break;                             \
    case SOFAR_TF_QUICK_PACKED: body(__VA_ARGS__, SOFAR_TF_QUICK_PACKED); break;               \
    case SOFAR_TF_JOIN: body(__VA_ARGS__, SOFAR_TF_JOIN); break;                               \
    case SOFAR_TF_JOIN_RES: body(__VA_ARGS__, SOFAR_TF_JOIN_RES); break;                       \
    case SOFAR_TF_JOIN_RES_LAST: body(__VA_ARGS__, SOFAR_TF_JOIN_RES_LAST); break;             \
    default: body(__VA_ARGS__, f); break;                                                      \
  }

/**
 * The end every SIMD transform shares: the reference's floats of the channels [o, cout) the variant's vectors
 * left (only when not fused), then, when not fused, the signs of every row's floats packed with pack_row.
 */
void sofar_bconv_out_finish(const struct sofar_bconv_out *e, size_t p0, size_t mr, const int32_t *pc,
                            const int32_t *const *corr, float *tmp, size_t o, int fused, sofar_pack_row_fn pack_row);


/**
 * Float GEMM tile: rows r < mr, columns j < nr (nr <= the variant's NR):
 *   v = sum over k of A(r, k) * B(k, j);  v += bias[j];  v += res[r*c_stride + j];  relu: v = v > 0 ? v : 0
 *   c[r*c_stride + j] = v
 * Rows are segmented as in the binary GEMM (a[s*SOFAR_MR_MAX + r], nseg segments of seg_len floats).
 * B(k, j) = b[k*b_row_stride + (j/16)*b_panel_stride + j%16]: packed panels of 16 columns
 * (b_row_stride = 16, b_panel_stride = K*16) or a plain row-major matrix (b_row_stride = N,
 * b_panel_stride = 16). Columns past nr are never read, so a plain matrix may end at column nr.
 */
typedef void (*sofar_sgemm_fn)(size_t mr, size_t nr, size_t nseg, size_t seg_len, const float *const *a,
                               const float *b, size_t b_row_stride, size_t b_panel_stride,
                               float *c, size_t c_stride, const float *bias, const float *res, int relu);

/**
 * Float GEMM tiles of ng groups side by side, each of nr <= 8 columns (a grouped conv's groups): group q's rows
 * are those of a (segmented as above) plus q*a_group_stride floats, its weights b + q*b_group_stride (16-float
 * packed rows, columns < nr read), its bias, residual and outputs nr columns after group q-1's. Each group's
 * floats are those of sofar_sgemm_fn on that group alone.
 */
typedef void (*sofar_sgemm_groups_fn)(size_t mr, size_t nr, size_t ng, size_t nseg, size_t seg_len,
                                      const float *const *a, size_t a_group_stride, const float *b,
                                      size_t b_group_stride, float *c, size_t c_stride, const float *bias,
                                      const float *res, int relu);

/* A sofar_sgemm_groups_fn's body over a tile of two groups, tile(..., ng) with ng 2 or 1 (the last, odd
   group), in a function whose parameters are named as sofar_sgemm_groups_fn's (a_gs, b_gs, cs). */
#define SOFAR_GROUP_PAIRS(tile)                                                                              \
  do {                                                                                                       \
    const float *gp[SOFAR_MAX_SEGS * SOFAR_MR_MAX];                                                          \
    for (size_t q = 0; q < ng; q += 2) {                                                                     \
      const float *const *ga = a;                                                                            \
      if (q) { /* group q's part of every segment */                                                         \
        for (size_t i = 0; i < nseg * SOFAR_MR_MAX; i++) gp[i] = a[i] + q * a_gs;                            \
        ga = gp;                                                                                             \
      }                                                                                                      \
      const float *bq = b + q * b_gs, *biq = bias ? bias + q * nr : NULL, *rq = res ? res + q * nr : NULL;  \
      if (q + 2 <= ng) tile(mr, nr, nseg, seg_len, ga, a_gs, bq, b_gs, c + q * nr, cs, biq, rq, relu, 2);    \
      else tile(mr, nr, nseg, seg_len, ga, a_gs, bq, b_gs, c + q * nr, cs, biq, rq, relu, 1);                \
    }                                                                                                        \
  } while (0)

/**
 * Depthwise conv, one output pixel of c channels: y[q] = relu?(((0 + Σ_t x_t[q]·w[t·c + q]) + bias[q]) + res[q]),
 * taps t < ntaps in order, each product and sum rounded to float32 (no FMA); taps[t] NULL = padding (skipped).
 * bias and res may be NULL. Identical floats on every ISA.
 */
typedef void (*sofar_dwconv_fn)(size_t c, size_t ntaps, const float *const *taps, const float *w, const float *bias,
                                const float *res, float *y, int relu);
/** Most taps (kh*kw) of a depthwise kernel. */
#define SOFAR_DW_MAX_TAPS 1024

/**
 * 2x2 averages of `pairs` pairs of pixels of two rows, cout floats a pixel (top row at top, pair j's pixels at
 * top + 2j*cout and one pixel on; the bottom row likewise): y + j*ys gets (((a + b) + c) + d) / 4 in float32,
 * a, b the top pixels, c, d the bottom ones (sofar_avgpool_f32's order). Identical floats on every ISA.
 */
typedef void (*sofar_pool_pairs_fn)(float *y, size_t ys, const float *top, const float *bottom, size_t pairs, size_t cout);

/** Three planes' rows interleaved (an RGB image's NCHW row as NHWC): out[3i], out[3i+1], out[3i+2] = a[i], b[i], c[i]. */
typedef void (*sofar_interleave3_fn)(const float *a, const float *b, const float *c, float *out, size_t n);

struct sofar_ukernels {
  int isa;
  size_t bgemm_mr, bgemm_nr; /* nr: a multiple of 8 */
  sofar_bgemm_fn bgemm;
  sofar_bconv_transform_fn bconv_transform;
  sofar_pack_row_fn pack_row;
  size_t sgemm_mr, sgemm_nr; /* nr: a multiple of 16 */
  sofar_sgemm_fn sgemm;
  sofar_dwconv_fn dwconv;
  sofar_pack_rows_fn pack_rows; /* NULL: pack_row row by row */
  sofar_pool_pairs_fn pool_pairs; /* NULL: the portable loop in bconv.c */
  sofar_interleave3_fn interleave3; /* NULL: the portable loop in conv.c */
  sofar_sgemm_groups_fn sgemm_groups; /* NULL: sgemm group by group */
};

/* Packs rows with the variant's multi-row packer where it has one (per-row calls cost more than the packing
   of a small row: 6 ns for 64 channels against ~1.5 ns with the thresholds kept in registers, measured). */
static inline void sofar_pack_rows(const struct sofar_ukernels *uk, const float *x, size_t xs, const float *scale,
                                   const float *shift, uint64_t *y, size_t ys, size_t channels, size_t rows) {
  if (uk->pack_rows) {
    uk->pack_rows(x, xs, scale, shift, y, ys, channels, rows);
    return;
  }
  for (size_t r = 0; r < rows; r++) uk->pack_row(x + r * xs, scale, shift, y + r * ys, channels);
}

/** Tests only: the packed weight bytes from which binary convs split their tasks by output channels (bconv.c). */
void sofar_bconv_split_at(size_t bytes);

/** The table of the ISA in use (read once per kernel call). */
const struct sofar_ukernels *sofar_ukernels_current(void);

/* the variants */
void sofar_bgemm_scalar(size_t, size_t, size_t, size_t, const uint64_t *const *, const uint64_t *, int32_t *, size_t);
void sofar_bconv_transform_scalar(const struct sofar_bconv_out *, size_t, size_t, const int32_t *, const int32_t *const *, float *);
void sofar_pack_row_scalar(const float *, const float *, const float *, uint64_t *, size_t);
void sofar_sgemm_scalar(size_t, size_t, size_t, size_t, const float *const *, const float *, size_t, size_t, float *, size_t,
                        const float *, const float *, int);
void sofar_dwconv_scalar(size_t, size_t, const float *const *, const float *, const float *, const float *, float *, int);
/** The scalar depthwise pixel for channels [q0, q1) of c (the SIMD variants' tails). */
void sofar_dwconv_range_scalar(size_t q0, size_t q1, size_t c, size_t ntaps, const float *const *taps, const float *w,
                               const float *bias, const float *res, float *y, int relu);
#if SOFAR_X86
void sofar_bgemm_avx2(size_t, size_t, size_t, size_t, const uint64_t *const *, const uint64_t *, int32_t *, size_t);
void sofar_bconv_transform_avx2(const struct sofar_bconv_out *, size_t, size_t, const int32_t *, const int32_t *const *, float *);
void sofar_pack_row_avx2(const float *, const float *, const float *, uint64_t *, size_t);
void sofar_sgemm_groups_avx2(size_t, size_t, size_t, size_t, size_t, const float *const *, size_t, const float *, size_t,
                             float *, size_t, const float *, const float *, int);
void sofar_sgemm_avx2(size_t, size_t, size_t, size_t, const float *const *, const float *, size_t, size_t, float *, size_t,
                      const float *, const float *, int);
void sofar_dwconv_avx2(size_t, size_t, const float *const *, const float *, const float *, const float *, float *, int);
void sofar_bgemm_avx512(size_t, size_t, size_t, size_t, const uint64_t *const *, const uint64_t *, int32_t *, size_t);
void sofar_bconv_transform_avx512(const struct sofar_bconv_out *, size_t, size_t, const int32_t *, const int32_t *const *, float *);
void sofar_pack_row_avx512(const float *, const float *, const float *, uint64_t *, size_t);
void sofar_pack_rows_avx512(const float *, size_t, const float *, const float *, uint64_t *, size_t, size_t, size_t);
void sofar_pool_pairs_avx512(float *, size_t, const float *, const float *, size_t, size_t);
void sofar_interleave3_avx512(const float *, const float *, const float *, float *, size_t);
void sofar_sgemm_groups_avx512(size_t, size_t, size_t, size_t, size_t, const float *const *, size_t, const float *,
                               size_t, float *, size_t, const float *, const float *, int);
void sofar_sgemm_avx512(size_t, size_t, size_t, size_t, const float *const *, const float *, size_t, size_t, float *, size_t,
                        const float *, const float *, int);
void sofar_dwconv_avx512(size_t, size_t, const float *const *, const float *, const float *, const float *, float *, int);
/**
 * One output row of a few-input-channel conv (conv.c's stem path): pixel q < wo reads kh rows of kwc floats at
 * row + i*rs + q*ps (i < kh); b is the packed weights ([ceil(og/16)][K][16], K = kh*kwc); y, res: the row's
 * first pixel, pixel stride cs. The same FMAs in the same order as sofar_sgemm_avx512.
 */
void sofar_conv_stem_row_avx512(size_t wo, const float *row, size_t ps, size_t rs, size_t kh, size_t kwc,
                                const float *b, size_t K, size_t og, float *y, size_t cs, const float *bias,
                                const float *res, int relu);
#endif
/** Widest pixel block of a stem row kernel (conv.c pads its scratch rows for it). */
#define SOFAR_STEM_PB_MAX 24
#if SOFAR_WASM_SIMD
void sofar_bgemm_wasmsimd(size_t, size_t, size_t, size_t, const uint64_t *const *, const uint64_t *, int32_t *, size_t);
void sofar_bconv_transform_wasmsimd(const struct sofar_bconv_out *, size_t, size_t, const int32_t *, const int32_t *const *, float *);
void sofar_pack_row_wasmsimd(const float *, const float *, const float *, uint64_t *, size_t);
void sofar_sgemm_wasmsimd(size_t, size_t, size_t, size_t, const float *const *, const float *, size_t, size_t, float *,
                          size_t, const float *, const float *, int);
void sofar_sgemm_groups_wasmsimd(size_t, size_t, size_t, size_t, size_t, const float *const *, size_t, const float *,
                                 size_t, float *, size_t, const float *, const float *, int);
void sofar_dwconv_wasmsimd(size_t, size_t, const float *const *, const float *, const float *, const float *, float *, int);
#endif

#if SOFAR_ARM64
void sofar_bgemm_neon(size_t, size_t, size_t, size_t, const uint64_t *const *, const uint64_t *, int32_t *, size_t);
void sofar_bconv_transform_neon(const struct sofar_bconv_out *, size_t, size_t, const int32_t *, const int32_t *const *, float *);
void sofar_pack_row_neon(const float *, const float *, const float *, uint64_t *, size_t);
void sofar_sgemm_neon(size_t, size_t, size_t, size_t, const float *const *, const float *, size_t, size_t, float *, size_t,
                      const float *, const float *, int);
void sofar_dwconv_neon(size_t, size_t, const float *const *, const float *, const float *, const float *, float *, int);
#endif

/* ---- threads ----------------------------------------------------------------------------------------- */

/**
 * Runs fn(ctx, begin, end, slot) over [0, ntasks): the calling thread and up to sofar_threads()-1 workers
 * each take one contiguous range (slot = its index, < sofar_slots(ntasks)). Serial in the single-threaded
 * wasm build; the threaded one (-matomics, shared memory) shares the work with Web Workers / worker_threads.
 * Which thread computes a task never changes its result: tasks are independent.
 */
typedef void (*sofar_task_fn)(void *ctx, size_t begin, size_t end, int slot);
void sofar_parallel_for(size_t ntasks, sofar_task_fn fn, void *ctx);
/** Chunks of parallel loops thread `index` (0: the caller) has run (wraps at 2^32; 0 where serial): who did the work. */
uint32_t sofar_chunks_run(int index);
/** Scratch slots a kernel with `ntasks` tasks provides for (independent of the current thread count). */
static inline size_t sofar_slots(size_t ntasks) { return ntasks < SOFAR_MAX_THREADS ? (ntasks ? ntasks : 1) : SOFAR_MAX_THREADS; }

/* ---- conv geometry ------------------------------------------------------------------------------------ */

struct sofar_conv_geom {
  size_t n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups;
  size_t ho, wo, pixels; /* output pixels = n*ho*wo */
  size_t cg, og;         /* input / output channels per group */
  size_t taps;           /* kh*kw */
};

/** Fills g; returns 0 when the shape is invalid (non-positive sizes, groups not dividing, empty output). */
int sofar_conv_geom_init(struct sofar_conv_geom *g, int n, int h, int w, int cin, int cout, int kh, int kw, int sh,
                         int sw, int pt, int pl, int pb, int pr, int dh, int dw, int groups);

/**
 * One output row of a max pool (geometry pg: input w x cin, kw, sw, pl) from the nrows input rows its windows
 * cover (row0 the first, rows rs floats apart): each cell as sofar_maxpool_f32 computes it.
 */
void sofar_maxpool_row_f32(const float *row0, size_t nrows, size_t rs, const struct sofar_conv_geom *pg, float *y);
/* PReLU in place over `pixels` rows of c floats, ys apart (the same floats as sofar_prelu_f32), on the calling thread. */
void sofar_prelu_rows(float *y, size_t pixels, size_t c, size_t ys, const float *alpha);
/* One cell of a 2x2 average pool: y[q] = (((a + b) + c) + d) / 4 over channels q < ch, a at x0, b one pixel
   (ch floats) on, c and d a row (rs floats) below them: sofar_avgpool_f32's arithmetic, at the ISA's width. */
void sofar_avgpool2_cell_f32(const float *x0, size_t rs, size_t ch, float *y);

#endif
