/*
 * sofar_pack_signs_affine: the signs of an inference batch norm, packed, without storing the batch norm.
 * A DenseNet unit is BN -> sign -> binary conv over a wide concatenation; computing x*scale + shift and its
 * sign bit in one pass reads the concatenation once and writes only bits. The float arithmetic is the
 * affine kernel's (v * scale + shift, no contraction), so the bits equal sign(sofar_affine_f32(x)).
 */
#include "internal.h"

struct affine_pack {
  const float *x, *scale, *shift;
  uint64_t *y;
  size_t channels, groups, cg, wg, xs;
  const struct sofar_ukernels *uk;
};

/* pixels [begin, end): each pixel's words are written by exactly one task */
static void affine_pack_task(void *ctx, size_t begin, size_t end, int thread) {
  (void)thread;
  const struct affine_pack *a = (const struct affine_pack *)ctx;
  if (a->groups == 1) {
    sofar_pack_rows(a->uk, a->x + begin * a->xs, a->xs, a->scale, a->shift, a->y + begin * a->wg, a->wg, a->cg, end - begin);
    return;
  }
  for (size_t pix = begin; pix < end; pix++) {
    const float *xr = a->x + pix * a->xs;
    uint64_t *yr = a->y + pix * a->groups * a->wg;
    for (size_t q = 0; q < a->groups; q++)
      a->uk->pack_row(xr + q * a->cg, a->scale ? a->scale + q * a->cg : NULL, a->shift ? a->shift + q * a->cg : NULL,
                      yr + q * a->wg, a->cg);
  }
}

/* The pass over x that packs x*scale + shift into y; 0 where the arguments are not a map (nothing to do). */
static int affine_pack_of(const float *x, const float *scale, const float *shift, uint64_t *y, int pixels, int channels,
                          int x_stride, int groups, struct affine_pack *a) {
  if (pixels <= 0 || channels <= 0 || groups <= 0 || channels % groups) return 0;
  if (x_stride != 0 && x_stride < channels) return 0;
  a->x = x;
  a->scale = scale;
  a->shift = shift;
  a->y = y;
  a->channels = (size_t)channels;
  a->groups = (size_t)groups;
  a->cg = (size_t)(channels / groups);
  a->wg = sofar_div_up(a->cg, 64);
  a->xs = x_stride ? (size_t)x_stride : (size_t)channels;
  a->uk = sofar_ukernels_current();
  return 1;
}

void sofar_pack_signs_affine(const float *x, const float *scale, const float *shift, uint64_t *y, int pixels,
                             int channels, int x_stride, int groups) {
  struct affine_pack a;
  if (affine_pack_of(x, scale, shift, y, pixels, channels, x_stride, groups, &a))
    sofar_parallel_for((size_t)pixels, affine_pack_task, &a);
}

/* Two batch norms of one map (a DRF layer's two columns read the same concatenation): blocks of rows of about
   PACK2_BLOCK_BYTES, packed with the first, then with the second while they are in L1. */
#define PACK2_BLOCK_BYTES 16384

struct affine_pack2 {
  struct affine_pack first, second;
  size_t rows; /* a block */
};

static void affine_pack2_task(void *ctx, size_t begin, size_t end, int thread) {
  const struct affine_pack2 *a = (const struct affine_pack2 *)ctx;
  for (size_t b0 = begin; b0 < end; b0 += a->rows) {
    const size_t b1 = sofar_min(b0 + a->rows, end);
    affine_pack_task((void *)&a->first, b0, b1, thread);
    affine_pack_task((void *)&a->second, b0, b1, thread);
  }
}

void sofar_pack_signs_affine2(const float *x, const float *scale, const float *shift, uint64_t *y, const float *scale2,
                              const float *shift2, uint64_t *y2, int pixels, int channels, int x_stride, int groups) {
  struct affine_pack2 a;
  if (!affine_pack_of(x, scale, shift, y, pixels, channels, x_stride, groups, &a.first)) return;
  a.second = a.first;
  a.second.scale = scale2;
  a.second.shift = shift2;
  a.second.y = y2;
  a.rows = sofar_max(1, PACK2_BLOCK_BYTES / (a.first.xs * sizeof(float)));
  sofar_parallel_for((size_t)pixels, affine_pack2_task, &a);
}

