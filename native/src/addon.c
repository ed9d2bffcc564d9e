/*
 * Node-API glue (NAPI_VERSION 8, plain C): sofar_kernels.node.
 *
 * Every kernel call takes the arena ArrayBuffer first, then byte offsets into it for each pointer argument
 * (-1 = NULL), then the int/float arguments in the header's order. Before calling a kernel the glue checks
 * everything a model file from a stranger could get wrong: argument count and types, integer shape
 * arguments within sane ranges (and their products without overflow), output sizes >= 1, groups dividing
 * the channels, pad_value in {-1, 0, 1}, strides >= the channel count, and that every buffer's full extent
 * (computed from the shape exactly as the kernel touches it) lies inside the ArrayBuffer at an offset
 * aligned to its element size. Violations throw a TypeError (wrong kind of argument) or a RangeError.
 */
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#if defined(__linux__) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* mmap's MAP_ANONYMOUS and madvise under -std=c11 */
#endif
#include <node_api.h>
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

#define SOFAR_ADDON_VERSION "0.1.0"
/* Bumped whenever a function's arguments change: the runtime refuses an addon built from other sources (a
   clone's native/build left from before a pull) instead of calling it with the wrong arguments. Keep equal
   to ADDON_ABI in backends/runtime/kernels.ts. 2: conv2dF32Maxpool takes alpha; 3: sumF32 takes yStride;
   4: packSignsAffine2. */
#define SOFAR_ADDON_ABI 4
#define MAX_ARGS 40
#define MAX_DIM (1 << 24)     /* n, h, w, channels, pixels */
#define MAX_KDIM (1 << 16)    /* kernel sizes, strides, dilations, pads */
#define MAX_DEPTH (1 << 24)   /* kh*kw*cin/groups: binary accumulators stay exact in float32 */
#define MAX_BYTES ((uint64_t)1 << 52)

typedef struct {
  napi_env env;
  const char *fn;
  napi_value argv[MAX_ARGS];
  size_t argc;
  uint8_t *base;
  size_t len;
} call_t;

static napi_value fail(call_t *c, int range, const char *fmt, ...) {
  char msg[400];
  int n = snprintf(msg, sizeof msg, "sofar kernels: %s: ", c->fn);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
  va_end(ap);
  if (range) napi_throw_range_error(c->env, NULL, msg);
  else napi_throw_type_error(c->env, NULL, msg);
  return NULL;
}

/* Reads the arguments; `with_buffer`: argument 0 must be an ArrayBuffer. */
static int begin(call_t *c, napi_env env, napi_callback_info info, const char *fn, size_t expected, int with_buffer) {
  c->env = env;
  c->fn = fn;
  c->argc = MAX_ARGS;
  c->base = NULL;
  c->len = 0;
  if (napi_get_cb_info(env, info, &c->argc, c->argv, NULL, NULL) != napi_ok) {
    fail(c, 0, "cannot read the arguments");
    return 0;
  }
  if (c->argc != expected) {
    fail(c, 0, "expected %zu arguments, got %zu", expected, c->argc);
    return 0;
  }
  if (with_buffer) {
    bool is_ab = false;
    napi_is_arraybuffer(env, c->argv[0], &is_ab);
    void *data = NULL;
    size_t len = 0;
    if (!is_ab || napi_get_arraybuffer_info(env, c->argv[0], &data, &len) != napi_ok) {
      fail(c, 0, "argument 1 must be an ArrayBuffer (the arena)");
      return 0;
    }
    c->base = (uint8_t *)data;
    c->len = data ? len : 0;
  }
  return 1;
}

static int number_arg(call_t *c, size_t i, const char *what, double *out) {
  napi_valuetype t;
  if (napi_typeof(c->env, c->argv[i], &t) != napi_ok || t != napi_number) {
    fail(c, 0, "%s (argument %zu) must be a number", what, i + 1);
    return 0;
  }
  napi_get_value_double(c->env, c->argv[i], out);
  return 1;
}

static int int_arg(call_t *c, size_t i, const char *what, long long lo, long long hi, int *out) {
  double d;
  if (!number_arg(c, i, what, &d)) return 0;
  if (!(d == d) || d != (double)(long long)d || d < (double)lo || d > (double)hi) {
    fail(c, 1, "%s (argument %zu) must be an integer in [%lld, %lld], got %g", what, i + 1, lo, hi, d);
    return 0;
  }
  *out = (int)d;
  return 1;
}

static int count_arg(call_t *c, size_t i, const char *what, size_t *out) {
  double d;
  if (!number_arg(c, i, what, &d)) return 0;
  if (!(d == d) || d < 1 || d > 9007199254740991.0 || d != (double)(uint64_t)d) {
    fail(c, 1, "%s (argument %zu) must be a positive integer, got %g", what, i + 1, d);
    return 0;
  }
  *out = (size_t)d;
  return 1;
}

static int float_arg(call_t *c, size_t i, const char *what, float *out) {
  double d;
  if (!number_arg(c, i, what, &d)) return 0;
  *out = (float)d;
  return 1;
}

/* overflow-checked products for extents */
static int mul_ok(call_t *c, uint64_t *acc, uint64_t f) {
  uint64_t r;
  if (__builtin_mul_overflow(*acc, f, &r) || r > MAX_BYTES) {
    fail(c, 1, "the shape is too large");
    return 0;
  }
  *acc = r;
  return 1;
}
static int add_ok(call_t *c, uint64_t *acc, uint64_t f) {
  uint64_t r;
  if (__builtin_add_overflow(*acc, f, &r) || r > MAX_BYTES) {
    fail(c, 1, "the shape is too large");
    return 0;
  }
  *acc = r;
  return 1;
}

/**
 * A pointer argument: a byte offset into the arena (-1 = NULL where `nullable`), aligned to `align`,
 * with `extent` bytes inside the arena.
 */
static int ptr_arg(call_t *c, size_t i, const char *what, uint64_t extent, size_t align, int nullable, void **out) {
  double d;
  if (!number_arg(c, i, what, &d)) return 0;
  if (d == -1) {
    if (!nullable) {
      fail(c, 1, "%s (argument %zu) is required (got -1)", what, i + 1);
      return 0;
    }
    *out = NULL;
    return 1;
  }
  if (!(d == d) || d < 0 || d > 9007199254740991.0 || d != (double)(uint64_t)d) {
    fail(c, 1, "%s (argument %zu) must be a byte offset (a non-negative integer) or -1, got %g", what, i + 1, d);
    return 0;
  }
  const uint64_t off = (uint64_t)d;
  if (off % align || ((uintptr_t)c->base + off) % align) {
    fail(c, 1, "%s (argument %zu): offset %llu is not aligned to %zu bytes", what, i + 1, (unsigned long long)off,
         align);
    return 0;
  }
  if (off > c->len || extent > (uint64_t)c->len - off) {
    fail(c, 1, "%s (argument %zu): %llu bytes at offset %llu do not fit in the %zu-byte arena", what, i + 1,
         (unsigned long long)extent, (unsigned long long)off, c->len);
    return 0;
  }
  *out = c->base + off;
  return 1;
}

/* extent in bytes of a strided map: (pixels-1)*stride + channels elements of `elem` bytes */
static int strided_bytes(call_t *c, uint64_t pixels, uint64_t stride, uint64_t channels, uint64_t elem, uint64_t *out) {
  uint64_t e = pixels - 1;
  if (!mul_ok(c, &e, stride) || !add_ok(c, &e, channels) || !mul_ok(c, &e, elem)) return 0;
  *out = e;
  return 1;
}

/* The scratch may not overlap another buffer of the call (the kernel keeps working state there). */
typedef struct {
  const char *what;
  const void *p;
  uint64_t bytes;
} range_t;
static int scratch_disjoint(call_t *c, const void *scratch, uint64_t bytes, const range_t *others, size_t n) {
  const uintptr_t s0 = (uintptr_t)scratch, s1 = s0 + (uintptr_t)bytes;
  for (size_t i = 0; i < n; i++) {
    if (!others[i].p) continue;
    const uintptr_t o0 = (uintptr_t)others[i].p, o1 = o0 + (uintptr_t)others[i].bytes;
    if (s0 < o1 && o0 < s1) {
      fail(c, 1, "scratch overlaps %s", others[i].what);
      return 0;
    }
  }
  return 1;
}

static int stride_arg(call_t *c, size_t i, const char *what, int channels, int *out) {
  if (!int_arg(c, i, what, 0, MAX_DIM, out)) return 0;
  if (*out != 0 && *out < channels) {
    fail(c, 1, "%s (argument %zu) must be 0 or >= the channel count %d, got %d", what, i + 1, channels, *out);
    return 0;
  }
  if (*out == 0) *out = channels;
  return 1;
}

/* ---- conv shapes ------------------------------------------------------------------------------------- */

enum { N, H, W, CIN, COUT, KH, KW, SH, SW, PT, PL, PB, PR, DH, DW, GROUPS, NSHAPE };
static const char *const shape_names[NSHAPE] = {"n", "h", "w", "cin", "cout", "kh", "kw", "sh", "sw",
                                                "pt", "pl", "pb", "pr", "dh", "dw", "groups"};

typedef struct {
  int v[NSHAPE];
  uint64_t ho, wo, pixels; /* output */
} shape_t;

static int check_shape(call_t *c, shape_t *s) {
  const int *v = s->v;
  if (v[CIN] % v[GROUPS] || v[COUT] % v[GROUPS]) {
    fail(c, 1, "groups %d must divide cin %d and cout %d", v[GROUPS], v[CIN], v[COUT]);
    return 0;
  }
  const long long eh = (long long)v[H] + v[PT] + v[PB] - (long long)v[DH] * (v[KH] - 1) - 1;
  const long long ew = (long long)v[W] + v[PL] + v[PR] - (long long)v[DW] * (v[KW] - 1) - 1;
  if (eh < 0 || ew < 0) {
    fail(c, 1, "the (dilated) kernel %dx%d is larger than the padded input %dx%d", v[KH], v[KW], v[H] + v[PT] + v[PB],
         v[W] + v[PL] + v[PR]);
    return 0;
  }
  s->ho = (uint64_t)(eh / v[SH]) + 1;
  s->wo = (uint64_t)(ew / v[SW]) + 1;
  s->pixels = (uint64_t)v[N];
  if (!mul_ok(c, &s->pixels, s->ho) || !mul_ok(c, &s->pixels, s->wo)) return 0;
  if (s->pixels > MAX_DIM * (uint64_t)64) return fail(c, 1, "too many output pixels"), 0;
  uint64_t depth = (uint64_t)v[KH] * (uint64_t)v[KW] * (uint64_t)(v[CIN] / v[GROUPS]);
  if (depth > MAX_DEPTH) return fail(c, 1, "kh*kw*cin/groups = %llu exceeds %d", (unsigned long long)depth, MAX_DEPTH), 0;
  return 1;
}

/* reads the 16 conv ints at argv[first..] */
static int conv_shape(call_t *c, size_t first, shape_t *s) {
  for (int k = 0; k < NSHAPE; k++) {
    long long lo = 1, hi = MAX_DIM;
    if (k == KH || k == KW || k == SH || k == SW || k == DH || k == DW) hi = MAX_KDIM;
    if (k == PT || k == PL || k == PB || k == PR) lo = 0, hi = MAX_KDIM;
    if (!int_arg(c, first + (size_t)k, shape_names[k], lo, hi, &s->v[k])) return 0;
  }
  return check_shape(c, s);
}

/* pooling: n h w c kh kw sh sw pt pl pb pr */
static int pool_shape(call_t *c, size_t first, shape_t *s) {
  static const int idx[12] = {N, H, W, CIN, KH, KW, SH, SW, PT, PL, PB, PR};
  s->v[DH] = s->v[DW] = s->v[GROUPS] = 1;
  for (int k = 0; k < 12; k++) {
    const int q = idx[k];
    long long lo = 1, hi = MAX_DIM;
    if (q == KH || q == KW || q == SH || q == SW) hi = MAX_KDIM;
    if (q == PT || q == PL || q == PB || q == PR) lo = 0, hi = MAX_KDIM;
    if (!int_arg(c, first + (size_t)k, q == CIN ? "c" : shape_names[q], lo, hi, &s->v[q])) return 0;
  }
  s->v[COUT] = s->v[CIN];
  return check_shape(c, s);
}

static napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}
static napi_value undef(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

/* ---- capabilities ----------------------------------------------------------------------------------- */

static const char *const isa_names[] = {"scalar", "avx2", "avx512", "wasm-simd128"};

static napi_value js_detected_isa(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "detectedIsa", 0, 0)) return NULL;
  return num(env, sofar_detected_isa());
}
static napi_value js_set_isa(napi_env env, napi_callback_info info) {
  call_t c;
  int isa;
  if (!begin(&c, env, info, "setIsa", 1, 0) || !int_arg(&c, 0, "isa", 0, 1 << 20, &isa)) return NULL;
  return num(env, sofar_set_isa(isa));
}
static napi_value js_isa_in_use(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "isaInUse", 0, 0)) return NULL;
  return num(env, sofar_isa_in_use());
}
static napi_value js_set_threads(napi_env env, napi_callback_info info) {
  call_t c;
  int t;
  if (!begin(&c, env, info, "setThreads", 1, 0) || !int_arg(&c, 0, "threads", 1, 1024, &t)) return NULL;
  sofar_set_threads(t);
  return undef(env);
}
static napi_value js_chunks_run(napi_env env, napi_callback_info info) {
  call_t c;
  int t;
  if (!begin(&c, env, info, "chunksRun", 1, 0) || !int_arg(&c, 0, "index", 0, 1023, &t)) return NULL;
  return num(env, (double)sofar_chunks_run(t));
}
/* registerPeak(kind, iterations, tasks): the register-only loop of the ISA in use on the pool; the MACs done */
static napi_value js_register_peak(napi_env env, napi_callback_info info) {
  call_t c;
  int kind, tasks;
  double iterations;
  if (!begin(&c, env, info, "registerPeak", 3, 0) || !int_arg(&c, 0, "kind", 0, 1, &kind) ||
      !number_arg(&c, 1, "iterations", &iterations) || !int_arg(&c, 2, "tasks", 1, 1 << 20, &tasks))
    return NULL;
  if (!(iterations >= 1 && iterations <= 1e12) || iterations != (double)(uint64_t)iterations)
    return fail(&c, 1, "iterations (argument 2) must be an integer in [1, 1e12], got %g", iterations);
  return num(env, sofar_register_peak(kind, iterations, tasks));
}
static napi_value js_threads(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "threads", 0, 0)) return NULL;
  return num(env, sofar_threads());
}
/* ---- the arena ------------------------------------------------------------------------------------ */

#if defined(__linux__)
#include <pthread.h>
#include <sys/mman.h>

/*
 * arena(bytes): a zeroed ArrayBuffer of our own mapping, 2 MiB-aligned and advised for transparent huge pages
 * (Linux, THP "madvise" or "always"): a model's maps and weights then take a handful of TLB entries instead of
 * thousands (ReActNet-A and Bi-Real ResNet18 4-5 % faster, measured). releaseArena(buffer) detaches it and
 * unmaps it at once; an arena never released is unmapped by its finalizer once V8 collects it, which Node
 * runs only between event-loop turns: so that a synchronous loop of runtimes never released cannot pile up
 * mappings, arena() returns undefined (the caller takes a plain ArrayBuffer) past ARENA_LIVE_MAX live bytes.
 */
#define ARENA_LIVE_MAX ((size_t)1 << 30)
#define HUGE_PAGE ((size_t)2 << 20)
struct arena_note {
  unsigned char *at;
  size_t mapped, bytes;
  int unmapped;
  struct arena_note *next;
};
/* the live ones, and their mapped bytes: shared by every thread that loads the addon (Node's workers each
   have their own env, and finalizers run on the thread of theirs) */
static struct arena_note *arenas;
static size_t arena_live;
static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;

/* with arena_lock held */
static void arena_unmap(napi_env env, struct arena_note *n) {
  if (n->unmapped) return;
  munmap(n->at, n->mapped);
  n->unmapped = 1;
  arena_live -= n->mapped;
  int64_t left;
  napi_adjust_external_memory(env, -(int64_t)n->bytes, &left);
}
static void arena_finalize(napi_env env, void *data, void *hint) {
  (void)data;
  struct arena_note *n = (struct arena_note *)hint;
  pthread_mutex_lock(&arena_lock);
  arena_unmap(env, n);
  for (struct arena_note **l = &arenas; *l; l = &(*l)->next)
    if (*l == n) {
      *l = n->next;
      break;
    }
  pthread_mutex_unlock(&arena_lock);
  free(n);
}

static napi_value js_arena(napi_env env, napi_callback_info info) {
  call_t c;
  double d;
  if (!begin(&c, env, info, "arena", 1, 0) || !number_arg(&c, 0, "bytes", &d)) return NULL;
  if (!(d >= 1 && d <= 1099511627776.0) || d != (double)(uint64_t)d)
    return fail(&c, 1, "bytes must be an integer in [1, 2^40], got %g", d);
  const size_t bytes = (size_t)d, mapped = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
  pthread_mutex_lock(&arena_lock);
  const int full = arena_live + mapped > ARENA_LIVE_MAX;
  if (!full) arena_live += mapped; /* reserved now, so that two threads cannot both pass the cap */
  pthread_mutex_unlock(&arena_lock);
  if (full) return undef(env);
  /* over-map by a huge page, then trim both ends: the kept range starts on a 2 MiB boundary */
  unsigned char *raw = mmap(NULL, mapped + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    pthread_mutex_lock(&arena_lock);
    arena_live -= mapped;
    pthread_mutex_unlock(&arena_lock);
    return undef(env);
  }
  unsigned char *at = (unsigned char *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
  if (at > raw) munmap(raw, (size_t)(at - raw));
  if (raw + HUGE_PAGE > at) munmap(at + mapped, (size_t)(raw + HUGE_PAGE - at));
#ifdef MADV_HUGEPAGE
  madvise(at, mapped, MADV_HUGEPAGE);
#endif
  struct arena_note *n = calloc(1, sizeof *n);
  napi_value ab;
  if (n) n->at = at, n->mapped = mapped, n->bytes = bytes;
  if (!n || napi_create_external_arraybuffer(env, at, bytes, arena_finalize, n, &ab) != napi_ok) {
    munmap(at, mapped);
    free(n);
    pthread_mutex_lock(&arena_lock);
    arena_live -= mapped;
    pthread_mutex_unlock(&arena_lock);
    return undef(env);
  }
  pthread_mutex_lock(&arena_lock);
  n->next = arenas;
  arenas = n;
  pthread_mutex_unlock(&arena_lock);
  int64_t total; /* the GC sees a small object: tell it what it holds */
  napi_adjust_external_memory(env, (int64_t)bytes, &total);
  return ab;
}

static napi_value js_release_arena(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "releaseArena", 1, 1)) return NULL;
  pthread_mutex_lock(&arena_lock);
  struct arena_note *n = arenas;
  while (n && !(n->at == c.base && !n->unmapped)) n = n->next;
  /* detached first: every view of it becomes empty, and the kernels refuse it, before the memory goes */
  if (n && napi_detach_arraybuffer(env, c.argv[0]) != napi_ok) {
    pthread_mutex_unlock(&arena_lock);
    return fail(&c, 0, "cannot detach the arena");
  }
  if (n) arena_unmap(env, n);
  pthread_mutex_unlock(&arena_lock);
  return undef(env);
}
#endif

static napi_value js_info(napi_env env, napi_callback_info info) {
  call_t c;
  if (!begin(&c, env, info, "info", 0, 0)) return NULL;
  napi_value o, v, arr;
  napi_create_object(env, &o);
  napi_create_string_utf8(env, SOFAR_ADDON_VERSION, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "version", v);
  napi_create_string_utf8(env, isa_names[sofar_detected_isa()], NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "detectedIsa", v);
  napi_create_string_utf8(env, isa_names[sofar_isa_in_use()], NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, "isa", v);
  napi_create_array(env, &arr);
  uint32_t k = 0;
  for (int i = 0; i <= 2; i++)
    if (i == 0 || i <= sofar_detected_isa()) {
      napi_create_string_utf8(env, isa_names[i], NAPI_AUTO_LENGTH, &v);
      napi_set_element(env, arr, k++, v);
    }
  napi_set_named_property(env, o, "isas", arr);
  napi_set_named_property(env, o, "threads", num(env, sofar_threads()));
  napi_set_named_property(env, o, "maxThreads", num(env, SOFAR_MAX_THREADS));
  return o;
}

static napi_value js_packed_words(napi_env env, napi_callback_info info) {
  call_t c;
  int ch, g;
  if (!begin(&c, env, info, "packedWords", 2, 0) || !int_arg(&c, 0, "channels", 1, MAX_DIM, &ch) ||
      !int_arg(&c, 1, "groups", 1, MAX_DIM, &g))
    return NULL;
  if (ch % g) return fail(&c, 1, "groups %d must divide channels %d", g, ch);
  return num(env, sofar_packed_words(ch, g));
}

/* ---- binary ------------------------------------------------------------------------------------------ */

static napi_value js_pack_signs(napi_env env, napi_callback_info info) {
  call_t c;
  int pixels, ch, xs, g;
  void *x, *y;
  if (!begin(&c, env, info, "packSigns", 7, 1) || !int_arg(&c, 3, "pixels", 1, MAX_DIM * 64, &pixels) ||
      !int_arg(&c, 4, "channels", 1, MAX_DIM, &ch) || !stride_arg(&c, 5, "xStride", ch, &xs) ||
      !int_arg(&c, 6, "groups", 1, MAX_DIM, &g))
    return NULL;
  if (ch % g) return fail(&c, 1, "groups %d must divide channels %d", g, ch);
  uint64_t xb, yb = (uint64_t)pixels;
  if (!strided_bytes(&c, (uint64_t)pixels, (uint64_t)xs, (uint64_t)ch, 4, &xb) ||
      !mul_ok(&c, &yb, (uint64_t)sofar_packed_words(ch, g) * 8) || !ptr_arg(&c, 1, "x", xb, 4, 0, &x) ||
      !ptr_arg(&c, 2, "y", yb, 8, 0, &y))
    return NULL;
  sofar_pack_signs((const float *)x, (uint64_t *)y, pixels, ch, xs, g);
  return undef(env);
}

/* An affine pack's map: pixels, channels, xStride, groups from argument `at` on; x's and each output's bytes. */
typedef struct {
  int pixels, ch, xs, g;
  uint64_t xb, yb;
} pack_shape_t;

static int pack_shape(call_t *c, size_t at, pack_shape_t *s) {
  if (!int_arg(c, at, "pixels", 1, MAX_DIM * 64, &s->pixels) || !int_arg(c, at + 1, "channels", 1, MAX_DIM, &s->ch) ||
      !stride_arg(c, at + 2, "xStride", s->ch, &s->xs) || !int_arg(c, at + 3, "groups", 1, MAX_DIM, &s->g))
    return 0;
  if (s->ch % s->g) return fail(c, 1, "groups %d must divide channels %d", s->g, s->ch), 0;
  s->yb = (uint64_t)s->pixels;
  return strided_bytes(c, (uint64_t)s->pixels, (uint64_t)s->xs, (uint64_t)s->ch, 4, &s->xb) &&
         mul_ok(c, &s->yb, (uint64_t)sofar_packed_words(s->ch, s->g) * 8);
}

/* A batch norm's scale, shift (nullable: 1, +0) and packed output at arguments at, at + 1, at + 2. */
static int affine_out(call_t *c, size_t at, const pack_shape_t *s, int nullable, const char *const names[3], void **scale,
                      void **shift, void **y) {
  return ptr_arg(c, at, names[0], (uint64_t)s->ch * 4, 4, nullable, scale) &&
         ptr_arg(c, at + 1, names[1], (uint64_t)s->ch * 4, 4, nullable, shift) && ptr_arg(c, at + 2, names[2], s->yb, 8, 0, y);
}

static napi_value js_pack_signs_affine(napi_env env, napi_callback_info info) {
  call_t c;
  pack_shape_t s;
  void *x, *scale, *shift, *y;
  static const char *const names[3] = {"scale", "shift", "y"};
  if (!begin(&c, env, info, "packSignsAffine", 9, 1) || !pack_shape(&c, 5, &s) || !ptr_arg(&c, 1, "x", s.xb, 4, 0, &x) ||
      !affine_out(&c, 2, &s, 0, names, &scale, &shift, &y))
    return NULL;
  sofar_pack_signs_affine((const float *)x, (const float *)scale, (const float *)shift, (uint64_t *)y, s.pixels, s.ch, s.xs,
                          s.g);
  return undef(env);
}

/* packSignsAffine2(buf, x, scale, shift, y, scale2, shift2, y2, pixels, channels, xStride, groups); -1 scale or shift: 1, +0 */
static napi_value js_pack_signs_affine2(napi_env env, napi_callback_info info) {
  call_t c;
  pack_shape_t s;
  void *x, *scale, *shift, *y, *scale2, *shift2, *y2;
  static const char *const first[3] = {"scale", "shift", "y"}, *const second[3] = {"scale2", "shift2", "y2"};
  if (!begin(&c, env, info, "packSignsAffine2", 12, 1) || !pack_shape(&c, 8, &s) || !ptr_arg(&c, 1, "x", s.xb, 4, 0, &x) ||
      !affine_out(&c, 2, &s, 1, first, &scale, &shift, &y) || !affine_out(&c, 5, &s, 1, second, &scale2, &shift2, &y2))
    return NULL;
  sofar_pack_signs_affine2((const float *)x, (const float *)scale, (const float *)shift, (uint64_t *)y,
                           (const float *)scale2, (const float *)shift2, (uint64_t *)y2, s.pixels, s.ch, s.xs, s.g);
  return undef(env);
}

static napi_value js_bconv2d_scratch_bytes(napi_env env, napi_callback_info info) {
  call_t c;
  shape_t s;
  if (!begin(&c, env, info, "bconv2dScratchBytes", NSHAPE, 0) || !conv_shape(&c, 0, &s)) return NULL;
  const int *v = s.v;
  return num(env, (double)sofar_bconv2d_scratch_bytes(v[N], v[H], v[W], v[CIN], v[COUT], v[KH], v[KW], v[SH], v[SW],
                                                      v[PT], v[PL], v[PB], v[PR], v[DH], v[DW], v[GROUPS]));
}

/* cout cin kh kw groups at argv[first..]; fills a shape with n = 1, h = kh, w = kw */
static int kernel_shape(call_t *c, size_t first, shape_t *s) {
  static const int idx[5] = {COUT, CIN, KH, KW, GROUPS};
  for (int k = 0; k < 5; k++)
    if (!int_arg(c, first + (size_t)k, shape_names[idx[k]], 1, (idx[k] == KH || idx[k] == KW) ? MAX_KDIM : MAX_DIM,
                 &s->v[idx[k]]))
      return 0;
  s->v[N] = 1;
  s->v[H] = s->v[KH];
  s->v[W] = s->v[KW];
  s->v[SH] = s->v[SW] = s->v[DH] = s->v[DW] = 1;
  s->v[PT] = s->v[PL] = s->v[PB] = s->v[PR] = 0;
  return check_shape(c, s);
}

static napi_value js_bconv2d_packed_kernel_bytes(napi_env env, napi_callback_info info) {
  call_t c;
  shape_t s;
  if (!begin(&c, env, info, "bconv2dPackedKernelBytes", 5, 0) || !kernel_shape(&c, 0, &s)) return NULL;
  return num(env, (double)sofar_bconv2d_packed_kernel_bytes(s.v[COUT], s.v[CIN], s.v[KH], s.v[KW], s.v[GROUPS]));
}

static int bkernel_bytes(call_t *c, const shape_t *s, uint64_t *out) {
  uint64_t b = (uint64_t)s->v[COUT];
  return mul_ok(c, &b, (uint64_t)s->v[KH] * (uint64_t)s->v[KW]) &&
         mul_ok(c, &b, (uint64_t)sofar_packed_words(s->v[CIN] / s->v[GROUPS], 1) * 8) && (*out = b, 1);
}

static napi_value js_bconv2d_pack_kernel(napi_env env, napi_callback_info info) {
  call_t c;
  shape_t s;
  void *k, *pk;
  uint64_t kb;
  if (!begin(&c, env, info, "bconv2dPackKernel", 8, 1) || !kernel_shape(&c, 3, &s) || !bkernel_bytes(&c, &s, &kb) ||
      !ptr_arg(&c, 1, "kernel", kb, 8, 0, &k) ||
      !ptr_arg(&c, 2, "packed",
               sofar_bconv2d_packed_kernel_bytes(s.v[COUT], s.v[CIN], s.v[KH], s.v[KW], s.v[GROUPS]), 8, 0, &pk))
    return NULL;
  sofar_bconv2d_pack_kernel((const uint64_t *)k, pk, s.v[COUT], s.v[CIN], s.v[KH], s.v[KW], s.v[GROUPS]);
  return undef(env);
}

/*
 * bconv2d(buf, x, k, mul, bias, res, y, yPacked, scratch, 16 shape ints, padValue, yStride, yPackGroups);
 * bconv2dPrepacked: the same with the packed kernel; bconv2dPrepackedPost: alpha and post after res.
 */
enum { BCONV_PLAIN, BCONV_PREPACKED, BCONV_POST };
static napi_value bconv2d_common(napi_env env, napi_callback_info info, int mode) {
  static const char *const names[] = {"bconv2d", "bconv2dPrepacked", "bconv2dPrepackedPost"};
  call_t c;
  shape_t s;
  int pad_value, ys, ypg;
  const int prepacked = mode != BCONV_PLAIN;
  const size_t e = mode == BCONV_POST ? 2 : 0; /* arguments after res move by the two of alpha and post */
  if (!begin(&c, env, info, names[mode], 9 + e + NSHAPE + 3, 1) || !conv_shape(&c, 9 + e, &s) ||
      !int_arg(&c, 9 + e + NSHAPE, "padValue", -1, 1, &pad_value) ||
      !stride_arg(&c, 9 + e + NSHAPE + 1, "yStride", s.v[COUT], &ys) ||
      !int_arg(&c, 9 + e + NSHAPE + 2, "yPackGroups", 0, MAX_DIM, &ypg))
    return NULL;
  const int *v = s.v;
  uint64_t xb = (uint64_t)v[N] * (uint64_t)v[H], kb, yb, ypb = s.pixels;
  if (!mul_ok(&c, &xb, (uint64_t)v[W]) || !mul_ok(&c, &xb, (uint64_t)sofar_packed_words(v[CIN], v[GROUPS]) * 8) ||
      !strided_bytes(&c, s.pixels, (uint64_t)ys, (uint64_t)v[COUT], 4, &yb))
    return NULL;
  if (prepacked) kb = sofar_bconv2d_packed_kernel_bytes(v[COUT], v[CIN], v[KH], v[KW], v[GROUPS]);
  else if (!bkernel_bytes(&c, &s, &kb)) return NULL;
  void *x, *k, *mul, *bias, *res, *alpha = NULL, *post = NULL, *y, *yp, *scratch;
  const uint64_t cb = (uint64_t)v[COUT] * 4;
  if (!ptr_arg(&c, 1, "x", xb, 8, 0, &x) || !ptr_arg(&c, 2, prepacked ? "packedKernel" : "kernel", kb, 8, 0, &k) ||
      !ptr_arg(&c, 3, "multiplier", cb, 4, 1, &mul) || !ptr_arg(&c, 4, "bias", cb, 4, 1, &bias) ||
      !ptr_arg(&c, 5, "residual", yb, 4, 1, &res) ||
      (e && (!ptr_arg(&c, 6, "alpha", cb, 4, 1, &alpha) || !ptr_arg(&c, 7, "post", cb, 4, 1, &post))) ||
      !ptr_arg(&c, 6 + e, "y", yb, 4, 1, &y))
    return NULL;
  double ypoff;
  if (!number_arg(&c, 7 + e, "yPacked", &ypoff)) return NULL;
  if (ypoff != -1) {
    if (ypg < 1 || v[COUT] % ypg) return fail(&c, 1, "yPackGroups %d must be >= 1 and divide cout %d", ypg, v[COUT]);
    if (!mul_ok(&c, &ypb, (uint64_t)sofar_packed_words(v[COUT], ypg) * 8)) return NULL;
  }
  if (!ptr_arg(&c, 7 + e, "yPacked", ypb, 8, 1, &yp)) return NULL;
  if (!y && !yp) return fail(&c, 1, "needs y or yPacked (both are -1)");
  const size_t sb = sofar_bconv2d_scratch_bytes(v[N], v[H], v[W], v[CIN], v[COUT], v[KH], v[KW], v[SH], v[SW], v[PT],
                                                v[PL], v[PB], v[PR], v[DH], v[DW], v[GROUPS]);
  if (!ptr_arg(&c, 8 + e, "scratch", sb, 8, 0, &scratch)) return NULL;
  const range_t others[] = {{"x", x, xb}, {prepacked ? "packedKernel" : "kernel", k, kb}, {"multiplier", mul, cb},
                            {"bias", bias, cb}, {"residual", res, yb}, {"alpha", alpha, cb}, {"post", post, cb},
                            {"y", y, yb}, {"yPacked", yp, ypb}};
  if (!scratch_disjoint(&c, scratch, sb, others, sizeof others / sizeof others[0])) return NULL;
  if (mode == BCONV_POST)
    sofar_bconv2d_prepacked_post((const uint64_t *)x, k, (const float *)mul, (const float *)bias, (const float *)res,
                                 (const float *)alpha, (const float *)post, (float *)y, (uint64_t *)yp, scratch, v[N],
                                 v[H], v[W], v[CIN], v[COUT], v[KH], v[KW], v[SH], v[SW], v[PT], v[PL], v[PB], v[PR],
                                 v[DH], v[DW], v[GROUPS], pad_value, ys, yp ? ypg : 1);
  else if (prepacked)
    sofar_bconv2d_prepacked((const uint64_t *)x, k, (const float *)mul, (const float *)bias, (const float *)res,
                            (float *)y, (uint64_t *)yp, scratch, v[N], v[H], v[W], v[CIN], v[COUT], v[KH], v[KW],
                            v[SH], v[SW], v[PT], v[PL], v[PB], v[PR], v[DH], v[DW], v[GROUPS], pad_value, ys,
                            yp ? ypg : 1);
  else
    sofar_bconv2d((const uint64_t *)x, (const uint64_t *)k, (const float *)mul, (const float *)bias,
                  (const float *)res, (float *)y, (uint64_t *)yp, scratch, v[N], v[H], v[W], v[CIN], v[COUT], v[KH],
                  v[KW], v[SH], v[SW], v[PT], v[PL], v[PB], v[PR], v[DH], v[DW], v[GROUPS], pad_value, ys,
                  yp ? ypg : 1);
  return undef(env);
}
static napi_value js_bconv2d(napi_env env, napi_callback_info info) { return bconv2d_common(env, info, BCONV_PLAIN); }
static napi_value js_bconv2d_prepacked(napi_env env, napi_callback_info info) {
  return bconv2d_common(env, info, BCONV_PREPACKED);
}
static napi_value js_bconv2d_prepacked_post(napi_env env, napi_callback_info info) {
  return bconv2d_common(env, info, BCONV_POST);
}

/*
 * bconv2dEpilogue(buf, x, packedKernel, params, res, y, yPacked, scratch, 16 shape ints, padValue, yStride,
 * residualStride, yPackedStride, ops, yPackGroups): sofar_bconv2d_epilogue.
 * bconv2dEpiloguePack2(buf, x, packedKernel, params, res, y, yPacked, pack2X, pack2Scale, pack2Shift, pack2Y,
 * scratch, 16 shape ints, the same six, pack2Channels, pack2XStride): sofar_bconv2d_epilogue_pack2.
 * bconv2dEpilogueRes2(buf, x, packedKernel, params, res, y, yPacked, res2, scratch, 16 shape ints, the same six,
 * residual2Stride): sofar_bconv2d_epilogue_res2.
 */
enum { EPI_PLAIN, EPI_PACK2, EPI_RES2 };
static napi_value bconv2d_epilogue_common(napi_env env, napi_callback_info info, int mode) {
  call_t c;
  shape_t s;
  int pad_value, ys, rs, yps, ops, ypg, p2c = 0, p2s = 0, r2s = 0;
  const int pack2 = mode == EPI_PACK2, res2_mode = mode == EPI_RES2;
  const size_t e = pack2 ? 4 : res2_mode ? 1 : 0; /* the pack2 pointers, or res2, come before scratch */
  const size_t at = 8 + e + NSHAPE; /* the ints after the shape */
  const char *name = pack2 ? "bconv2dEpiloguePack2" : res2_mode ? "bconv2dEpilogueRes2" : "bconv2dEpilogue";
  if (!begin(&c, env, info, name, at + 6 + (pack2 ? 2 : res2_mode ? 1 : 0), 1) ||
      !conv_shape(&c, 8 + e, &s) || !int_arg(&c, at, "padValue", -1, 1, &pad_value) ||
      !stride_arg(&c, at + 1, "yStride", s.v[COUT], &ys) || !int_arg(&c, at + 2, "residualStride", 0, MAX_DIM, &rs) ||
      !int_arg(&c, at + 3, "yPackedStride", 0, MAX_DIM, &yps) || !int_arg(&c, at + 4, "ops", 0, 4095, &ops) ||
      !int_arg(&c, at + 5, "yPackGroups", 0, MAX_DIM, &ypg) ||
      (pack2 && (!int_arg(&c, at + 6, "pack2Channels", 1, MAX_DIM, &p2c) ||
                 !int_arg(&c, at + 7, "pack2XStride", 1, MAX_DIM, &p2s))) ||
      (res2_mode && !int_arg(&c, at + 6, "residual2Stride", 0, MAX_DIM, &r2s)))
    return NULL;
  if (rs == 0) rs = ys; /* 0: the residual has y's stride */
  if (r2s == 0) r2s = ys;
  if (r2s < s.v[COUT]) return fail(&c, 1, "residual2Stride must be 0 or >= the channel count %d, got %d", s.v[COUT], r2s);
  if (rs < s.v[COUT]) return fail(&c, 1, "residualStride must be 0 or >= the channel count %d, got %d", s.v[COUT], rs);
  if (pack2 && p2s < p2c) return fail(&c, 1, "pack2XStride %d must be >= pack2Channels %d", p2s, p2c);
  const int *v = s.v;
  const int pool_out = (ops & SOFAR_EPI_POOL2_OUT) != 0, halves = ops & (SOFAR_EPI_PACK_LOW32 | SOFAR_EPI_PACK_HIGH32);
  if (pool_out) {
    if (v[KH] != 1 || v[KW] != 1 || v[SH] != 1 || v[SW] != 1 || v[PT] || v[PL] || v[PB] || v[PR])
      return fail(&c, 1, "ops pool the output (SOFAR_EPI_POOL2_OUT): the conv must be 1x1, stride 1, without padding");
    if (v[H] % 2 || v[W] % 2) return fail(&c, 1, "ops pool the output: h and w must be even, got %dx%d", v[H], v[W]);
    if (ops & SOFAR_EPI_RESIDUAL_POOL2) return fail(&c, 1, "ops pool the output and the residual: one of them at most");
    if (pack2) return fail(&c, 1, "ops pool the output: no second packing (it reads the full-size output)");
    if (res2_mode) return fail(&c, 1, "ops pool the output: no second residual");
  }
  if (halves) {
    if (!pool_out) return fail(&c, 1, "ops pack into half words (SOFAR_EPI_PACK_LOW32/HIGH32) only with SOFAR_EPI_POOL2_OUT");
    if (halves == (SOFAR_EPI_PACK_LOW32 | SOFAR_EPI_PACK_HIGH32)) return fail(&c, 1, "ops name both halves of the packed words");
    if (v[COUT] > 32 || ypg != 1) return fail(&c, 1, "half-word packing takes at most 32 channels in one group (cout %d, yPackGroups %d)", v[COUT], ypg);
  }
  /* a pooled output (SOFAR_EPI_POOL2_OUT) has a quarter of the pixels */
  const uint64_t y_pixels = pool_out ? (uint64_t)v[N] * (uint64_t)(v[H] / 2) * (uint64_t)(v[W] / 2) : s.pixels;
  uint64_t xb = (uint64_t)v[N] * (uint64_t)v[H], yb, rb, ypb = s.pixels, p2xb = 0, p2yb = 0, r2b = 0;
  if (!mul_ok(&c, &xb, (uint64_t)v[W]) || !mul_ok(&c, &xb, (uint64_t)sofar_packed_words(v[CIN], v[GROUPS]) * 8) ||
      !strided_bytes(&c, y_pixels, (uint64_t)ys, (uint64_t)v[COUT], 4, &yb) ||
      /* a pooled residual (SOFAR_EPI_RESIDUAL_POOL2) has the input's pixels */
      !strided_bytes(&c, ops & SOFAR_EPI_RESIDUAL_POOL2 ? (uint64_t)v[N] * (uint64_t)v[H] * (uint64_t)v[W] : s.pixels,
                     (uint64_t)rs, (uint64_t)v[COUT], 4, &rb) ||
      (pack2 && !strided_bytes(&c, s.pixels, (uint64_t)p2s, (uint64_t)p2c, 4, &p2xb)) ||
      (res2_mode && !strided_bytes(&c, s.pixels, (uint64_t)r2s, (uint64_t)v[COUT], 4, &r2b)))
    return NULL;
  p2yb = s.pixels;
  if (pack2 && !mul_ok(&c, &p2yb, (uint64_t)sofar_packed_words(p2c, 1) * 8)) return NULL;
  const uint64_t kb = sofar_bconv2d_packed_kernel_bytes(v[COUT], v[CIN], v[KH], v[KW], v[GROUPS]);
  const uint64_t pb = (uint64_t)__builtin_popcount((unsigned)ops & 255u & ~(unsigned)SOFAR_EPI_RESIDUAL_AFTER) * (uint64_t)v[COUT] * 4;
  const uint64_t p2cb = (uint64_t)p2c * 4;
  void *x, *k, *params, *res, *y, *yp, *p2x = NULL, *p2scale = NULL, *p2shift = NULL, *p2y = NULL, *res2 = NULL, *scratch;
  if (!ptr_arg(&c, 1, "x", xb, 8, 0, &x) || !ptr_arg(&c, 2, "packedKernel", kb, 8, 0, &k) ||
      !ptr_arg(&c, 3, "params", pb ? pb : 4, 4, 1, &params) || !ptr_arg(&c, 4, "residual", rb, 4, 1, &res) ||
      !ptr_arg(&c, 5, "y", yb, 4, 1, &y))
    return NULL;
  if (pb && !params) return fail(&c, 1, "ops name per-channel vectors but params is -1");
  double ypoff;
  if (!number_arg(&c, 6, "yPacked", &ypoff)) return NULL;
  if (ypoff != -1) {
    if (ypg < 1 || v[COUT] % ypg) return fail(&c, 1, "yPackGroups %d must be >= 1 and divide cout %d", ypg, v[COUT]);
    const int own = sofar_packed_words(v[COUT], ypg);
    if (yps == 0) yps = own;
    if (yps < own) return fail(&c, 1, "yPackedStride must be 0 or >= the %d words of a pixel, got %d", own, yps);
    /* (pixels - 1) * stride + own words */
    ypb = ((uint64_t)s.pixels - 1) * (uint64_t)yps * 8 + (uint64_t)own * 8;
  }
  if (!ptr_arg(&c, 6, "yPacked", ypb, 8, 1, &yp)) return NULL;
  if (!y && !yp) return fail(&c, 1, "needs y or yPacked (both are -1)");
  if (pool_out && !y) return fail(&c, 1, "ops pool the output, but y is -1");
  if (halves && !yp) return fail(&c, 1, "ops pack into half words, but yPacked is -1");
  if (ops & SOFAR_EPI_RESIDUAL_POOL2) {
    if (!res) return fail(&c, 1, "ops pool the residual, but residual is -1");
    if (2 * s.ho > (uint64_t)v[H] || 2 * s.wo > (uint64_t)v[W])
      return fail(&c, 1, "a pooled residual needs 2*ho <= h and 2*wo <= w (output %llux%llu, input %dx%d)",
                  (unsigned long long)s.ho, (unsigned long long)s.wo, v[H], v[W]);
  }
  if (pack2 && (!ptr_arg(&c, 7, "pack2X", p2xb, 4, 0, &p2x) || !ptr_arg(&c, 8, "pack2Scale", p2cb, 4, 1, &p2scale) ||
                !ptr_arg(&c, 9, "pack2Shift", p2cb, 4, 1, &p2shift) || !ptr_arg(&c, 10, "pack2Y", p2yb, 8, 0, &p2y)))
    return NULL;
  if (res2_mode && !ptr_arg(&c, 7, "residual2", r2b, 4, 0, &res2)) return NULL;
  const size_t sb = sofar_bconv2d_scratch_bytes(v[N], v[H], v[W], v[CIN], v[COUT], v[KH], v[KW], v[SH], v[SW], v[PT],
                                                v[PL], v[PB], v[PR], v[DH], v[DW], v[GROUPS]);
  if (!ptr_arg(&c, 7 + e, "scratch", sb, 8, 0, &scratch)) return NULL;
  const range_t others[] = {{"x", x, xb}, {"packedKernel", k, kb}, {"params", params, pb},
                            {"residual", res, rb}, {"y", y, yb}, {"yPacked", yp, ypb}, {"pack2X", p2x, p2xb},
                            {"pack2Scale", p2scale, p2cb}, {"pack2Shift", p2shift, p2cb}, {"pack2Y", p2y, p2yb},
                            {"residual2", res2, r2b}};
  if (!scratch_disjoint(&c, scratch, sb, others, sizeof others / sizeof others[0])) return NULL;
  if (res2_mode) {
    sofar_bconv2d_epilogue_res2((const uint64_t *)x, k, (const float *)params, (const float *)res, (float *)y,
                                (uint64_t *)yp, (const float *)res2, scratch, v[N], v[H], v[W], v[CIN], v[COUT], v[KH],
                                v[KW], v[SH], v[SW], v[PT], v[PL], v[PB], v[PR], v[DH], v[DW], v[GROUPS], pad_value, ys,
                                rs, yp ? yps : 0, ops, yp ? ypg : 1, r2s);
    return undef(env);
  }
  sofar_bconv2d_epilogue_pack2((const uint64_t *)x, k, (const float *)params, (const float *)res, (float *)y,
                               (uint64_t *)yp, (const float *)p2x, (const float *)p2scale, (const float *)p2shift,
                               (uint64_t *)p2y, scratch, v[N], v[H], v[W], v[CIN], v[COUT], v[KH], v[KW], v[SH], v[SW],
                               v[PT], v[PL], v[PB], v[PR], v[DH], v[DW], v[GROUPS], pad_value, ys, rs, yp ? yps : 0,
                               ops, yp ? ypg : 1, p2c, p2s);
  return undef(env);
}
static napi_value js_bconv2d_epilogue(napi_env env, napi_callback_info info) {
  return bconv2d_epilogue_common(env, info, EPI_PLAIN);
}
static napi_value js_bconv2d_epilogue_pack2(napi_env env, napi_callback_info info) {
  return bconv2d_epilogue_common(env, info, EPI_PACK2);
}
static napi_value js_bconv2d_epilogue_res2(napi_env env, napi_callback_info info) {
  return bconv2d_epilogue_common(env, info, EPI_RES2);
}

/* ---- float ------------------------------------------------------------------------------------------- */

static napi_value js_conv2d_f32_packed_weights_bytes(napi_env env, napi_callback_info info) {
  call_t c;
  shape_t s;
  if (!begin(&c, env, info, "conv2dF32PackedWeightsBytes", 5, 0) || !kernel_shape(&c, 0, &s)) return NULL;
  return num(env, (double)sofar_conv2d_f32_packed_weights_bytes(s.v[COUT], s.v[CIN], s.v[KH], s.v[KW], s.v[GROUPS]));
}

static napi_value js_conv2d_f32_scratch_bytes(napi_env env, napi_callback_info info) {
  call_t c;
  shape_t s;
  if (!begin(&c, env, info, "conv2dF32ScratchBytes", NSHAPE, 0) || !conv_shape(&c, 0, &s)) return NULL;
  const int *v = s.v;
  return num(env, (double)sofar_conv2d_f32_scratch_bytes(v[N], v[H], v[W], v[CIN], v[COUT], v[KH], v[KW], v[SH], v[SW],
                                                         v[PT], v[PL], v[PB], v[PR], v[DH], v[DW], v[GROUPS]));
}

static napi_value js_conv2d_f32_pack_weights(napi_env env, napi_callback_info info) {
  call_t c;
  shape_t s;
  void *w, *pw;
  if (!begin(&c, env, info, "conv2dF32PackWeights", 8, 1) || !kernel_shape(&c, 3, &s)) return NULL;
  uint64_t wb = (uint64_t)s.v[COUT] * (uint64_t)(s.v[CIN] / s.v[GROUPS]);
  if (!mul_ok(&c, &wb, (uint64_t)s.v[KH] * (uint64_t)s.v[KW] * 4) || !ptr_arg(&c, 1, "w", wb, 4, 0, &w) ||
      !ptr_arg(&c, 2, "packed",
               sofar_conv2d_f32_packed_weights_bytes(s.v[COUT], s.v[CIN], s.v[KH], s.v[KW], s.v[GROUPS]), 4, 0, &pw))
    return NULL;
  sofar_conv2d_f32_pack_weights((const float *)w, (float *)pw, s.v[COUT], s.v[CIN], s.v[KH], s.v[KW], s.v[GROUPS]);
  return undef(env);
}

/* A float conv's input bytes (NHWC, s's input size) and output bytes (s's pixels, ys floats apart). */
static int float_conv_bytes(call_t *c, const shape_t *s, int ys, uint64_t *xb, uint64_t *yb) {
  const int *v = s->v;
  *xb = (uint64_t)v[N] * (uint64_t)v[H];
  return mul_ok(c, xb, (uint64_t)v[W]) && mul_ok(c, xb, (uint64_t)v[CIN] * 4) &&
         strided_bytes(c, s->pixels, (uint64_t)ys, (uint64_t)v[COUT], 4, yb);
}

/* The 5 ints (n h w cin cout) of a 1x1 conv over a 2x2 /2 average pool at argv[first..]: s gets the pool's
   window, so that ho, wo and pixels are the pooled map's. */
static int avgpool2_shape(call_t *c, size_t first, shape_t *s) {
  static const int idx[5] = {N, H, W, CIN, COUT};
  for (int k = 0; k < 5; k++)
    if (!int_arg(c, first + (size_t)k, shape_names[idx[k]], idx[k] == H || idx[k] == W ? 2 : 1, MAX_DIM, &s->v[idx[k]]))
      return 0;
  s->v[KH] = s->v[KW] = s->v[SH] = s->v[SW] = 2;
  s->v[PT] = s->v[PL] = s->v[PB] = s->v[PR] = 0;
  s->v[DH] = s->v[DW] = s->v[GROUPS] = 1;
  return check_shape(c, s);
}

static napi_value js_conv2d_f32_avgpool2_scratch_bytes(napi_env env, napi_callback_info info) {
  call_t c;
  shape_t s;
  if (!begin(&c, env, info, "conv2dF32Avgpool2ScratchBytes", 5, 0) || !avgpool2_shape(&c, 0, &s)) return NULL;
  const int *v = s.v;
  return num(env, (double)sofar_conv2d_f32_avgpool2_scratch_bytes(v[N], v[H], v[W], v[CIN], v[COUT]));
}

/* conv2dF32Avgpool2(buf, x, pw, bias, res, y, scratch, n, h, w, cin, cout, yStride, relu) */
static napi_value js_conv2d_f32_avgpool2(napi_env env, napi_callback_info info) {
  call_t c;
  shape_t s;
  int ys, relu;
  if (!begin(&c, env, info, "conv2dF32Avgpool2", 14, 1) || !avgpool2_shape(&c, 7, &s) ||
      !stride_arg(&c, 12, "yStride", s.v[COUT], &ys) || !int_arg(&c, 13, "relu", 0, 1, &relu))
    return NULL;
  const int *v = s.v;
  uint64_t xb, yb;
  if (!float_conv_bytes(&c, &s, ys, &xb, &yb)) return NULL;
  const uint64_t pwb = sofar_conv2d_f32_packed_weights_bytes(v[COUT], v[CIN], 1, 1, 1);
  const uint64_t sb = sofar_conv2d_f32_avgpool2_scratch_bytes(v[N], v[H], v[W], v[CIN], v[COUT]);
  void *x, *pw, *bias, *res, *y, *scratch;
  if (!ptr_arg(&c, 1, "x", xb, 4, 0, &x) || !ptr_arg(&c, 2, "packedWeights", pwb, 4, 0, &pw) ||
      !ptr_arg(&c, 3, "bias", (uint64_t)v[COUT] * 4, 4, 1, &bias) || !ptr_arg(&c, 4, "residual", yb, 4, 1, &res) ||
      !ptr_arg(&c, 5, "y", yb, 4, 0, &y) || !ptr_arg(&c, 6, "scratch", sb, 8, 0, &scratch))
    return NULL;
  {
    const range_t others[] = {{"x", x, xb}, {"packedWeights", pw, pwb}, {"bias", bias, (uint64_t)v[COUT] * 4},
                              {"residual", res, yb}, {"y", y, yb}};
    if (!scratch_disjoint(&c, scratch, sb, others, sizeof others / sizeof others[0])) return NULL;
  }
  sofar_conv2d_f32_avgpool2((const float *)x, (const float *)pw, (const float *)bias, (const float *)res, (float *)y,
                            scratch, v[N], v[H], v[W], v[CIN], v[COUT], ys, relu);
  return undef(env);
}

/* conv2dF32(buf, x, pw, bias, res, y, scratch, 16 shape ints, yStride, relu) */
static napi_value js_conv2d_f32(napi_env env, napi_callback_info info) {
  call_t c;
  shape_t s;
  int ys, relu;
  if (!begin(&c, env, info, "conv2dF32", 7 + NSHAPE + 2, 1) || !conv_shape(&c, 7, &s) ||
      !stride_arg(&c, 7 + NSHAPE, "yStride", s.v[COUT], &ys) || !int_arg(&c, 7 + NSHAPE + 1, "relu", 0, 1, &relu))
    return NULL;
  const int *v = s.v;
  uint64_t xb, yb;
  if (!float_conv_bytes(&c, &s, ys, &xb, &yb)) return NULL;
  void *x, *pw, *bias, *res, *y, *scratch;
  if (!ptr_arg(&c, 1, "x", xb, 4, 0, &x) ||
      !ptr_arg(&c, 2, "packedWeights",
               sofar_conv2d_f32_packed_weights_bytes(v[COUT], v[CIN], v[KH], v[KW], v[GROUPS]), 4, 0, &pw) ||
      !ptr_arg(&c, 3, "bias", (uint64_t)v[COUT] * 4, 4, 1, &bias) || !ptr_arg(&c, 4, "residual", yb, 4, 1, &res) ||
      !ptr_arg(&c, 5, "y", yb, 4, 0, &y) ||
      !ptr_arg(&c, 6, "scratch",
               sofar_conv2d_f32_scratch_bytes(v[N], v[H], v[W], v[CIN], v[COUT], v[KH], v[KW], v[SH], v[SW], v[PT],
                                              v[PL], v[PB], v[PR], v[DH], v[DW], v[GROUPS]),
               8, 0, &scratch))
    return NULL;
  {
    const range_t others[] = {
        {"x", x, xb}, {"packedWeights", pw, sofar_conv2d_f32_packed_weights_bytes(v[COUT], v[CIN], v[KH], v[KW], v[GROUPS])},
        {"bias", bias, (uint64_t)v[COUT] * 4}, {"residual", res, yb}, {"y", y, yb}};
    if (!scratch_disjoint(&c, scratch,
                          sofar_conv2d_f32_scratch_bytes(v[N], v[H], v[W], v[CIN], v[COUT], v[KH], v[KW], v[SH], v[SW],
                                                         v[PT], v[PL], v[PB], v[PR], v[DH], v[DW], v[GROUPS]),
                          others, sizeof others / sizeof others[0]))
      return NULL;
  }
  sofar_conv2d_f32((const float *)x, (const float *)pw, (const float *)bias, (const float *)res, (float *)y, scratch,
                   v[N], v[H], v[W], v[CIN], v[COUT], v[KH], v[KW], v[SH], v[SW], v[PT], v[PL], v[PB], v[PR], v[DH],
                   v[DW], v[GROUPS], ys, relu);
  return undef(env);
}

/* The 8 pool ints (kh kw sh sw pt pl pb pr) at argv[first..], over the conv's output (s: the conv's shape). */
static int conv_pool_shape(call_t *c, size_t first, const shape_t *s, shape_t *ps) {
  static const int idx[8] = {KH, KW, SH, SW, PT, PL, PB, PR};
  if (s->ho > MAX_DIM || s->wo > MAX_DIM) return fail(c, 1, "the conv's output is too large to pool"), 0;
  ps->v[N] = s->v[N], ps->v[H] = (int)s->ho, ps->v[W] = (int)s->wo, ps->v[CIN] = ps->v[COUT] = s->v[COUT];
  ps->v[DH] = ps->v[DW] = ps->v[GROUPS] = 1;
  for (int k = 0; k < 8; k++) {
    const int q = idx[k];
    long long lo = q == PT || q == PL || q == PB || q == PR ? 0 : 1;
    char what[16];
    snprintf(what, sizeof what, "pool %s", shape_names[q]);
    if (!int_arg(c, first + (size_t)k, what, lo, MAX_KDIM, &ps->v[q])) return 0;
  }
  return check_shape(c, ps);
}

static size_t conv_pool_scratch(const int *v, const int *p) {
  return sofar_conv2d_f32_maxpool_scratch_bytes(v[N], v[H], v[W], v[CIN], v[COUT], v[KH], v[KW], v[SH], v[SW], v[PT],
                                                v[PL], v[PB], v[PR], v[DH], v[DW], v[GROUPS], p[KH], p[KW], p[SH],
                                                p[SW], p[PT], p[PL], p[PB], p[PR]);
}

/* The conv's shape and the pool's (after `between` other ints), and whether the fused kernel takes them. */
static int conv_pool_args(call_t *c, size_t first, shape_t *s, shape_t *ps, size_t between) {
  if (!conv_shape(c, first, s) || !conv_pool_shape(c, first + NSHAPE + between, s, ps)) return 0;
  if (conv_pool_scratch(s->v, ps->v) == 0)
    return fail(c, 1, "only a conv of at most 4 input channels, groups 1 and no dilation fuses its max pool"), 0;
  return 1;
}

static napi_value js_conv2d_f32_maxpool_scratch_bytes(napi_env env, napi_callback_info info) {
  call_t c;
  shape_t s, ps;
  if (!begin(&c, env, info, "conv2dF32MaxpoolScratchBytes", NSHAPE + 8, 0) || !conv_pool_args(&c, 0, &s, &ps, 0))
    return NULL;
  return num(env, (double)conv_pool_scratch(s.v, ps.v));
}

/*
 * conv2dF32Maxpool(buf, x, pw, bias, alpha, y, scratch, 16 conv shape ints, relu, xNchw, pool kh kw sh sw pt pl pb pr)
 * and conv2dF32MaxpoolPack(buf, x, pw, bias, alpha, y, yPacked, packScale, packShift, scratch, the same ints): the
 * latter also packs y's signs (of y*packScale + packShift where given).
 */
static napi_value conv_pool_call(napi_env env, napi_callback_info info, int packs) {
  const char *name = packs ? "conv2dF32MaxpoolPack" : "conv2dF32Maxpool";
  const size_t first = packs ? 10 : 7; /* the shape ints' index */
  call_t c;
  shape_t s, ps;
  int relu, nchw;
  if (!begin(&c, env, info, name, first + NSHAPE + 2 + 8, 1) || !conv_pool_args(&c, first, &s, &ps, 2) ||
      !int_arg(&c, first + NSHAPE, "relu", 0, 1, &relu) || !int_arg(&c, first + NSHAPE + 1, "xNchw", 0, 1, &nchw))
    return NULL;
  const int *v = s.v;
  uint64_t xb = (uint64_t)v[N] * (uint64_t)v[H], yb = ps.pixels, ypb = ps.pixels;
  if (!mul_ok(&c, &xb, (uint64_t)v[W]) || !mul_ok(&c, &xb, (uint64_t)v[CIN] * 4) ||
      !mul_ok(&c, &yb, (uint64_t)v[COUT] * 4) || !mul_ok(&c, &ypb, ((uint64_t)v[COUT] + 63) / 64 * 8))
    return NULL;
  const uint64_t pwb = sofar_conv2d_f32_packed_weights_bytes(v[COUT], v[CIN], v[KH], v[KW], v[GROUPS]);
  const uint64_t sb = conv_pool_scratch(v, ps.v), cb = (uint64_t)v[COUT] * 4;
  void *x, *pw, *bias, *alpha, *y, *scratch, *yp = NULL, *pscale = NULL, *pshift = NULL;
  if (!ptr_arg(&c, 1, "x", xb, 4, 0, &x) || !ptr_arg(&c, 2, "packedWeights", pwb, 4, 0, &pw) ||
      !ptr_arg(&c, 3, "bias", cb, 4, 1, &bias) || !ptr_arg(&c, 4, "alpha", cb, 4, 1, &alpha) ||
      !ptr_arg(&c, 5, "y", yb, 4, 0, &y) ||
      (packs && (!ptr_arg(&c, 6, "yPacked", ypb, 8, 0, &yp) || !ptr_arg(&c, 7, "packScale", cb, 4, 1, &pscale) ||
                 !ptr_arg(&c, 8, "packShift", cb, 4, 1, &pshift))) ||
      !ptr_arg(&c, first - 1, "scratch", sb, 8, 0, &scratch))
    return NULL;
  {
    const range_t others[] = {{"x", x, xb}, {"packedWeights", pw, pwb}, {"bias", bias, cb}, {"alpha", alpha, cb},
                              {"y", y, yb}, {"yPacked", yp, packs ? ypb : 0}, {"packScale", pscale, cb},
                              {"packShift", pshift, cb}};
    if (!scratch_disjoint(&c, scratch, sb, others, sizeof others / sizeof others[0])) return NULL;
  }
  const int *p = ps.v;
  if (packs)
    sofar_conv2d_f32_maxpool_pack((const float *)x, (const float *)pw, (const float *)bias, (const float *)alpha,
                                  (float *)y, (uint64_t *)yp, (const float *)pscale, (const float *)pshift, scratch,
                                  v[N], v[H], v[W], v[CIN], v[COUT], v[KH], v[KW], v[SH], v[SW], v[PT], v[PL], v[PB],
                                  v[PR], v[DH], v[DW], v[GROUPS], relu, nchw, p[KH], p[KW], p[SH], p[SW], p[PT], p[PL],
                                  p[PB], p[PR]);
  else
    sofar_conv2d_f32_maxpool((const float *)x, (const float *)pw, (const float *)bias, (const float *)alpha,
                             (float *)y, scratch, v[N], v[H], v[W], v[CIN], v[COUT], v[KH], v[KW], v[SH], v[SW], v[PT],
                             v[PL], v[PB], v[PR], v[DH], v[DW], v[GROUPS], relu, nchw, p[KH], p[KW], p[SH], p[SW],
                             p[PT], p[PL], p[PB], p[PR]);
  return undef(env);
}

static napi_value js_conv2d_f32_maxpool(napi_env env, napi_callback_info info) { return conv_pool_call(env, info, 0); }
static napi_value js_conv2d_f32_maxpool_pack(napi_env env, napi_callback_info info) {
  return conv_pool_call(env, info, 1);
}

static napi_value js_dense_f32(napi_env env, napi_callback_info info) {
  call_t c;
  int n, in, out;
  void *x, *w, *bias, *y;
  if (!begin(&c, env, info, "denseF32", 8, 1) || !int_arg(&c, 5, "n", 1, MAX_DIM, &n) ||
      !int_arg(&c, 6, "in", 1, MAX_DIM, &in) || !int_arg(&c, 7, "out", 1, MAX_DIM, &out))
    return NULL;
  uint64_t xb = (uint64_t)n, wb = (uint64_t)in, yb = (uint64_t)n;
  if (!mul_ok(&c, &xb, (uint64_t)in * 4) || !mul_ok(&c, &wb, (uint64_t)out * 4) || !mul_ok(&c, &yb, (uint64_t)out * 4) ||
      !ptr_arg(&c, 1, "x", xb, 4, 0, &x) || !ptr_arg(&c, 2, "w", wb, 4, 0, &w) ||
      !ptr_arg(&c, 3, "bias", (uint64_t)out * 4, 4, 1, &bias) || !ptr_arg(&c, 4, "y", yb, 4, 0, &y))
    return NULL;
  sofar_dense_f32((const float *)x, (const float *)w, (const float *)bias, (float *)y, n, in, out);
  return undef(env);
}

typedef void (*pool_fn)(const float *, float *, int, int, int, int, int, int, int, int, int, int, int, int);

static napi_value pool_common(napi_env env, napi_callback_info info, const char *name, pool_fn fn) {
  call_t c;
  shape_t s;
  void *x, *y;
  if (!begin(&c, env, info, name, 15, 1) || !pool_shape(&c, 3, &s)) return NULL;
  const int *v = s.v;
  uint64_t xb = (uint64_t)v[N] * (uint64_t)v[H], yb = s.pixels;
  if (!mul_ok(&c, &xb, (uint64_t)v[W]) || !mul_ok(&c, &xb, (uint64_t)v[CIN] * 4) ||
      !mul_ok(&c, &yb, (uint64_t)v[CIN] * 4) || !ptr_arg(&c, 1, "x", xb, 4, 0, &x) || !ptr_arg(&c, 2, "y", yb, 4, 0, &y))
    return NULL;
  fn((const float *)x, (float *)y, v[N], v[H], v[W], v[CIN], v[KH], v[KW], v[SH], v[SW], v[PT], v[PL], v[PB], v[PR]);
  return undef(env);
}
static napi_value js_maxpool_f32(napi_env env, napi_callback_info info) {
  return pool_common(env, info, "maxpoolF32", sofar_maxpool_f32);
}
static napi_value js_maxpool_relu_f32(napi_env env, napi_callback_info info) {
  return pool_common(env, info, "maxpoolReluF32", sofar_maxpool_relu_f32);
}
static napi_value js_avgpool_f32(napi_env env, napi_callback_info info) {
  return pool_common(env, info, "avgpoolF32", sofar_avgpool_f32);
}

static napi_value js_global_avgpool_f32(napi_env env, napi_callback_info info) {
  call_t c;
  int n, pixels, ch;
  void *x, *y;
  if (!begin(&c, env, info, "globalAvgpoolF32", 6, 1) || !int_arg(&c, 3, "n", 1, MAX_DIM, &n) ||
      !int_arg(&c, 4, "pixels", 1, MAX_DIM, &pixels) || !int_arg(&c, 5, "c", 1, MAX_DIM, &ch))
    return NULL;
  uint64_t xb = (uint64_t)n * (uint64_t)pixels, yb = (uint64_t)n;
  if (!mul_ok(&c, &xb, (uint64_t)ch * 4) || !mul_ok(&c, &yb, (uint64_t)ch * 4) || !ptr_arg(&c, 1, "x", xb, 4, 0, &x) ||
      !ptr_arg(&c, 2, "y", yb, 4, 0, &y))
    return NULL;
  sofar_global_avgpool_f32((const float *)x, (float *)y, n, pixels, ch);
  return undef(env);
}

/* ---- element-wise ------------------------------------------------------------------------------------ */

enum { EW_AFFINE, EW_RELU, EW_PRELU, EW_CLIP, EW_SIGN, EW_COPY, EW_SIGMOID, EW_ROUND, EW_DIV, EW_HEAVISIDE };

/* (buf, x, [p1, [p2,]] y, pixels, c, yStride [, lo, hi]) */
static napi_value rowwise(napi_env env, napi_callback_info info, int op) {
  static const char *const names[] = {"affineF32", "reluF32", "preluF32", "clipF32", "signF32",
                                      "copyF32",   "sigmoidF32", "roundF32", "divF32", "heavisideF32"};
  static const int nparams[] = {2, 0, 1, 0, 0, 0, 0, 0, 1, 0};
  call_t c;
  const size_t np = (size_t)nparams[op], first = 3 + np;
  const size_t argc = first + 3 + (op == EW_CLIP ? 2 : 0);
  int pixels, ch, ys;
  float lo = 0, hi = 0;
  if (!begin(&c, env, info, names[op], argc, 1) || !int_arg(&c, first, "pixels", 1, MAX_DIM * 64, &pixels) ||
      !int_arg(&c, first + 1, "c", 1, MAX_DIM, &ch) || !stride_arg(&c, first + 2, "yStride", ch, &ys))
    return NULL;
  if (op == EW_CLIP && (!float_arg(&c, first + 3, "lo", &lo) || !float_arg(&c, first + 4, "hi", &hi))) return NULL;
  uint64_t xb = (uint64_t)pixels, yb;
  if (!mul_ok(&c, &xb, (uint64_t)ch * 4) || !strided_bytes(&c, (uint64_t)pixels, (uint64_t)ys, (uint64_t)ch, 4, &yb))
    return NULL;
  void *x, *p1 = NULL, *p2 = NULL, *y;
  static const char *const pnames[][2] = {{"scale", "shift"}, {0, 0}, {"alpha", 0}, {0, 0}, {0, 0},
                                          {0, 0},            {0, 0}, {0, 0},       {"divisor", 0}, {0, 0}};
  if (!ptr_arg(&c, 1, "x", xb, 4, 0, &x)) return NULL;
  if (np >= 1 && !ptr_arg(&c, 2, pnames[op][0], (uint64_t)ch * 4, 4, 0, &p1)) return NULL;
  if (np >= 2 && !ptr_arg(&c, 3, pnames[op][1], (uint64_t)ch * 4, 4, 0, &p2)) return NULL;
  if (!ptr_arg(&c, 2 + np, "y", yb, 4, 0, &y)) return NULL;
  const float *xf = (const float *)x;
  float *yf = (float *)y;
  switch (op) {
    case EW_AFFINE: sofar_affine_f32(xf, (const float *)p1, (const float *)p2, yf, pixels, ch, ys); break;
    case EW_RELU: sofar_relu_f32(xf, yf, pixels, ch, ys); break;
    case EW_PRELU: sofar_prelu_f32(xf, (const float *)p1, yf, pixels, ch, ys); break;
    case EW_CLIP: sofar_clip_f32(xf, yf, pixels, ch, ys, lo, hi); break;
    case EW_SIGN: sofar_sign_f32(xf, yf, pixels, ch, ys); break;
    case EW_SIGMOID: sofar_sigmoid_f32(xf, yf, pixels, ch, ys); break;
    case EW_ROUND: sofar_round_f32(xf, yf, pixels, ch, ys); break;
    case EW_DIV: sofar_div_f32(xf, (const float *)p1, yf, pixels, ch, ys); break;
    case EW_HEAVISIDE: sofar_heaviside_f32(xf, yf, pixels, ch, ys); break;
    default: sofar_copy_f32(xf, yf, pixels, ch, ys); break;
  }
  return undef(env);
}
static napi_value js_affine_f32(napi_env e, napi_callback_info i) { return rowwise(e, i, EW_AFFINE); }
static napi_value js_relu_f32(napi_env e, napi_callback_info i) { return rowwise(e, i, EW_RELU); }
static napi_value js_prelu_f32(napi_env e, napi_callback_info i) { return rowwise(e, i, EW_PRELU); }
static napi_value js_clip_f32(napi_env e, napi_callback_info i) { return rowwise(e, i, EW_CLIP); }
static napi_value js_sign_f32(napi_env e, napi_callback_info i) { return rowwise(e, i, EW_SIGN); }
static napi_value js_copy_f32(napi_env e, napi_callback_info i) { return rowwise(e, i, EW_COPY); }
static napi_value js_sigmoid_f32(napi_env e, napi_callback_info i) { return rowwise(e, i, EW_SIGMOID); }
static napi_value js_round_f32(napi_env e, napi_callback_info i) { return rowwise(e, i, EW_ROUND); }
static napi_value js_div_f32(napi_env e, napi_callback_info i) { return rowwise(e, i, EW_DIV); }
static napi_value js_heaviside_f32(napi_env e, napi_callback_info i) { return rowwise(e, i, EW_HEAVISIDE); }

/* copyStridedF32(buf, x, y, pixels, c, xStride, yStride) */
static napi_value js_copy_strided_f32(napi_env env, napi_callback_info info) {
  call_t c;
  int pixels, ch, xs, ys;
  uint64_t xb, yb;
  void *x, *y;
  if (!begin(&c, env, info, "copyStridedF32", 7, 1) || !int_arg(&c, 3, "pixels", 1, MAX_DIM * 64, &pixels) ||
      !int_arg(&c, 4, "c", 1, MAX_DIM, &ch) || !stride_arg(&c, 5, "xStride", ch, &xs) ||
      !stride_arg(&c, 6, "yStride", ch, &ys) ||
      !strided_bytes(&c, (uint64_t)pixels, (uint64_t)xs, (uint64_t)ch, 4, &xb) ||
      !strided_bytes(&c, (uint64_t)pixels, (uint64_t)ys, (uint64_t)ch, 4, &yb) || !ptr_arg(&c, 1, "x", xb, 4, 0, &x) ||
      !ptr_arg(&c, 2, "y", yb, 4, 0, &y))
    return NULL;
  sofar_copy_strided_f32((const float *)x, (float *)y, pixels, ch, xs, ys);
  return undef(env);
}

/* padChannelsF32(buf, x, y, pixels, c, before, after) */
static napi_value js_pad_channels_f32(napi_env env, napi_callback_info info) {
  call_t c;
  int pixels, ch, before, after;
  void *x, *y;
  if (!begin(&c, env, info, "padChannelsF32", 7, 1) || !int_arg(&c, 3, "pixels", 1, MAX_DIM * 64, &pixels) ||
      !int_arg(&c, 4, "c", 1, MAX_DIM, &ch) || !int_arg(&c, 5, "before", 0, MAX_DIM, &before) ||
      !int_arg(&c, 6, "after", 0, MAX_DIM, &after))
    return NULL;
  uint64_t xb = (uint64_t)pixels, yb = (uint64_t)pixels;
  if (!mul_ok(&c, &xb, (uint64_t)ch * 4) || !mul_ok(&c, &yb, ((uint64_t)ch + (uint64_t)before + (uint64_t)after) * 4) ||
      !ptr_arg(&c, 1, "x", xb, 4, 0, &x) || !ptr_arg(&c, 2, "y", yb, 4, 0, &y))
    return NULL;
  sofar_pad_channels_f32((const float *)x, (float *)y, pixels, ch, before, after);
  return undef(env);
}

/* dwconv2dF32(buf, x, w, bias, res, y, n h w c kh kw sh sw pt pl pb pr dh dw, yStride, relu) */
static napi_value js_dwconv2d_f32(napi_env env, napi_callback_info info) {
  static const int idx[14] = {N, H, W, CIN, KH, KW, SH, SW, PT, PL, PB, PR, DH, DW};
  call_t c;
  shape_t s;
  int ys, relu;
  if (!begin(&c, env, info, "dwconv2dF32", 6 + 14 + 2, 1)) return NULL;
  for (int k = 0; k < 14; k++) {
    const int q = idx[k];
    long long lo = 1, hi = MAX_DIM;
    if (q == KH || q == KW || q == SH || q == SW || q == DH || q == DW) hi = MAX_KDIM;
    if (q == PT || q == PL || q == PB || q == PR) lo = 0, hi = MAX_KDIM;
    if (!int_arg(&c, 6 + (size_t)k, q == CIN ? "c" : shape_names[q], lo, hi, &s.v[q])) return NULL;
  }
  s.v[COUT] = s.v[GROUPS] = s.v[CIN];
  if (!check_shape(&c, &s) || !stride_arg(&c, 20, "yStride", s.v[CIN], &ys) || !int_arg(&c, 21, "relu", 0, 1, &relu))
    return NULL;
  const int *v = s.v;
  if ((uint64_t)v[KH] * (uint64_t)v[KW] > SOFAR_DW_MAX_TAPS)
    return fail(&c, 1, "a depthwise kernel has at most %d taps, %dx%d has more", SOFAR_DW_MAX_TAPS, v[KH], v[KW]);
  uint64_t xb = (uint64_t)v[N] * (uint64_t)v[H], wb = (uint64_t)v[KH] * (uint64_t)v[KW], yb;
  void *x, *w, *bias, *res, *y;
  if (!mul_ok(&c, &xb, (uint64_t)v[W]) || !mul_ok(&c, &xb, (uint64_t)v[CIN] * 4) ||
      !mul_ok(&c, &wb, (uint64_t)v[CIN] * 4) ||
      !strided_bytes(&c, s.pixels, (uint64_t)ys, (uint64_t)v[CIN], 4, &yb) || !ptr_arg(&c, 1, "x", xb, 4, 0, &x) ||
      !ptr_arg(&c, 2, "weights", wb, 4, 0, &w) || !ptr_arg(&c, 3, "bias", (uint64_t)v[CIN] * 4, 4, 1, &bias) ||
      !ptr_arg(&c, 4, "residual", yb, 4, 1, &res) || !ptr_arg(&c, 5, "y", yb, 4, 0, &y))
    return NULL;
  sofar_dwconv2d_f32((const float *)x, (const float *)w, (const float *)bias, (const float *)res, (float *)y, v[N],
                     v[H], v[W], v[CIN], v[KH], v[KW], v[SH], v[SW], v[PT], v[PL], v[PB], v[PR], v[DH], v[DW], ys, relu);
  return undef(env);
}

/* mulChannelsF32(buf, x, s, y, n, pixels, c) */
static napi_value js_mul_channels_f32(napi_env env, napi_callback_info info) {
  call_t c;
  int n, pixels, ch;
  void *x, *sp, *y;
  if (!begin(&c, env, info, "mulChannelsF32", 7, 1) || !int_arg(&c, 4, "n", 1, MAX_DIM, &n) ||
      !int_arg(&c, 5, "pixels", 1, MAX_DIM, &pixels) || !int_arg(&c, 6, "c", 1, MAX_DIM, &ch))
    return NULL;
  uint64_t xb = (uint64_t)n * (uint64_t)pixels, sb = (uint64_t)n;
  if (!mul_ok(&c, &xb, (uint64_t)ch * 4) || !mul_ok(&c, &sb, (uint64_t)ch * 4) || !ptr_arg(&c, 1, "x", xb, 4, 0, &x) ||
      !ptr_arg(&c, 2, "s", sb, 4, 0, &sp) || !ptr_arg(&c, 3, "y", xb, 4, 0, &y))
    return NULL;
  sofar_mul_channels_f32((const float *)x, (const float *)sp, (float *)y, n, pixels, ch);
  return undef(env);
}

/* (buf, a, b, y, count); op 0 add, 1 max, 2 mul */
static napi_value binary_op(napi_env env, napi_callback_info info, int op) {
  static const char *const names[] = {"addF32", "maxF32", "mulF32"};
  static void (*const fns[])(const float *, const float *, float *, size_t) = {sofar_add_f32, sofar_max_f32, sofar_mul_f32};
  call_t c;
  size_t count;
  void *a, *b, *y;
  if (!begin(&c, env, info, names[op], 5, 1) || !count_arg(&c, 4, "count", &count)) return NULL;
  uint64_t bytes = (uint64_t)count;
  if (!mul_ok(&c, &bytes, 4) || !ptr_arg(&c, 1, "a", bytes, 4, 0, &a) || !ptr_arg(&c, 2, "b", bytes, 4, 0, &b) ||
      !ptr_arg(&c, 3, "y", bytes, 4, 0, &y))
    return NULL;
  fns[op]((const float *)a, (const float *)b, (float *)y, count);
  return undef(env);
}
static napi_value js_add_f32(napi_env e, napi_callback_info i) { return binary_op(e, i, 0); }
static napi_value js_max_f32(napi_env e, napi_callback_info i) { return binary_op(e, i, 1); }
static napi_value js_mul_f32(napi_env e, napi_callback_info i) { return binary_op(e, i, 2); }

static napi_value js_scale_f32(napi_env env, napi_callback_info info) {
  call_t c;
  size_t count;
  float sc;
  void *x, *y;
  if (!begin(&c, env, info, "scaleF32", 5, 1) || !float_arg(&c, 2, "s", &sc) || !count_arg(&c, 4, "count", &count))
    return NULL;
  uint64_t bytes = (uint64_t)count;
  if (!mul_ok(&c, &bytes, 4) || !ptr_arg(&c, 1, "x", bytes, 4, 0, &x) || !ptr_arg(&c, 3, "y", bytes, 4, 0, &y))
    return NULL;
  sofar_scale_f32((const float *)x, sc, (float *)y, count);
  return undef(env);
}

/* (buf, a, b, c, d, s, y, yPacked, pixels, channels, yStride): sofar_sum_f32 */
static napi_value js_sum_f32(napi_env env, napi_callback_info info) {
  call_t c;
  int pixels, ch, ys;
  float sc;
  void *a, *b, *cc, *d, *y, *yp;
  if (!begin(&c, env, info, "sumF32", 11, 1) || !float_arg(&c, 5, "s", &sc) ||
      !int_arg(&c, 8, "pixels", 1, MAX_DIM * 64, &pixels) || !int_arg(&c, 9, "channels", 1, MAX_DIM, &ch) ||
      !int_arg(&c, 10, "yStride", 0, MAX_DIM, &ys))
    return NULL;
  if (ys != 0 && ys < ch) return fail(&c, 1, "yStride %d is below channels %d (0: channels)", ys, ch);
  uint64_t bytes = (uint64_t)pixels, pb = (uint64_t)pixels, yb;
  /* y spans (pixels - 1) strides and one pixel's channels; a, where it is y, too (checked as y) */
  if (!mul_ok(&c, &bytes, (uint64_t)ch * 4) || !mul_ok(&c, &pb, (uint64_t)sofar_packed_words(ch, 1) * 8) ||
      !strided_bytes(&c, (uint64_t)pixels, (uint64_t)(ys ? ys : ch), (uint64_t)ch, 4, &yb) ||
      !ptr_arg(&c, 1, "a", bytes, 4, 0, &a) || !ptr_arg(&c, 2, "b", bytes, 4, 0, &b) ||
      !ptr_arg(&c, 3, "c", bytes, 4, 1, &cc) || !ptr_arg(&c, 4, "d", bytes, 4, 1, &d) ||
      !ptr_arg(&c, 6, "y", yb, 4, 0, &y) || !ptr_arg(&c, 7, "yPacked", pb, 8, 1, &yp))
    return NULL;
  if (d && !cc) return fail(&c, 1, "d without c: the inputs are a, b, then c, then d");
  sofar_sum_f32((const float *)a, (const float *)b, (const float *)cc, (const float *)d, sc, (float *)y, (uint64_t *)yp,
                pixels, ch, ys);
  return undef(env);
}

static napi_value layout(napi_env env, napi_callback_info info, int to_nhwc) {
  call_t c;
  int n, ch, h, w;
  void *x, *y;
  if (!begin(&c, env, info, to_nhwc ? "nchwToNhwc" : "nhwcToNchw", 7, 1) || !int_arg(&c, 3, "n", 1, MAX_DIM, &n) ||
      !int_arg(&c, 4, "c", 1, MAX_DIM, &ch) || !int_arg(&c, 5, "h", 1, MAX_DIM, &h) ||
      !int_arg(&c, 6, "w", 1, MAX_DIM, &w))
    return NULL;
  uint64_t bytes = (uint64_t)n;
  if (!mul_ok(&c, &bytes, (uint64_t)ch) || !mul_ok(&c, &bytes, (uint64_t)h) || !mul_ok(&c, &bytes, (uint64_t)w * 4) ||
      !ptr_arg(&c, 1, "x", bytes, 4, 0, &x) || !ptr_arg(&c, 2, "y", bytes, 4, 0, &y))
    return NULL;
  (to_nhwc ? sofar_nchw_to_nhwc : sofar_nhwc_to_nchw)((const float *)x, (float *)y, n, ch, h, w);
  return undef(env);
}
static napi_value js_nchw_to_nhwc(napi_env e, napi_callback_info i) { return layout(e, i, 1); }
static napi_value js_nhwc_to_nchw(napi_env e, napi_callback_info i) { return layout(e, i, 0); }

/* ---- module ------------------------------------------------------------------------------------------ */

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"detectedIsa", js_detected_isa},
      {"setIsa", js_set_isa},
      {"isaInUse", js_isa_in_use},
      {"setThreads", js_set_threads},
      {"threads", js_threads},
      {"chunksRun", js_chunks_run},
      {"registerPeak", js_register_peak},
      {"info", js_info},
#if defined(__linux__)
      {"arena", js_arena},
      {"releaseArena", js_release_arena},
#endif
      {"packedWords", js_packed_words},
      {"packSigns", js_pack_signs},
      {"packSignsAffine", js_pack_signs_affine},
      {"packSignsAffine2", js_pack_signs_affine2},
      {"bconv2dScratchBytes", js_bconv2d_scratch_bytes},
      {"bconv2dPackedKernelBytes", js_bconv2d_packed_kernel_bytes},
      {"bconv2dPackKernel", js_bconv2d_pack_kernel},
      {"bconv2d", js_bconv2d},
      {"bconv2dPrepacked", js_bconv2d_prepacked},
      {"bconv2dPrepackedPost", js_bconv2d_prepacked_post},
      {"bconv2dEpilogue", js_bconv2d_epilogue},
      {"bconv2dEpiloguePack2", js_bconv2d_epilogue_pack2},
      {"bconv2dEpilogueRes2", js_bconv2d_epilogue_res2},
      {"conv2dF32PackedWeightsBytes", js_conv2d_f32_packed_weights_bytes},
      {"conv2dF32ScratchBytes", js_conv2d_f32_scratch_bytes},
      {"conv2dF32Avgpool2ScratchBytes", js_conv2d_f32_avgpool2_scratch_bytes},
      {"conv2dF32Avgpool2", js_conv2d_f32_avgpool2},
      {"conv2dF32PackWeights", js_conv2d_f32_pack_weights},
      {"conv2dF32", js_conv2d_f32},
      {"conv2dF32MaxpoolScratchBytes", js_conv2d_f32_maxpool_scratch_bytes},
      {"conv2dF32Maxpool", js_conv2d_f32_maxpool},
      {"conv2dF32MaxpoolPack", js_conv2d_f32_maxpool_pack},
      {"denseF32", js_dense_f32},
      {"maxpoolF32", js_maxpool_f32},
      {"maxpoolReluF32", js_maxpool_relu_f32},
      {"avgpoolF32", js_avgpool_f32},
      {"globalAvgpoolF32", js_global_avgpool_f32},
      {"affineF32", js_affine_f32},
      {"reluF32", js_relu_f32},
      {"preluF32", js_prelu_f32},
      {"clipF32", js_clip_f32},
      {"signF32", js_sign_f32},
      {"copyF32", js_copy_f32},
      {"addF32", js_add_f32},
      {"maxF32", js_max_f32},
      {"mulF32", js_mul_f32},
      {"mulChannelsF32", js_mul_channels_f32},
      {"dwconv2dF32", js_dwconv2d_f32},
      {"sigmoidF32", js_sigmoid_f32},
      {"roundF32", js_round_f32},
      {"divF32", js_div_f32},
      {"heavisideF32", js_heaviside_f32},
      {"copyStridedF32", js_copy_strided_f32},
      {"padChannelsF32", js_pad_channels_f32},
      {"scaleF32", js_scale_f32},
      {"sumF32", js_sum_f32},
      {"nchwToNhwc", js_nchw_to_nhwc},
      {"nhwcToNchw", js_nhwc_to_nchw},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok ||
        napi_set_named_property(env, exports, fns[i].name, f) != napi_ok)
      return NULL;
  }
  napi_value v;
  napi_create_string_utf8(env, SOFAR_ADDON_VERSION, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, exports, "version", v);
  napi_create_int32(env, SOFAR_ADDON_ABI, &v);
  napi_set_named_property(env, exports, "abi", v);
  return exports;
}
