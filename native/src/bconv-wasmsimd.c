/*
 * Binary conv pieces for WebAssembly SIMD128. Popcount: i8x16.popcnt byte counts summed over up to 31
 * words (<= 8 each), then widened with extadd_pairwise (u8 -> u16 -> u32) into 32-bit partial sums of each
 * 64-bit lane. bgemm tile: 2 pixels x 8 output channels (4 v128 of 2 words per pixel).
 */
#include "internal.h"

#if SOFAR_WASM_SIMD
#include <wasm_simd128.h>

#define KBLOCK 31

static inline v128_t widen(v128_t bytes) {
  return wasm_u32x4_extadd_pairwise_u16x8(wasm_u16x8_extadd_pairwise_u8x16(bytes));
}

/* [a0+a1, a2+a3, b0+b1, b2+b3]: the 64-bit lanes' totals of two u32x4 partial sums */
static inline v128_t lane_totals(v128_t a, v128_t b) {
  return wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 2, 4, 6), wasm_i32x4_shuffle(a, b, 1, 3, 5, 7));
}

void sofar_bgemm_wasmsimd(size_t mr, size_t nr, size_t nseg, size_t seg_len, const uint64_t *const *a,
                          const uint64_t *b, int32_t *c, size_t c_stride) {
  const v128_t zero = wasm_i32x4_splat(0);
  v128_t s00 = zero, s01 = zero, s02 = zero, s03 = zero, s10 = zero, s11 = zero, s12 = zero, s13 = zero;
  const uint64_t *bk = b;
  for (size_t sg = 0; sg < nseg; sg++) {
    const uint64_t *a0 = a[sg * SOFAR_MR_MAX], *a1 = a[sg * SOFAR_MR_MAX + 1];
    for (size_t k0 = 0; k0 < seg_len; k0 += KBLOCK) {
      const size_t k1 = sofar_min(seg_len, k0 + KBLOCK);
      v128_t c00 = zero, c01 = zero, c02 = zero, c03 = zero, c10 = zero, c11 = zero, c12 = zero, c13 = zero;
      for (size_t k = k0; k < k1; k++, bk += 8) {
        const v128_t w0 = wasm_v128_load(bk), w1 = wasm_v128_load(bk + 2), w2 = wasm_v128_load(bk + 4),
                     w3 = wasm_v128_load(bk + 6);
        const v128_t x0 = wasm_i64x2_splat((int64_t)a0[k]), x1 = wasm_i64x2_splat((int64_t)a1[k]);
        c00 = wasm_i8x16_add(c00, wasm_i8x16_popcnt(wasm_v128_xor(x0, w0)));
        c01 = wasm_i8x16_add(c01, wasm_i8x16_popcnt(wasm_v128_xor(x0, w1)));
        c02 = wasm_i8x16_add(c02, wasm_i8x16_popcnt(wasm_v128_xor(x0, w2)));
        c03 = wasm_i8x16_add(c03, wasm_i8x16_popcnt(wasm_v128_xor(x0, w3)));
        c10 = wasm_i8x16_add(c10, wasm_i8x16_popcnt(wasm_v128_xor(x1, w0)));
        c11 = wasm_i8x16_add(c11, wasm_i8x16_popcnt(wasm_v128_xor(x1, w1)));
        c12 = wasm_i8x16_add(c12, wasm_i8x16_popcnt(wasm_v128_xor(x1, w2)));
        c13 = wasm_i8x16_add(c13, wasm_i8x16_popcnt(wasm_v128_xor(x1, w3)));
      }
      s00 = wasm_i32x4_add(s00, widen(c00));
      s01 = wasm_i32x4_add(s01, widen(c01));
      s02 = wasm_i32x4_add(s02, widen(c02));
      s03 = wasm_i32x4_add(s03, widen(c03));
      s10 = wasm_i32x4_add(s10, widen(c10));
      s11 = wasm_i32x4_add(s11, widen(c11));
      s12 = wasm_i32x4_add(s12, widen(c12));
      s13 = wasm_i32x4_add(s13, widen(c13));
    }
  }
  v128_t out[2][2] = {{lane_totals(s00, s01), lane_totals(s02, s03)}, {lane_totals(s10, s11), lane_totals(s12, s13)}};
  for (size_t r = 0; r < mr && r < 2; r++) {
    int32_t *cr = c + r * c_stride;
    if (nr == 8) {
      wasm_v128_store(cr, out[r][0]);
      wasm_v128_store(cr + 4, out[r][1]);
    } else {
      int32_t t[8];
      wasm_v128_store(t, out[r][0]);
      wasm_v128_store(t + 4, out[r][1]);
      for (size_t j = 0; j < nr; j++) cr[j] = t[j];
    }
  }
}

/* Channels outer, pixels inner: each 4-channel vector of every per-channel operand is loaded once per block.
   With groups of a multiple of 4 channels, the signs are packed on the fly (4 bits per vector). */
void sofar_bconv_transform_wasmsimd(const struct sofar_bconv_out *e, size_t p0, size_t mr, const int32_t *pc,
                                    const int32_t *const *corr, float *tmp) {
  const int fused = sofar_bconv_out_begin(e, p0, mr, 4, 0, 1);
  const size_t cout = e->cout, yp_c = e->yp_c;
  const v128_t vk = wasm_i32x4_splat(e->kbits);
  const v128_t zero = wasm_f32x4_splat(0.0f);
  const int affine_pack = sofar_out_packs_affine(e);
  const float *res_before = e->res_after ? NULL : e->res, *res_after = e->res_after ? e->res : NULL;
  size_t o = 0;
  for (; o + 4 <= cout; o += 4) {
#define LOAD(vec) (vec ? wasm_v128_load(vec + o) : zero)
    const v128_t mul = LOAD(e->mul), bias = LOAD(e->bias), alpha = LOAD(e->alpha), post = LOAD(e->post);
    const v128_t scale = LOAD(e->scale), ps = LOAD(e->pack_scale), pt = LOAD(e->pack_shift);
#undef LOAD
    const size_t q = o / (fused ? yp_c : 1), gp = o - q * (fused ? yp_c : 1);
    const size_t word = q * e->yp_wg + gp / 64, shift = gp % 64;
    for (size_t r = 0; r < mr; r++) {
      const size_t pix = p0 + r;
      v128_t acc = wasm_i32x4_sub(vk, wasm_i32x4_shl(wasm_v128_load(pc + r * cout + o), 1));
      if (corr && corr[r]) acc = wasm_i32x4_sub(acc, wasm_v128_load(corr[r] + o));
      v128_t v = wasm_f32x4_convert_i32x4(acc);
      if (e->mul) v = wasm_f32x4_mul(v, mul);
      v = wasm_f32x4_add(v, bias);
      if (res_before) v = wasm_f32x4_add(v, wasm_v128_load(res_before + (pix - e->res_p0) * e->rs + o));
      if (e->res2) v = wasm_f32x4_add(v, wasm_v128_load(e->res2 + pix * e->r2s + o));
      if (e->alpha) v = wasm_v128_bitselect(wasm_f32x4_mul(alpha, v), v, wasm_f32x4_lt(v, zero));
      if (e->scale) v = wasm_f32x4_add(wasm_f32x4_mul(v, scale), post);
      else if (e->post) v = wasm_f32x4_add(v, post);
      if (res_after) v = wasm_f32x4_add(v, wasm_v128_load(res_after + (pix - e->res_p0) * e->rs + o));
      if (fused) {
        v128_t s = v;
        if (e->pack_scale) s = wasm_f32x4_mul(s, ps);
        if (affine_pack) s = wasm_f32x4_add(s, pt);
        e->yp[pix * e->yps + word] |= (uint64_t)wasm_i32x4_bitmask(wasm_f32x4_lt(s, zero)) << shift;
        if (e->y) wasm_v128_store(e->y + pix * e->ys + o, v);
      } else {
        wasm_v128_store(sofar_out_row(e, pix, r, tmp) + o, v);
      }
    }
  }
  sofar_bconv_out_finish(e, p0, mr, pc, corr, tmp, o, fused, sofar_pack_row_wasmsimd);
}

void sofar_pack_row_wasmsimd(const float *x, const float *scale, const float *shift, uint64_t *y, size_t channels) {
  const v128_t zero = wasm_f32x4_splat(0.0f);
  size_t w0 = 0;
  for (; w0 + 64 <= channels; w0 += 64) {
    uint64_t word = 0;
    for (size_t q = 0; q < 16; q++) {
      const size_t c0 = w0 + q * 4;
      v128_t v = wasm_v128_load(x + c0);
      if (scale) v = wasm_f32x4_mul(v, wasm_v128_load(scale + c0));
      if (shift) v = wasm_f32x4_add(v, wasm_v128_load(shift + c0));
      word |= (uint64_t)wasm_i32x4_bitmask(wasm_f32x4_lt(v, zero)) << (q * 4);
    }
    y[w0 / 64] = word;
  }
  if (w0 < channels)
    sofar_pack_row_scalar(x + w0, scale ? scale + w0 : NULL, shift ? shift + w0 : NULL, y + w0 / 64, channels - w0);
}

#endif
