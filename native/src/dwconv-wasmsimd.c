/* Depthwise conv, one output pixel, WebAssembly SIMD128: 8 channels a step (two f32x4), scalar tail; mul then add. */
#include "internal.h"

#if SOFAR_WASM_SIMD
#include <wasm_simd128.h>

static inline v128_t finish(v128_t acc, const float *bias, const float *res, int relu, size_t q) {
  if (bias) acc = wasm_f32x4_add(acc, wasm_v128_load(bias + q));
  if (res) acc = wasm_f32x4_add(acc, wasm_v128_load(res + q));
  if (relu) acc = wasm_v128_and(acc, wasm_f32x4_gt(acc, wasm_f32x4_splat(0.0f)));
  return acc;
}

void sofar_dwconv_wasmsimd(size_t c, size_t ntaps, const float *const *taps, const float *w, const float *bias,
                           const float *res, float *y, int relu) {
  size_t q = 0;
  for (; q + 8 <= c; q += 8) {
    v128_t a0 = wasm_f32x4_splat(0.0f), a1 = a0;
    for (size_t t = 0; t < ntaps; t++) {
      if (!taps[t]) continue;
      const float *xt = taps[t] + q, *wt = w + t * c + q;
      a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(wasm_v128_load(xt), wasm_v128_load(wt)));
      a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(wasm_v128_load(xt + 4), wasm_v128_load(wt + 4)));
    }
    wasm_v128_store(y + q, finish(a0, bias, res, relu, q));
    wasm_v128_store(y + q + 4, finish(a1, bias, res, relu, q + 4));
  }
  sofar_dwconv_range_scalar(q, c, c, ntaps, taps, w, bias, res, y, relu);
}
#endif
