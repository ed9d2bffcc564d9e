/*
 * Kernel benchmark: GOPS of the shapes that matter for a Bi-Real ResNet18 at 224x224.
 *   binary: binary MACs per second (one XNOR-popcount bit = one MAC), float: float MACs per second.
 * Build and run (from the repository root):
 *   gcc -std=c11 -O3 -ffp-contract=off -Inative/include native/src/[!a]*.c native/bench/bench.c -lpthread -o /tmp/sofar-bench
 *   /tmp/sofar-bench [isa] [reps]
 *   [SOFAR_BENCH_ISA=isa] [SOFAR_BENCH_COLD=1] /tmp/sofar-bench epilogue [threads] [reps] [name]
 *     the fused epilogues of ReActNet-A's, Bi-Real's and QuickNet's small-channel layers (name: only the shapes
 *     whose name contains it; COLD: the maps evicted before each run, as in a whole network)
 *   /tmp/sofar-bench pool [straggle_us ...]
 *     the thread pool: a job whose one chunk runs straggle_us longer, then a short job on 2 threads (does the
 *     worker, idle through the long job's tail, join the short one in time?)
 * Also measures the register-only throughput of the AVX-512 xor+popcount+add sequence (the binary GEMM's
 * inner step) as the practical binary peak of one core.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sofar_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* wall clock; the epilogue mode on one thread counts the thread's CPU time instead (steady on a shared machine) */
static clockid_t clock_id = CLOCK_MONOTONIC;
static double now(void) {
  struct timespec t;
  clock_gettime(clock_id, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void *xalloc(size_t bytes) {
  void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!p) abort();
  memset(p, 0, bytes);
  return p;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

typedef struct {
  const char *name;
  int binary;
  int n, h, w, cin, cout, kh, kw, s, p;
} shape_t;

static double bench_shape(const shape_t *sh, int threads, int reps, int prepacked, int packed_out) {
  const int ho = (sh->h + 2 * sh->p - sh->kh) / sh->s + 1, wo = (sh->w + 2 * sh->p - sh->kw) / sh->s + 1;
  const size_t P = (size_t)sh->n * ho * wo;
  const double macs = (double)P * sh->cout * sh->kh * sh->kw * sh->cin;
  sofar_set_threads(threads);
  double *t = malloc(sizeof(double) * (size_t)reps);
  if (sh->binary) {
    const size_t wx = (size_t)sofar_packed_words(sh->cin, 1);
    uint64_t *x = xalloc((size_t)sh->n * sh->h * sh->w * wx * 8);
    uint64_t *k = xalloc((size_t)sh->cout * sh->kh * sh->kw * wx * 8);
    for (size_t i = 0; i < (size_t)sh->n * sh->h * sh->w * wx; i++) x[i] = next();
    for (size_t i = 0; i < (size_t)sh->cout * sh->kh * sh->kw * wx; i++) k[i] = next();
    float *mul = xalloc((size_t)sh->cout * 4), *bias = xalloc((size_t)sh->cout * 4);
    for (int o = 0; o < sh->cout; o++) mul[o] = 0.01f, bias[o] = 0.1f;
    float *y = xalloc(P * sh->cout * 4), *res = xalloc(P * sh->cout * 4);
    uint64_t *yp = xalloc(P * (size_t)sofar_packed_words(sh->cout, 1) * 8);
    const size_t sb = sofar_bconv2d_scratch_bytes(sh->n, sh->h, sh->w, sh->cin, sh->cout, sh->kh, sh->kw, sh->s, sh->s,
                                                  sh->p, sh->p, sh->p, sh->p, 1, 1, 1);
    void *scratch = xalloc(sb);
    void *pk = xalloc(sofar_bconv2d_packed_kernel_bytes(sh->cout, sh->cin, sh->kh, sh->kw, 1));
    sofar_bconv2d_pack_kernel(k, pk, sh->cout, sh->cin, sh->kh, sh->kw, 1);
    for (int r = -3; r < reps; r++) {
      const double t0 = now();
      /* as in a Bi-Real block: float output with the residual, and its signs packed for the next layer */
      if (prepacked)
        sofar_bconv2d_prepacked(x, pk, mul, bias, res, y, packed_out ? yp : NULL, scratch, sh->n, sh->h, sh->w, sh->cin,
                                sh->cout, sh->kh, sh->kw, sh->s, sh->s, sh->p, sh->p, sh->p, sh->p, 1, 1, 1, 0, 0, 1);
      else
        sofar_bconv2d(x, k, mul, bias, res, y, packed_out ? yp : NULL, scratch, sh->n, sh->h, sh->w, sh->cin, sh->cout,
                      sh->kh, sh->kw, sh->s, sh->s, sh->p, sh->p, sh->p, sh->p, 1, 1, 1, 0, 0, 1);
      if (r >= 0) t[r] = now() - t0;
    }
    free(x); free(k); free(mul); free(bias); free(y); free(res); free(yp); free(scratch); free(pk);
  } else {
    float *x = xalloc((size_t)sh->n * sh->h * sh->w * sh->cin * 4);
    float *w = xalloc((size_t)sh->cout * sh->cin * sh->kh * sh->kw * 4);
    for (size_t i = 0; i < (size_t)sh->n * sh->h * sh->w * sh->cin; i++) x[i] = (float)(next() % 1000) * 1e-3f;
    for (size_t i = 0; i < (size_t)sh->cout * sh->cin * sh->kh * sh->kw; i++) w[i] = (float)(next() % 1000) * 1e-3f;
    float *pw = xalloc(sofar_conv2d_f32_packed_weights_bytes(sh->cout, sh->cin, sh->kh, sh->kw, 1));
    sofar_conv2d_f32_pack_weights(w, pw, sh->cout, sh->cin, sh->kh, sh->kw, 1);
    float *bias = xalloc((size_t)sh->cout * 4), *y = xalloc(P * sh->cout * 4);
    void *scratch = xalloc(sofar_conv2d_f32_scratch_bytes(sh->n, sh->h, sh->w, sh->cin, sh->cout, sh->kh, sh->kw, sh->s,
                                                          sh->s, sh->p, sh->p, sh->p, sh->p, 1, 1, 1));
    for (int r = -3; r < reps; r++) {
      const double t0 = now();
      sofar_conv2d_f32(x, pw, bias, NULL, y, scratch, sh->n, sh->h, sh->w, sh->cin, sh->cout, sh->kh, sh->kw, sh->s,
                       sh->s, sh->p, sh->p, sh->p, sh->p, 1, 1, 1, 0, 1);
      if (r >= 0) t[r] = now() - t0;
    }
    free(x); free(w); free(pw); free(bias); free(y); free(scratch);
  }
  qsort(t, (size_t)reps, sizeof(double), cmp_double);
  const double best = t[0], med = t[reps / 2];
  free(t);
  printf("%-34s %s threads %d: median %8.3f ms  best %8.3f ms  %7.1f G%sMAC/s (best %7.1f)\n", sh->name,
         prepacked ? "prepacked" : "         ", threads, med * 1e3, best * 1e3, macs / med * 1e-9,
         sh->binary ? "b" : "f", macs / best * 1e-9);
  return med;
}

/* The binary convs with their fused epilogue, at the shapes where ReActNet-A and Bi-Real ResNet18 spend their
   time (small channel counts at 112x112 and 56x56). ops 171: multiplier, bias, PReLU, shift, the next sign's
   threshold (ReActNet's BN, RPReLU, RSign); ops 43: the same without packing, into a slice of a wider map;
   ops 3: Bi-Real's BN and shortcut; ops 61: QuickNet's ReLU, BN and shortcut after them; ops 205: Real-to-Binary
   Net's gate as multiplier, PReLU, shortcut after it, the next batch norm's signs; ops 17: DRF's join (its
   conv's scale, the sum so far, the mean's scale); pooled res: ReActNet's
   strided conv, whose shortcut is the 2x2 average pool of its input-sized residual. */
typedef struct {
  const char *name;
  int h, cin, cout, k, s, ops, packed, ystride_mul;
} epi_shape_t;

static void bench_epilogue(const epi_shape_t *sh, int reps) {
  const int p = sh->k / 2, ho = (sh->h + 2 * p - sh->k) / sh->s + 1;
  const size_t P = (size_t)ho * ho, wx = (size_t)sofar_packed_words(sh->cin, 1);
  const size_t ys = (size_t)sh->cout * sh->ystride_mul;
  const double macs = (double)P * sh->cout * sh->k * sh->k * sh->cin;
  uint64_t *x = xalloc((size_t)sh->h * sh->h * wx * 8), *k = xalloc((size_t)sh->cout * sh->k * sh->k * wx * 8);
  for (size_t i = 0; i < (size_t)sh->h * sh->h * wx; i++) x[i] = next();
  for (size_t i = 0; i < (size_t)sh->cout * sh->k * sh->k * wx; i++) k[i] = next();
  float *params = xalloc((size_t)sh->cout * 8 * 4);
  for (int i = 0; i < sh->cout * 8; i++) params[i] = (float)(next() % 200) * 0.01f - 1.0f;
  /* SOFAR_EPI_RESIDUAL_POOL2: the residual is an input-sized map the conv pools 2x2 */
  const size_t RP = (sh->ops & SOFAR_EPI_RESIDUAL_POOL2) ? (size_t)sh->h * sh->h : P;
  float *y = xalloc(P * ys * 4), *res = xalloc(RP * ys * 4);
  for (size_t i = 0; i < RP * ys; i++) res[i] = (float)(next() % 200) * 0.01f - 1.0f;
  uint64_t *yp = xalloc(P * (size_t)sofar_packed_words(sh->cout, 1) * 8);
  void *scratch = xalloc(sofar_bconv2d_scratch_bytes(1, sh->h, sh->h, sh->cin, sh->cout, sh->k, sh->k, sh->s, sh->s, p,
                                                     p, p, p, 1, 1, 1));
  void *pk = xalloc(sofar_bconv2d_packed_kernel_bytes(sh->cout, sh->cin, sh->k, sh->k, 1));
  sofar_bconv2d_pack_kernel(k, pk, sh->cout, sh->cin, sh->k, sh->k, 1);
  uint64_t *pack2 = getenv("SOFAR_BENCH_PACK2") ? xalloc(P * (size_t)sofar_packed_words(sh->cout, 1) * 8) : NULL;
  double *t = malloc(sizeof(double) * (size_t)reps);
  /* SOFAR_BENCH_COLD=1: 64 MB written between runs evicts the maps, as the other layers of a network do */
  char *junk = getenv("SOFAR_BENCH_COLD") ? xalloc(64u << 20) : NULL;
  for (int r = -5; r < reps; r++) {
    if (junk) memset(junk, r, 64u << 20);
    const double t0 = now();
    /* SOFAR_BENCH_PACK2=1: and a second threshold's signs of the output in the same pass */
    sofar_bconv2d_epilogue_pack2(x, pk, params, res, y, sh->packed ? yp : NULL, y, NULL, pack2 ? params : NULL,
                                 pack2, scratch, 1, sh->h, sh->h, sh->cin, sh->cout, sh->k, sh->k, sh->s, sh->s, p, p,
                                 p, p, 1, 1, 1, 0, (int)ys, 0, 0, sh->ops, 1, sh->cout, (int)ys);
    if (r >= 0) t[r] = now() - t0;
  }
  qsort(t, (size_t)reps, sizeof(double), cmp_double);
  printf("%-30s median %7.3f ms  best %7.3f ms  %7.1f Gb-MAC/s\n", sh->name, t[reps / 2] * 1e3, t[0] * 1e3,
         macs / t[reps / 2] * 1e-9);
  free(t); free(x); free(k); free(params); free(y); free(res); free(yp); free(scratch); free(pk);
  free(junk); free(pack2);
}

#if defined(__x86_64__)
/* Register-only vpxorq + vpopcntq + vpaddq on 12 independent accumulators: one core's practical binary peak
   (the binary GEMM's inner step with its operands already in registers). */
#define R12(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)
__attribute__((target("avx512f,avx512vpopcntdq"))) static double popcnt_peak(void) {
  __m512i w = _mm512_set1_epi64((long long)next());
#define D(i) __m512i a##i = _mm512_setzero_si512(), x##i = _mm512_set1_epi64((long long)next());
  R12(D)
  const long iters = 20000000;
  const double t0 = now();
  for (long it = 0; it < iters; it++) {
#define S(i) a##i = _mm512_add_epi64(a##i, _mm512_popcnt_epi64(_mm512_xor_si512(x##i, w)));
    R12(S)
    __asm__ volatile("" : "+v"(x0), "+v"(x1), "+v"(x2), "+v"(x3), "+v"(x4), "+v"(x5), "+v"(w));
    __asm__ volatile("" : "+v"(x6), "+v"(x7), "+v"(x8), "+v"(x9), "+v"(x10), "+v"(x11));
  }
  const double dt = now() - t0;
  __m512i s = a0;
#define A(i) s = _mm512_add_epi64(s, a##i);
  R12(A)
  volatile long long sink = _mm512_reduce_add_epi64(s);
  (void)sink;
  return (double)iters * 12 * 512 / dt;
}
/* Register-only FMA on 12 independent accumulators: one core's float peak. */
__attribute__((target("avx512f"))) static double fma_peak(void) {
  __m512 w = _mm512_set1_ps(1.0001f), x = _mm512_set1_ps(0.999f);
#define E(i) __m512 f##i = _mm512_set1_ps((float)i);
  R12(E)
  const long iters = 20000000;
  const double t0 = now();
  for (long it = 0; it < iters; it++) {
#define F(i) f##i = _mm512_fmadd_ps(f##i, w, x);
    R12(F)
    __asm__ volatile("" : "+v"(x), "+v"(w));
  }
  const double dt = now() - t0;
  __m512 s = f0;
#define G(i) s = _mm512_add_ps(s, f##i);
  R12(G)
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return (double)iters * 12 * 16 / dt;
}
#endif

/* sofar_pack_signs_affine over a map of h x h pixels of c channels (ReActNet's RSign before a concat's conv). */
static void bench_pack_affine(const char *name, int h, int c, int reps) {
  const size_t P = (size_t)h * h;
  float *x = xalloc(P * (size_t)c * 4), *scale = xalloc((size_t)c * 4), *shift = xalloc((size_t)c * 4);
  for (size_t i = 0; i < P * (size_t)c; i++) x[i] = (float)(next() % 200) * 0.01f - 1.0f;
  for (int i = 0; i < c; i++) scale[i] = 1.0f, shift[i] = (float)(next() % 200) * 0.001f - 0.1f;
  uint64_t *y = xalloc(P * (size_t)sofar_packed_words(c, 1) * 8);
  double *t = malloc(sizeof(double) * (size_t)reps);
  for (int r = -5; r < reps; r++) {
    const double t0 = now();
    sofar_pack_signs_affine(x, scale, shift, y, (int)P, c, 0, 1);
    if (r >= 0) t[r] = now() - t0;
  }
  qsort(t, (size_t)reps, sizeof(double), cmp_double);
  printf("%-30s median %7.3f ms  best %7.3f ms\n", name, t[reps / 2] * 1e3, t[0] * 1e3);
  free(t); free(x); free(scale); free(shift); free(y);
}

static void bench_epilogues(int threads, int reps, const char *only) {
  sofar_set_threads(threads);
  if (threads == 1) clock_id = CLOCK_THREAD_CPUTIME_ID;
  printf("isa in use: %d, threads %d%s\n", sofar_isa_in_use(), threads, threads == 1 ? " (thread CPU time)" : "");
  static const epi_shape_t epi_shapes[] = {
      {"1x1 32->32 112x112 ops 43", 112, 32, 32, 1, 1, 43, 0, 2},
      {"3x3 32->32 112x112 ops 171", 112, 32, 32, 3, 1, 171, 1, 1},
      {"1x1 64->64 56x56 ops 171", 56, 64, 64, 1, 1, 171, 1, 2},
      {"1x1 128->128 56x56 ops 171", 56, 128, 128, 1, 1, 171, 1, 1},
      {"3x3 64->64 56x56 ops 3", 56, 64, 64, 3, 1, 3, 1, 1},
      {"3x3 64->64 56x56 ops 61", 56, 64, 64, 3, 1, 61, 1, 1},
      {"3x3 64->128 56x56 /2 ops 3", 56, 64, 128, 3, 2, 3, 1, 1},
      {"3x3 64->64 56x56 ops 205", 56, 64, 64, 3, 1, 205, 1, 1},
      {"3x3 128->128 28x28 ops 205", 28, 128, 128, 3, 1, 205, 1, 1},
      {"3x3 64->53 56x56 join, ops 17", 56, 64, 53, 3, 1, 17, 0, 1},
      {"3x3 41->41 56x56 rf ops 3", 56, 41, 41, 3, 1, 3, 1, 1},
      {"3x3 82->82 28x28 rf ops 3", 28, 82, 82, 3, 1, 3, 1, 1},
      {"3x3 64->64 112x112 /2 ops 171", 112, 64, 64, 3, 2, 171, 1, 1},
      {"3x3 64->64 112x112 /2 pooled res", 112, 64, 64, 3, 2, 171 | SOFAR_EPI_RESIDUAL_POOL2, 1, 1},
      {"1x1 32->32 112x112 ops 171", 112, 32, 32, 1, 1, 171, 1, 1},
      {"1x1 32->32 112x112 pooled out", 112, 32, 32, 1, 1, 171 | SOFAR_EPI_POOL2_OUT, 1, 1},
      {"1x1 128->128 56x56 pooled out", 56, 128, 128, 1, 1, 171 | SOFAR_EPI_POOL2_OUT, 1, 1},
      {"3x3 512->512 14x14 ops 171", 14, 512, 512, 3, 1, 171, 1, 1},
      {"1x1 256->256 28x28 ops 171", 28, 256, 256, 1, 1, 171, 1, 1},
      {"1x1 512->512 14x14 ops 171", 14, 512, 512, 1, 1, 171, 1, 1},
  };
  for (size_t i = 0; i < sizeof epi_shapes / sizeof epi_shapes[0]; i++)
    if (!only || strstr(epi_shapes[i].name, only)) bench_epilogue(&epi_shapes[i], reps);
  if (!only || strstr("packSignsAffine 64 112x112", only)) bench_pack_affine("packSignsAffine 64 112x112", 112, 64, reps);
}

/* The pool (internal.h's, linked from the sources: the bench is built from them) */
typedef void (*pool_task_fn)(void *ctx, size_t begin, size_t end, int slot);
void sofar_parallel_for(size_t ntasks, pool_task_fn fn, void *ctx);

static void spin_us(double us) {
  const double until = now() + us * 1e-6;
  while (now() < until) {}
}
static double straggle_us;
static int short_slots[16];
static void long_job(void *ctx, size_t begin, size_t end, int slot) {
  (void)ctx, (void)slot;
  for (size_t i = begin; i < end; i++) spin_us(i == 0 ? straggle_us : 20);
}
static void short_job(void *ctx, size_t begin, size_t end, int slot) {
  (void)ctx;
  for (size_t i = begin; i < end; i++) short_slots[i] = slot, spin_us(10);
}

/* After a job of 8 chunks whose first runs straggle_us (a long step's tail: the stem's last chunk), a job of 16
   tasks of 10 us: 80 us on two threads, 160 on the caller alone (the worker asleep, or waking too late). */
static void bench_pool(int argc, char **argv) {
  sofar_set_threads(2);
  static const double defaults[] = {10, 150, 400, 1000};
  const int n = argc > 2 ? argc - 2 : 4;
  for (int t = 0; t < n; t++) {
    straggle_us = argc > 2 ? atof(argv[t + 2]) : defaults[t];
    const int rounds = 300;
    int alone = 0;
    double total = 0;
    for (int r = 0; r < rounds; r++) {
      sofar_parallel_for(8, long_job, NULL);
      const double t0 = now();
      sofar_parallel_for(16, short_job, NULL);
      total += now() - t0;
      int helped = 0;
      for (int i = 0; i < 16; i++) helped |= short_slots[i] != 0;
      alone += !helped;
    }
    printf("straggle %6.0f us: the short job %.1f us on average (80 on two threads, 160 alone), on the caller alone %d of %d\n",
           straggle_us, total / rounds * 1e6, alone, rounds);
  }
  sofar_set_threads(1);
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "pool")) {
    bench_pool(argc, argv);
    return 0;
  }
  if (argc > 1 && !strcmp(argv[1], "epilogue")) {
    if (getenv("SOFAR_BENCH_ISA")) sofar_set_isa(atoi(getenv("SOFAR_BENCH_ISA"))); /* e.g. 1: AVX2 */
    bench_epilogues(argc > 2 ? atoi(argv[2]) : 2, argc > 3 ? atoi(argv[3]) : 50, argc > 4 ? argv[4] : NULL);
    return 0;
  }
  const int isa = argc > 1 ? atoi(argv[1]) : 99;
  const int reps = argc > 2 ? atoi(argv[2]) : 30;
  printf("isa in use: %d (detected %d)\n", sofar_set_isa(isa), sofar_detected_isa());
#if defined(__x86_64__)
  if (sofar_isa_in_use() == SOFAR_ISA_AVX512) {
    printf("peak, 1 core, registers only: avx512 xor+popcnt+add %.1f GbMAC/s, avx512 fma %.1f GfMAC/s\n",
           popcnt_peak() * 1e-9, fma_peak() * 1e-9);
  }
#endif
  static const shape_t shapes[] = {
      {"bconv 3x3 256->256 14x14", 1, 1, 14, 14, 256, 256, 3, 3, 1, 1},
      {"bconv 3x3 64->64 56x56", 1, 1, 56, 56, 64, 64, 3, 3, 1, 1},
      {"bconv 3x3 128->128 28x28", 1, 1, 28, 28, 128, 128, 3, 3, 1, 1},
      {"bconv 3x3 512->512 7x7", 1, 1, 7, 7, 512, 512, 3, 3, 1, 1},
      /* channel counts that are not multiples of 64 (RF-c4d8, DRF-c2d2): row-packed taps for 41 and 82 */
      {"bconv 3x3 41->41 56x56", 1, 1, 56, 56, 41, 41, 3, 3, 1, 1},
      {"bconv 3x3 82->82 28x28", 1, 1, 28, 28, 82, 82, 3, 3, 1, 1},
      {"bconv 3x3 53->53 56x56", 1, 1, 56, 56, 53, 53, 3, 3, 1, 1},
      {"conv f32 7x7/2 3->64 224x224", 0, 1, 224, 224, 3, 64, 7, 7, 2, 3},
      {"conv f32 1x1 64->128 56x56 /2", 0, 1, 56, 56, 64, 128, 1, 1, 2, 0},
      {"conv f32 1x1 256->512 14x14 /2", 0, 1, 14, 14, 256, 512, 1, 1, 2, 0},
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    for (int threads = 1; threads <= 2; threads++) {
      bench_shape(&shapes[i], threads, reps, 0, 1);
      if (shapes[i].binary) bench_shape(&shapes[i], threads, reps, 1, 1);
    }
  sofar_set_threads(1);
  return 0;
}
