/*
 * Grouped float GEMM tile (sofar_sgemm_groups_fn) for groups of at most 8 columns, two groups at a time: 6 rows x
 * 2 groups = 12 ymm accumulators, per k 2 weight loads and 12 broadcasts. A 16-column tile a group would leave
 * half of every FMA idle (MeliusNet's stem: 8 columns a group). Same FMAs in the same order as the sgemm tiles
 * on one group.
 *
 * Included by sgemm-avx2.c and sgemm-avx512.c, which define SOFAR_GROUPS_TARGET and SOFAR_GROUPS_FN: compiled
 * for AVX-512VL the broadcasts fold into the FMAs (embedded broadcast).
 */
#define GMR 6
SOFAR_GROUPS_TARGET SOFAR_INLINE void groups_tile(size_t mr, size_t nr, size_t nseg, size_t seg_len,
                                                const float *const *a, size_t a_gs, const float *b, size_t b_gs,
                                                float *c, size_t cs, const float *bias, const float *res, int relu,
                                                const int ng) {
  /* the packed weight rows are 16 floats, zero past the group's columns: read whole */
  const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)nr), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const int full = nr == 8;
  __m256 acc[GMR][2];
#pragma GCC unroll 6
  for (int r = 0; r < GMR; r++)
#pragma GCC unroll 2
    for (int q = 0; q < ng; q++) acc[r][q] = _mm256_setzero_ps();
  const float *br = b;
  for (size_t sg = 0; sg < nseg; sg++) {
    const float *const *as = a + sg * SOFAR_MR_MAX;
    const float *a0 = as[0], *a1 = as[1], *a2 = as[2], *a3 = as[3], *a4 = as[4], *a5 = as[5];
    for (size_t kk = 0; kk < seg_len; kk++, br += 16) {
      __m256 w[2];
#pragma GCC unroll 2
      for (int q = 0; q < ng; q++) w[q] = _mm256_loadu_ps(br + (size_t)q * b_gs);
#define ROW(r, ar)                                                                         \
  _Pragma("GCC unroll 2") for (int q = 0; q < ng; q++)                                     \
    acc[r][q] = _mm256_fmadd_ps(_mm256_broadcast_ss(ar + (size_t)q * a_gs + kk), w[q], acc[r][q]);
      ROW(0, a0) ROW(1, a1) ROW(2, a2) ROW(3, a3) ROW(4, a4) ROW(5, a5)
#undef ROW
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < GMR; r++) {
    if ((size_t)r >= mr) break;
#pragma GCC unroll 2
    for (int q = 0; q < ng; q++) {
      const size_t off = (size_t)r * cs + (size_t)q * nr;
      __m256 v = acc[r][q];
      /* masked moves only for narrower groups: vmaskmovps stores are microcoded on AMD (1.2x on this tile) */
      if (bias) v = _mm256_add_ps(v, full ? _mm256_loadu_ps(bias + (size_t)q * nr) : _mm256_maskload_ps(bias + (size_t)q * nr, m));
      if (res) v = _mm256_add_ps(v, full ? _mm256_loadu_ps(res + off) : _mm256_maskload_ps(res + off, m));
      if (relu) v = _mm256_max_ps(v, _mm256_setzero_ps());
      if (full) _mm256_storeu_ps(c + off, v);
      else _mm256_maskstore_ps(c + off, m, v);
    }
  }
}

SOFAR_GROUPS_TARGET void SOFAR_GROUPS_FN(size_t mr, size_t nr, size_t ng, size_t nseg, size_t seg_len,
                     const float *const *a, size_t a_gs, const float *b, size_t b_gs, float *c, size_t cs,
                     const float *bias, const float *res, int relu) {
  SOFAR_GROUP_PAIRS(groups_tile);
}
#undef GMR
#undef SOFAR_GROUPS_TARGET
#undef SOFAR_GROUPS_FN
