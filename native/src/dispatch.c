/* Run-time ISA detection and the micro-kernel tables. */
#include "internal.h"

static const struct sofar_ukernels table_scalar = {
    SOFAR_ISA_SCALAR, 4, 8, sofar_bgemm_scalar, sofar_bconv_transform_scalar, sofar_pack_row_scalar,
    4, 16, sofar_sgemm_scalar, sofar_dwconv_scalar,
};
#if SOFAR_X86
static const struct sofar_ukernels table_avx2 = {
    SOFAR_ISA_AVX2, 3, 8, sofar_bgemm_avx2, sofar_bconv_transform_avx2, sofar_pack_row_avx2,
    6, 16, sofar_sgemm_avx2, sofar_dwconv_avx2, NULL, NULL, NULL, sofar_sgemm_groups_avx2,
};
static const struct sofar_ukernels table_avx512 = {
    SOFAR_ISA_AVX512, 6, 32, sofar_bgemm_avx512, sofar_bconv_transform_avx512, sofar_pack_row_avx512,
    6, 64, sofar_sgemm_avx512, sofar_dwconv_avx512, sofar_pack_rows_avx512, sofar_pool_pairs_avx512,
    sofar_interleave3_avx512, sofar_sgemm_groups_avx512,
};
#endif
#if SOFAR_WASM_SIMD
static const struct sofar_ukernels table_wasmsimd = {
    SOFAR_ISA_WASM_SIMD128, 2, 8, sofar_bgemm_wasmsimd, sofar_bconv_transform_wasmsimd, sofar_pack_row_wasmsimd,
    2, 16, sofar_sgemm_wasmsimd, sofar_dwconv_wasmsimd, NULL, NULL, NULL, sofar_sgemm_groups_wasmsimd,
};
#endif

#if SOFAR_ARM64
static const struct sofar_ukernels table_neon = {
    SOFAR_ISA_NEON, 2, 8, sofar_bgemm_neon, sofar_bconv_transform_neon, sofar_pack_row_neon,
    4, 16, sofar_sgemm_neon, sofar_dwconv_neon,
};
#endif

static int detected = -1;
static const struct sofar_ukernels *current;

static int detect(void) {
#if SOFAR_X86
  __builtin_cpu_init();
  /* libgcc's / compiler-rt's checks include the OS's XSAVE support of the AVX and AVX-512 state */
  int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("popcnt");
  int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vpopcntdq");
  return avx512 ? SOFAR_ISA_AVX512 : avx2 ? SOFAR_ISA_AVX2 : SOFAR_ISA_SCALAR;
#elif SOFAR_WASM_SIMD
  return SOFAR_ISA_WASM_SIMD128;
#elif SOFAR_ARM64
  return SOFAR_ISA_NEON;
#else
  return SOFAR_ISA_SCALAR;
#endif
}

static const struct sofar_ukernels *table_for(int isa) {
  switch (isa) {
#if SOFAR_X86
    case SOFAR_ISA_AVX512: return &table_avx512;
    case SOFAR_ISA_AVX2: return &table_avx2;
#endif
#if SOFAR_WASM_SIMD
    case SOFAR_ISA_WASM_SIMD128: return &table_wasmsimd;
#endif
#if SOFAR_ARM64
    case SOFAR_ISA_NEON: return &table_neon;
#endif
    default: return &table_scalar;
  }
}

int sofar_detected_isa(void) {
  if (detected < 0) detected = detect();
  return detected;
}

/* Available ISAs: scalar, and on x86 avx2 <= avx512 up to the detected one; on wasm simd128; on AArch64
   neon. A request that is not available falls to the best available one below it. */
int sofar_set_isa(int isa) {
  int best = sofar_detected_isa();
  int use;
  if (isa <= SOFAR_ISA_SCALAR) use = SOFAR_ISA_SCALAR;
  else if (best == SOFAR_ISA_WASM_SIMD128 || best == SOFAR_ISA_NEON) use = isa >= best ? best : SOFAR_ISA_SCALAR;
  else use = isa > best ? best : (isa == SOFAR_ISA_WASM_SIMD128 ? best : isa);
  current = table_for(use);
  return current->isa;
}

int sofar_isa_in_use(void) { return sofar_ukernels_current()->isa; }

const struct sofar_ukernels *sofar_ukernels_current(void) {
  if (!current) current = table_for(sofar_detected_isa());
  return current;
}

int sofar_packed_words(int channels, int groups) {
  if (channels <= 0 || groups <= 0 || channels % groups) return 0;
  return groups * ((channels / groups + 63) / 64);
}

int sofar_conv_geom_init(struct sofar_conv_geom *g, int n, int h, int w, int cin, int cout, int kh, int kw, int sh,
                         int sw, int pt, int pl, int pb, int pr, int dh, int dw, int groups) {
  if (n <= 0 || h <= 0 || w <= 0 || cin <= 0 || cout <= 0 || kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0 || pt < 0 ||
      pl < 0 || pb < 0 || pr < 0 || dh <= 0 || dw <= 0 || groups <= 0 || cin % groups || cout % groups)
    return 0;
  long long eh = (long long)h + pt + pb - (long long)dh * (kh - 1) - 1;
  long long ew = (long long)w + pl + pr - (long long)dw * (kw - 1) - 1;
  if (eh < 0 || ew < 0) return 0;
  g->n = (size_t)n; g->h = (size_t)h; g->w = (size_t)w; g->cin = (size_t)cin; g->cout = (size_t)cout;
  g->kh = (size_t)kh; g->kw = (size_t)kw; g->sh = (size_t)sh; g->sw = (size_t)sw;
  g->pt = (size_t)pt; g->pl = (size_t)pl; g->pb = (size_t)pb; g->pr = (size_t)pr;
  g->dh = (size_t)dh; g->dw = (size_t)dw; g->groups = (size_t)groups;
  g->ho = (size_t)(eh / sh) + 1;
  g->wo = (size_t)(ew / sw) + 1;
  g->pixels = g->n * g->ho * g->wo;
  g->cg = g->cin / g->groups;
  g->og = g->cout / g->groups;
  g->taps = g->kh * g->kw;
  return 1;
}
