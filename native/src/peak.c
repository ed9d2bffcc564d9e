/*
 * The register-only rates of the instruction set in use: a roofline's ceiling for the binary and the float
 * kernels (sofar_register_peak). Each loop is its GEMM's inner step — the binary GEMM's xor, popcount and
 * add, the float GEMM's multiply-add — on 12 independent accumulators with every operand in a register, so
 * that only the cores' execution units bound it: no loads, no stores, no dependency a step waits on. An empty
 * asm statement marks the operands as changed each iteration, so that the compiler cannot hoist the xor and
 * the popcount out of the loop (the accumulators' adds then carry the work).
 * Not for WebAssembly: V8 compiles the module again, and an empty asm statement leaves nothing there to keep
 * an operand from being hoisted; the WebAssembly build returns 0 (no register-only rate).
 */
#include "internal.h"

#define CHAINS 12

#if !defined(__wasm__)

/* The asm constraint that names a float's own register (SSE, NEON): a general register would cost each
   iteration two moves between the register files, on the operands every chain waits on. */
#if SOFAR_X86
#define FLOAT_REG "+x"
#elif SOFAR_ARM64
#define FLOAT_REG "+w"
#else
#define FLOAT_REG "+r"
#endif

/* One chain's step of each loop below, written out for all 12 chains. */
#define CHAINS_DO(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)

/* Portable C: the scalar binary GEMM's step (xor, popcount of 64 bits, add) and the scalar float GEMM's
   (a multiply, then an add: -ffp-contract=off, as sofar_sgemm_scalar). */
static void binary_scalar(uint64_t iterations) {
  uint64_t w = 0x9e3779b97f4a7c15u;
#define DECL(i) uint64_t a##i = 0, x##i = (uint64_t)(i) * 0x2545f4914f6cdd1du;
  CHAINS_DO(DECL)
#undef DECL
  for (uint64_t it = 0; it < iterations; it++) {
#define STEP(i) a##i += (uint64_t)__builtin_popcountll(x##i ^ w);
    CHAINS_DO(STEP)
#undef STEP
    __asm__ volatile("" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4), "+r"(x5), "+r"(w));
    __asm__ volatile("" : "+r"(x6), "+r"(x7), "+r"(x8), "+r"(x9), "+r"(x10), "+r"(x11));
  }
  volatile uint64_t sink = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
  (void)sink;
}

static void float_scalar(uint64_t iterations) {
  float w = 1.0001f, x = 0.999f;
#define DECL(i) float f##i = (float)(i);
  CHAINS_DO(DECL)
#undef DECL
  for (uint64_t it = 0; it < iterations; it++) {
#define STEP(i) f##i = f##i * w + x;
    CHAINS_DO(STEP)
#undef STEP
    __asm__ volatile("" : FLOAT_REG(w), FLOAT_REG(x));
  }
  volatile float sink = f0 + f1 + f2 + f3 + f4 + f5 + f6 + f7 + f8 + f9 + f10 + f11;
  (void)sink;
}

#if SOFAR_X86
#include <immintrin.h>

/* AVX-512: vpxorq + vpopcntq + vpaddq on 512 bits (sofar_bgemm_avx512's step); vfmadd on 16 floats. */
SOFAR_TARGET_AVX512 static void binary_avx512(uint64_t iterations) {
  __m512i w = _mm512_set1_epi64(0x5bd1e995);
#define DECL(i) __m512i a##i = _mm512_setzero_si512(), x##i = _mm512_set1_epi64((long long)((uint64_t)(i) * 0x2545f4914f6cdd1du));
  CHAINS_DO(DECL)
#undef DECL
  for (uint64_t it = 0; it < iterations; it++) {
#define STEP(i) a##i = _mm512_add_epi64(a##i, _mm512_popcnt_epi64(_mm512_xor_si512(x##i, w)));
    CHAINS_DO(STEP)
#undef STEP
    __asm__ volatile("" : "+v"(x0), "+v"(x1), "+v"(x2), "+v"(x3), "+v"(x4), "+v"(x5), "+v"(w));
    __asm__ volatile("" : "+v"(x6), "+v"(x7), "+v"(x8), "+v"(x9), "+v"(x10), "+v"(x11));
  }
  __m512i s = a0;
#define SUM(i) s = _mm512_add_epi64(s, a##i);
  CHAINS_DO(SUM)
#undef SUM
  volatile long long sink = _mm512_reduce_add_epi64(s);
  (void)sink;
}

SOFAR_TARGET_AVX512 static void float_avx512(uint64_t iterations) {
  __m512 w = _mm512_set1_ps(1.0001f), x = _mm512_set1_ps(0.999f);
#define DECL(i) __m512 f##i = _mm512_set1_ps((float)(i));
  CHAINS_DO(DECL)
#undef DECL
  for (uint64_t it = 0; it < iterations; it++) {
#define STEP(i) f##i = _mm512_fmadd_ps(f##i, w, x);
    CHAINS_DO(STEP)
#undef STEP
    __asm__ volatile("" : "+v"(w), "+v"(x));
  }
  __m512 s = f0;
#define SUM(i) s = _mm512_add_ps(s, f##i);
  CHAINS_DO(SUM)
#undef SUM
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
}

/* AVX2: xor, then the nibble look-up popcount into byte counts (sofar_bgemm_avx2's step: and, shift, two
   vpshufb, two byte adds) on 256 bits; its vpsadbw, once every 31 steps, is left out. vfmadd on 8 floats. */
SOFAR_TARGET_AVX2 static void binary_avx2(uint64_t iterations) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2,
                                       2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  __m256i w = _mm256_set1_epi64x(0x5bd1e995);
#define DECL(i) __m256i a##i = _mm256_setzero_si256(), x##i = _mm256_set1_epi64x((long long)((uint64_t)(i) * 0x2545f4914f6cdd1du));
  CHAINS_DO(DECL)
#undef DECL
  for (uint64_t it = 0; it < iterations; it++) {
#define STEP(i)                                                                                                 \
  {                                                                                                             \
    const __m256i v = _mm256_xor_si256(x##i, w);                                                                \
    a##i = _mm256_add_epi8(a##i, _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(v, low)),           \
                                                 _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low)))); \
  }
    CHAINS_DO(STEP)
#undef STEP
    __asm__ volatile("" : "+x"(x0), "+x"(x1), "+x"(x2), "+x"(x3), "+x"(x4), "+x"(x5), "+x"(w));
    __asm__ volatile("" : "+x"(x6), "+x"(x7), "+x"(x8), "+x"(x9), "+x"(x10), "+x"(x11));
  }
  __m256i s = a0;
#define SUM(i) s = _mm256_add_epi8(s, a##i);
  CHAINS_DO(SUM)
#undef SUM
  volatile int sink = _mm256_extract_epi32(s, 0);
  (void)sink;
}

SOFAR_TARGET_AVX2 static void float_avx2(uint64_t iterations) {
  __m256 w = _mm256_set1_ps(1.0001f), x = _mm256_set1_ps(0.999f);
#define DECL(i) __m256 f##i = _mm256_set1_ps((float)(i));
  CHAINS_DO(DECL)
#undef DECL
  for (uint64_t it = 0; it < iterations; it++) {
#define STEP(i) f##i = _mm256_fmadd_ps(f##i, w, x);
    CHAINS_DO(STEP)
#undef STEP
    __asm__ volatile("" : "+x"(w), "+x"(x));
  }
  __m256 s = f0;
#define SUM(i) s = _mm256_add_ps(s, f##i);
  CHAINS_DO(SUM)
#undef SUM
  float out[8];
  _mm256_storeu_ps(out, s);
  volatile float sink = out[0];
  (void)sink;
}
#endif /* SOFAR_X86 */

#if SOFAR_ARM64
#include <arm_neon.h>

/* NEON: eor + cnt + byte add on 128 bits (sofar_bgemm_neon's step; its widening, once every 31 steps, is left
   out); fmla on 4 floats (sofar_sgemm_neon's step). */
static void binary_neon(uint64_t iterations) {
  uint8x16_t w = vreinterpretq_u8_u64(vdupq_n_u64(0x5bd1e995));
#define DECL(i) uint8x16_t a##i = vdupq_n_u8(0), x##i = vreinterpretq_u8_u64(vdupq_n_u64((uint64_t)(i) * 0x2545f4914f6cdd1du));
  CHAINS_DO(DECL)
#undef DECL
  for (uint64_t it = 0; it < iterations; it++) {
#define STEP(i) a##i = vaddq_u8(a##i, vcntq_u8(veorq_u8(x##i, w)));
    CHAINS_DO(STEP)
#undef STEP
    __asm__ volatile("" : "+w"(x0), "+w"(x1), "+w"(x2), "+w"(x3), "+w"(x4), "+w"(x5), "+w"(w));
    __asm__ volatile("" : "+w"(x6), "+w"(x7), "+w"(x8), "+w"(x9), "+w"(x10), "+w"(x11));
  }
  uint8x16_t s = a0;
#define SUM(i) s = vaddq_u8(s, a##i);
  CHAINS_DO(SUM)
#undef SUM
  volatile unsigned sink = vaddvq_u8(s);
  (void)sink;
}

static void float_neon(uint64_t iterations) {
  float32x4_t w = vdupq_n_f32(1.0001f), x = vdupq_n_f32(0.999f);
#define DECL(i) float32x4_t f##i = vdupq_n_f32((float)(i));
  CHAINS_DO(DECL)
#undef DECL
  for (uint64_t it = 0; it < iterations; it++) {
#define STEP(i) f##i = vfmaq_f32(x, f##i, w);
    CHAINS_DO(STEP)
#undef STEP
    __asm__ volatile("" : "+w"(w), "+w"(x));
  }
  float32x4_t s = f0;
#define SUM(i) s = vaddq_f32(s, f##i);
  CHAINS_DO(SUM)
#undef SUM
  volatile float sink = vaddvq_f32(s);
  (void)sink;
}
#endif /* SOFAR_ARM64 */

/* The loop of `kind` (0: binary, 1: float) for the instruction set in use, and the MACs of one iteration. */
struct peak_loop {
  void (*run)(uint64_t iterations);
  double macs;
};

static struct peak_loop loop_for(int kind) {
  switch (sofar_isa_in_use()) {
#if SOFAR_X86
    case SOFAR_ISA_AVX512: return kind ? (struct peak_loop){float_avx512, CHAINS * 16} : (struct peak_loop){binary_avx512, CHAINS * 512};
    case SOFAR_ISA_AVX2: return kind ? (struct peak_loop){float_avx2, CHAINS * 8} : (struct peak_loop){binary_avx2, CHAINS * 256};
#endif
#if SOFAR_ARM64
    case SOFAR_ISA_NEON: return kind ? (struct peak_loop){float_neon, CHAINS * 4} : (struct peak_loop){binary_neon, CHAINS * 128};
#endif
    default: return kind ? (struct peak_loop){float_scalar, CHAINS} : (struct peak_loop){binary_scalar, CHAINS * 64};
  }
}

struct peak_job {
  void (*run)(uint64_t iterations);
  uint64_t iterations;
};

static void peak_task(void *ctx, size_t begin, size_t end, int slot) {
  (void)slot;
  const struct peak_job *job = (const struct peak_job *)ctx;
  for (size_t t = begin; t < end; t++) job->run(job->iterations);
}

double sofar_register_peak(int kind, double iterations, int tasks) {
  if ((kind != 0 && kind != 1) || !(iterations >= 1 && iterations <= 1e12) || tasks < 1 || tasks > 1 << 20) return 0;
  const struct peak_loop loop = loop_for(kind);
  struct peak_job job = {loop.run, (uint64_t)iterations};
  sofar_parallel_for((size_t)tasks, peak_task, &job);
  return (double)tasks * (double)job.iterations * loop.macs;
}

#else /* __wasm__ */

double sofar_register_peak(int kind, double iterations, int tasks) {
  (void)kind, (void)iterations, (void)tasks;
  return 0;
}

#endif
