/*
 * A probe, not a kernel: how fast AMX's int8 tiles could run a binary conv on an Intel core that has them
 * (AMX-TILE + AMX-INT8, Linux >= 5.16). Each ±1 product is a byte (bit 1 = -1, bit 0 = +1), so
 * popcount(x ^ w) over K bits = (K - dot) / 2, exactly. The shape: Bi-Real's 3x3 64 -> 64 conv, the interior
 * 54x54 pixels of a 56x56 map (no padding), one thread. Per row segment of 16 pixels: the 9 taps' packed words
 * expanded to bytes (a mask blend of +1 and -1 a word) into a 16 x 576-byte A panel, then for each tap one A
 * tile and the 4 B tiles of 16 output channels (weights expanded to the VNNI layout once), TDPBSSD into 4
 * accumulating C tiles, stored as int32 (the dot products a transform would read: dot = K - 2 * count).
 * Checked against popcount on every pixel (converted to counts, untimed); timed against the same counts from
 * the AVX-512 GEMM tile (sofar_bgemm_avx512, 6 pixels x 32 channels, pointer lists into the map).
 *
 *   gcc -std=gnu11 -O3 -ffp-contract=off -Inative/include -Inative/src native/src/[!a]*.c native/bench/amx-probe.c -lpthread -lm -o /tmp/amx-probe && /tmp/amx-probe
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"

#define AMX_TARGET __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw")))

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#define MAP 56
#define OUT 54 /* interior */
#define CH 64
#define TAPS 9
#define K (TAPS * 64) /* bits = bytes per row of A */

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

struct tilecfg {
  uint8_t palette, start;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

static uint64_t x[MAP * MAP], w[CH][TAPS];
static int8_t bv[CH / 16][TAPS][16 * 64] __attribute__((aligned(64))); /* B tiles: rows k/4, 16 channels x 4 bytes */
static int8_t a[TAPS][16 * 64] __attribute__((aligned(64)));          /* A tiles: 16 pixels x 64 bytes a tap */
static int32_t c[CH / 16][16 * 16] __attribute__((aligned(64)));
static int32_t counts_amx[OUT * OUT][CH], counts_ref[OUT * OUT][CH], counts_avx[OUT * OUT][CH];

static int8_t sign_byte(uint64_t word, int bit) { return (word >> bit) & 1 ? -1 : 1; }

/* 16 pixels (pixel p at output (oy, ox0 + p), fewer at a row's end: the rest repeat the last) into A */
AMX_TARGET static void expand_a(int oy, int ox0, int n) {
  const __m512i plus = _mm512_set1_epi8(1), minus = _mm512_set1_epi8(-1);
  for (int t = 0; t < TAPS; t++) {
    const int dy = t / 3, dx = t % 3;
    for (int p = 0; p < 16; p++) {
      const int q = p < n ? p : n - 1;
      const uint64_t word = x[(oy + dy) * MAP + ox0 + q + dx];
      _mm512_store_si512((void *)(a[t] + p * 64), _mm512_mask_blend_epi8((__mmask64)word, plus, minus));
    }
  }
}

/* convert: the counts (K - dot) / 2 into counts_amx, for the check; a kernel's transform would read the dot
   products as they are (dot = K - 2 * count: the value it computes from a count). expand 0: A as left (a bound). */
AMX_TARGET static void amx_conv(int convert, int expand) {
  for (int oy = 0; oy < OUT; oy++)
    for (int ox0 = 0; ox0 < OUT; ox0 += 16) {
      const int n = OUT - ox0 < 16 ? OUT - ox0 : 16;
      if (expand) expand_a(oy, ox0, n);
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int t = 0; t < TAPS; t++) {
        _tile_loadd(4, a[t], 64);
        _tile_loadd(5, bv[0][t], 64);
        _tile_dpbssd(0, 4, 5);
        _tile_loadd(6, bv[1][t], 64);
        _tile_dpbssd(1, 4, 6);
        _tile_loadd(7, bv[2][t], 64);
        _tile_dpbssd(2, 4, 7);
        _tile_loadd(5, bv[3][t], 64);
        _tile_dpbssd(3, 4, 5);
      }
      _tile_stored(0, c[0], 64);
      _tile_stored(1, c[1], 64);
      _tile_stored(2, c[2], 64);
      _tile_stored(3, c[3], 64);
      if (convert)
        for (int p = 0; p < n; p++)
          for (int o = 0; o < CH; o++) counts_amx[oy * OUT + ox0 + p][o] = (K - c[o / 16][p * 16 + o % 16]) / 2;
    }
}

/* The AVX-512 GEMM tile on the same counts: 6 pixels a call, 32 channels (the kernel packed 8 channels side by side) */
static uint64_t bk[2][TAPS][32] __attribute__((aligned(64)));
static void avx_conv(void) {
  for (int oy = 0; oy < OUT; oy++)
    for (int ox0 = 0; ox0 < OUT; ox0 += 6) {
      const int n = OUT - ox0 < 6 ? OUT - ox0 : 6;
      const uint64_t *rows[SOFAR_MR_MAX * 3];
      for (int s = 0; s < 3; s++) /* a segment a kernel row: its 3 taps' words in place */
        for (int r = 0; r < SOFAR_MR_MAX; r++) rows[s * SOFAR_MR_MAX + r] = &x[(oy + s) * MAP + ox0 + (r < n ? r : 0)];
      for (int half = 0; half < 2; half++)
        sofar_bgemm_avx512((size_t)n, 32, 3, 3, rows, &bk[half][0][0], &counts_avx[oy * OUT + ox0][half * 32], CH);
    }
}

AMX_TARGET int main(void) {
  if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)) {
    perror("amx-probe: arch_prctl(ARCH_REQ_XCOMP_PERM)");
    return 1;
  }
  srand(7);
  for (int i = 0; i < MAP * MAP; i++) x[i] = ((uint64_t)rand() << 40) ^ ((uint64_t)rand() << 20) ^ (uint64_t)rand();
  for (int o = 0; o < CH; o++)
    for (int t = 0; t < TAPS; t++) w[o][t] = ((uint64_t)rand() << 40) ^ ((uint64_t)rand() << 20) ^ (uint64_t)rand();
  /* B in the VNNI layout: tile (o/16, t), row r, channel o%16, byte j holds k = 4r + j of tap t */
  for (int o = 0; o < CH; o++)
    for (int t = 0; t < TAPS; t++)
      for (int k = 0; k < 64; k++) bv[o / 16][t][(k / 4) * 64 + (o % 16) * 4 + k % 4] = sign_byte(w[o][t], k);
  /* the AVX-512 tile's layout: per 32 channels, per k word, 8 channels side by side, then the next 8 (bs apart) */
  for (int half = 0; half < 2; half++)
    for (int j = 0; j < 4; j++)
      for (int t = 0; t < TAPS; t++)
        for (int l = 0; l < 8; l++) (&bk[half][0][0])[j * TAPS * 8 + t * 8 + l] = w[half * 32 + j * 8 + l][t];
  for (int p = 0; p < OUT * OUT; p++)
    for (int o = 0; o < CH; o++) {
      int s = 0;
      for (int t = 0; t < TAPS; t++) s += __builtin_popcountll(x[(p / OUT + t / 3) * MAP + p % OUT + t % 3] ^ w[o][t]);
      counts_ref[p][o] = s;
    }
  struct tilecfg cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64;
  _tile_loadconfig(&cfg);
  amx_conv(1, 1);
  avx_conv();
  const int amx_ok = !memcmp(counts_amx, counts_ref, sizeof counts_ref), avx_ok = !memcmp(counts_avx, counts_ref, sizeof counts_ref);
  const double macs = (double)OUT * OUT * CH * K;
  double best[3] = {1e9, 1e9, 1e9};
  for (int r = 0; r < 200; r++) {
    double t0 = now();
    amx_conv(0, 1);
    double t1 = now();
    avx_conv();
    double t2 = now();
    amx_conv(0, 0);
    double t3 = now();
    if (t1 - t0 < best[0]) best[0] = t1 - t0;
    if (t2 - t1 < best[1]) best[1] = t2 - t1;
    if (t3 - t2 < best[2]) best[2] = t3 - t2;
  }
  _tile_release();
  printf("3x3 64->64, 54x54 interior pixels, one thread, the fastest of 200:\n"
         "  AVX-512 GEMM tile (%s): %.4f ms, %.0f G MAC/s\n"
         "  AMX, bits expanded to bytes in each block (%s): %.4f ms, %.0f G MAC/s, %.2fx\n"
         "  AMX, the expansion left out (a bound): %.4f ms, %.0f G MAC/s, %.2fx\n",
         avx_ok ? "exact" : "WRONG", best[1] * 1e3, macs / best[1] / 1e9, amx_ok ? "exact" : "WRONG", best[0] * 1e3,
         macs / best[0] / 1e9, best[1] / best[0], best[2] * 1e3, macs / best[2] / 1e9, best[1] / best[2]);
  return amx_ok && avx_ok ? 0 : 1;
}
