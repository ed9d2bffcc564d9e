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

/** The binary conv transform's optional tail (sofar_bconv2d_epilogue); any member may be NULL. */
struct sofar_bconv_tail {
  const float *scale;      /* after the activation: out = out*scale[o] + (post ? post[o] : +0) */
  const float *res;        /* then out = out + res[o] (the residual after the activation) */
  const float *pack_scale; /* the packed signs are those of (pack_scale ? out*pack_scale[o] : out) */
  const float *pack_shift; /*   + (pack_shift ? pack_shift[o] : +0) when either is given */
};
/** The tail of channels o.. (the SIMD variants' scalar remainders). */
static inline struct sofar_bconv_tail sofar_tail_at(const struct sofar_bconv_tail *t, size_t o) {
  struct sofar_bconv_tail r = {t->scale ? t->scale + o : NULL, t->res ? t->res + o : NULL,
                               t->pack_scale ? t->pack_scale + o : NULL, t->pack_shift ? t->pack_shift + o : NULL};
  return r;
}
/** The tail's members, all NULL where there is none. */
static inline struct sofar_bconv_tail sofar_tail_or_none(const struct sofar_bconv_tail *t) {
  struct sofar_bconv_tail none = {NULL, NULL, NULL, NULL};
  return t ? *t : none;
}
/** Whether the packed signs are those of an affine map of the output. */
static inline int sofar_tail_packs_affine(const struct sofar_bconv_tail *t) {
  return t && (t->pack_scale || t->pack_shift);
}

/**
 * Binary conv output transform for one pixel of `cout` channels:
 *   acc = kbits - 2*pc[o] - (corr ? corr[o] : 0);  out = multiplier[o]*acc + bias[o] (+ res[o])
 *   then, where given: out = out < 0 ? alpha[o]*out : out (PReLU);  out = out + post[o]
 * in float32 in that order (multiplier NULL = 1, bias NULL = +0), then the tail where given (tail->scale
 * replaces the shift by out*scale + post; see struct sofar_bconv_tail). Writes out to y[o] when y is not
 * NULL, and its signs (or those of the tail's affine map of it) to yp when yp is not NULL: groups of yp_c
 * channels, yp_wg words each. tmp: 2*cout floats.
 */
typedef void (*sofar_bconv_transform_fn)(size_t cout, int32_t kbits, const int32_t *pc, const int32_t *corr,
                                         const float *multiplier, const float *bias, const float *res,
                                         const float *alpha, const float *post, const struct sofar_bconv_tail *tail,
                                         float *y, uint64_t *yp, size_t yp_c, size_t yp_wg, float *tmp);

/** Packs the signs of `channels` floats into ceil(channels/64) words (bit = x < 0; tail bits 0). */
typedef void (*sofar_pack_row_fn)(const float *x, uint64_t *y, size_t channels);

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
 * Depthwise conv, one output pixel of c channels: y[q] = relu?(((0 + Σ_t x_t[q]·w[t·c + q]) + bias[q]) + res[q]),
 * taps t < ntaps in order, each product and sum rounded to float32 (no FMA); taps[t] NULL = padding (skipped).
 * bias and res may be NULL. Identical floats on every ISA.
 */
typedef void (*sofar_dwconv_fn)(size_t c, size_t ntaps, const float *const *taps, const float *w, const float *bias,
                                const float *res, float *y, int relu);
/** Most taps (kh*kw) of a depthwise kernel. */
#define SOFAR_DW_MAX_TAPS 1024

struct sofar_ukernels {
  int isa;
  size_t bgemm_mr, bgemm_nr; /* nr: a multiple of 8 */
  sofar_bgemm_fn bgemm;
  sofar_bconv_transform_fn bconv_transform;
  sofar_pack_row_fn pack_row;
  size_t sgemm_mr, sgemm_nr; /* nr: a multiple of 16 */
  sofar_sgemm_fn sgemm;
  sofar_dwconv_fn dwconv;
};

/** The table of the ISA in use (read once per kernel call). */
const struct sofar_ukernels *sofar_ukernels_current(void);

/* the variants */
void sofar_bgemm_scalar(size_t, size_t, size_t, size_t, const uint64_t *const *, const uint64_t *, int32_t *, size_t);
void sofar_bconv_transform_scalar(size_t, int32_t, const int32_t *, const int32_t *, const float *, const float *,
                                  const float *, const float *, const float *, const struct sofar_bconv_tail *, float *, uint64_t *, size_t, size_t, float *);
void sofar_pack_row_scalar(const float *, uint64_t *, size_t);
void sofar_sgemm_scalar(size_t, size_t, size_t, size_t, const float *const *, const float *, size_t, size_t, float *, size_t,
                        const float *, const float *, int);
void sofar_dwconv_scalar(size_t, size_t, const float *const *, const float *, const float *, const float *, float *, int);
/** The scalar depthwise pixel for channels [q0, q1) of c (the SIMD variants' tails). */
void sofar_dwconv_range_scalar(size_t q0, size_t q1, size_t c, size_t ntaps, const float *const *taps, const float *w,
                               const float *bias, const float *res, float *y, int relu);
#if SOFAR_X86
void sofar_bgemm_avx2(size_t, size_t, size_t, size_t, const uint64_t *const *, const uint64_t *, int32_t *, size_t);
void sofar_bconv_transform_avx2(size_t, int32_t, const int32_t *, const int32_t *, const float *, const float *,
                                const float *, const float *, const float *, const struct sofar_bconv_tail *, float *, uint64_t *, size_t, size_t, float *);
void sofar_pack_row_avx2(const float *, uint64_t *, size_t);
void sofar_sgemm_avx2(size_t, size_t, size_t, size_t, const float *const *, const float *, size_t, size_t, float *, size_t,
                      const float *, const float *, int);
void sofar_dwconv_avx2(size_t, size_t, const float *const *, const float *, const float *, const float *, float *, int);
void sofar_bgemm_avx512(size_t, size_t, size_t, size_t, const uint64_t *const *, const uint64_t *, int32_t *, size_t);
void sofar_bconv_transform_avx512(size_t, int32_t, const int32_t *, const int32_t *, const float *, const float *,
                                  const float *, const float *, const float *, const struct sofar_bconv_tail *, float *, uint64_t *, size_t, size_t, float *);
void sofar_pack_row_avx512(const float *, uint64_t *, size_t);
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
void sofar_bconv_transform_wasmsimd(size_t, int32_t, const int32_t *, const int32_t *, const float *, const float *,
                                    const float *, const float *, const float *, const struct sofar_bconv_tail *, float *, uint64_t *, size_t, size_t, float *);
void sofar_pack_row_wasmsimd(const float *, uint64_t *, size_t);
void sofar_sgemm_wasmsimd(size_t, size_t, size_t, size_t, const float *const *, const float *, size_t, size_t, float *,
                          size_t, const float *, const float *, int);
void sofar_dwconv_wasmsimd(size_t, size_t, const float *const *, const float *, const float *, const float *, float *, int);
#endif

#if SOFAR_ARM64
void sofar_bgemm_neon(size_t, size_t, size_t, size_t, const uint64_t *const *, const uint64_t *, int32_t *, size_t);
void sofar_bconv_transform_neon(size_t, int32_t, const int32_t *, const int32_t *, const float *, const float *,
                                const float *, const float *, const float *, const struct sofar_bconv_tail *, float *, uint64_t *, size_t, size_t, float *);
void sofar_pack_row_neon(const float *, uint64_t *, size_t);
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

#endif
