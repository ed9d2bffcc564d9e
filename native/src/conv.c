/*
 * Float convolution and dense drivers (portable C) over the per-ISA float GEMM tiles.
 *
 * Packed weights (sofar_conv2d_f32_pack_weights): [groups][ceil(og/16)][K][16] floats, K = kh*kw*cg in
 * (kernel row, kernel column, channel) order, the order of an NHWC im2col row; columns past og are 0.
 * The conv runs over blocks of MR output pixels: each block's im2col rows (all groups) are built in the
 * thread's scratch slot (MR x groups*K floats, in L1), then every column tile of every group is computed
 * from them; a 1x1 conv without padding reads its rows from x in place.
 *
 * Few-input-channel convs (the RGB stems: 7x7 or 3x3 over 3 channels, stride 2) run in bands of output rows
 * instead: each task copies its band's input rows, zero-padded, into its scratch slot, so every output pixel
 * reads its kh rows of kw*cin floats in place (no im2col and no border cases), with the same FMAs in the same
 * order as the GEMM path. AVX-512 computes each output row with wide register tiles (sofar_conv_stem_row_avx512).
 */
#include "internal.h"

struct conv_plan {
  struct sofar_conv_geom g;
  size_t k;    /* GEMM depth per group = taps*cg */
  size_t np16; /* panels of 16 output channels per group */
  int direct;
  int stem; /* banded over a padded copy of the input rows (STEM_MAX_CIN) */
  size_t wp; /* stem: padded input row width in pixels */
  size_t slot_bytes;
};

#define STEM_MAX_CIN 4
#define STEM_BAND 8 /* output rows per stem task */
/* Zero floats after a stem band's rows: a register block of up to SOFAR_STEM_PB_MAX pixels past the row's end
   reads into them (those pixels are not stored). */
static size_t stem_slack(const struct sofar_conv_geom *g) { return (SOFAR_STEM_PB_MAX - 1) * g->sw * g->cin; }
static size_t stem_tasks(const struct sofar_conv_geom *g) { return g->n * sofar_div_up(g->ho, STEM_BAND); }
static size_t stem_band_floats(const struct conv_plan *p) {
  const struct sofar_conv_geom *g = &p->g;
  const size_t rows = (STEM_BAND - 1) * g->sh + g->kh;
  return rows * p->wp * g->cin + stem_slack(g);
}

static int plan_init(struct conv_plan *p, int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw,
                     int pt, int pl, int pb, int pr, int dh, int dw, int groups) {
  if (!sofar_conv_geom_init(&p->g, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups)) return 0;
  const struct sofar_conv_geom *g = &p->g;
  p->k = g->taps * g->cg;
  p->np16 = sofar_div_up(g->og, 16);
  p->direct = g->kh == 1 && g->kw == 1 && g->pt == 0 && g->pl == 0 && g->pb == 0 && g->pr == 0;
  p->stem = g->groups == 1 && g->dh == 1 && g->dw == 1 && g->cin <= STEM_MAX_CIN &&
            g->kh <= SOFAR_MAX_SEGS;
  p->wp = (g->wo - 1) * g->sw + g->kw;
  if (p->stem) p->slot_bytes = sofar_round_up(stem_band_floats(p) * sizeof(float), SOFAR_ALIGN);
  else p->slot_bytes = p->direct ? 0 : sofar_round_up(SOFAR_MR_MAX * g->groups * p->k * sizeof(float), SOFAR_ALIGN);
  return 1;
}

size_t sofar_conv2d_f32_packed_weights_bytes(int cout, int cin, int kh, int kw, int groups) {
  struct conv_plan p;
  if (!plan_init(&p, 1, kh, kw, cin, cout, kh, kw, 1, 1, 0, 0, 0, 0, 1, 1, groups)) return 0;
  return p.g.groups * p.np16 * p.k * 16 * sizeof(float);
}

void sofar_conv2d_f32_pack_weights(const float *w_oihw, float *packed, int cout, int cin, int kh, int kw, int groups) {
  struct conv_plan p;
  if (!plan_init(&p, 1, kh, kw, cin, cout, kh, kw, 1, 1, 0, 0, 0, 0, 1, 1, groups)) return;
  const struct sofar_conv_geom *g = &p.g;
  for (size_t gi = 0; gi < g->groups; gi++)
    for (size_t pn = 0; pn < p.np16; pn++)
      for (size_t i = 0; i < g->kh; i++)
        for (size_t j = 0; j < g->kw; j++)
          for (size_t ch = 0; ch < g->cg; ch++) {
            const size_t kk = (i * g->kw + j) * g->cg + ch;
            float *dst = packed + ((gi * p.np16 + pn) * p.k + kk) * 16;
            for (size_t lane = 0; lane < 16; lane++) {
              const size_t o = pn * 16 + lane;
              dst[lane] = o < g->og ? w_oihw[(((gi * g->og + o) * g->cg + ch) * g->kh + i) * g->kw + j] : 0.0f;
            }
          }
}

size_t sofar_conv2d_f32_scratch_bytes(int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw, int pt,
                                      int pl, int pb, int pr, int dh, int dw, int groups) {
  struct conv_plan p;
  if (!plan_init(&p, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups)) return 0;
  const size_t tasks = p.stem ? stem_tasks(&p.g) : p.g.pixels;
  return SOFAR_ALIGN + sofar_slots(tasks) * p.slot_bytes;
}

/* The signs of each output row (of y*scale + shift where given, as sofar_pack_signs_affine computes them) packed
   into yp, words a pixel, by the thread that wrote the row while it is in cache (yp NULL: none). */
struct out_pack {
  uint64_t *yp;
  const float *scale, *shift;
  size_t words;
};

struct conv_ctx {
  const struct conv_plan *p;
  const struct sofar_ukernels *uk;
  const float *x, *pw, *bias, *res;
  const float *alpha; /* stem path only: a PReLU after the conv (NULL: none) */
  float *y;
  size_t ys;
  int relu;
  int x_nchw; /* stem path only: x is the model's NCHW input */
  unsigned char *slots;
  struct out_pack pack; /* stem path only (stem_task): its output rows' signs */
};

/* A call's operands over plan p (y_stride 0: the output's channel count); scratch holds the threads' slots. */
static struct conv_ctx conv_ctx_of(const struct conv_plan *p, const float *x, const float *packed_weights,
                                   const float *bias, const float *residual, float *y, int y_stride, int relu,
                                   int x_nchw, void *scratch) {
  struct conv_ctx c;
  c.p = p;
  c.uk = sofar_ukernels_current();
  c.x = x;
  c.pw = packed_weights;
  c.bias = bias;
  c.res = residual;
  c.alpha = NULL;
  c.y = y;
  c.ys = y_stride ? (size_t)y_stride : p->g.cout;
  c.relu = relu != 0;
  c.x_nchw = x_nchw != 0;
  c.slots = (unsigned char *)sofar_align_ptr(scratch);
  c.pack = (struct out_pack){NULL, NULL, NULL, 0};
  return c;
}

/* Packs the signs of output row `row` (wo pixels of cout channels at y_row, ys apart), if the call packs. */
static void pack_out_row(const struct sofar_ukernels *uk, const struct out_pack *pk, const float *y_row, size_t ys,
                         size_t row, size_t wo, size_t cout) {
  if (pk->yp) sofar_pack_rows(uk, y_row, ys, pk->scale, pk->shift, pk->yp + row * wo * pk->words, pk->words, cout, wo);
}

/* Output pixel pix's image in x, and its output row and column. */
static const float *image_of(const struct sofar_conv_geom *g, const float *x, size_t pix, size_t *oh, size_t *ow) {
  const size_t hw_out = g->ho * g->wo, rem = pix % hw_out;
  *oh = rem / g->wo, *ow = rem % g->wo;
  return x + pix / hw_out * g->h * g->w * g->cin;
}

static void im2col_row(const struct conv_plan *p, const float *x, size_t pix, float *dst) {
  const struct sofar_conv_geom *g = &p->g;
  size_t oh, ow;
  const float *ximg = image_of(g, x, pix, &oh, &ow);
  for (size_t i = 0; i < g->kh; i++) {
    const ptrdiff_t ih = (ptrdiff_t)(oh * g->sh + i * g->dh) - (ptrdiff_t)g->pt;
    const int row_in = ih >= 0 && ih < (ptrdiff_t)g->h;
    if (g->groups == 1 && g->dw == 1) {
      /* the kernel row's taps are one contiguous run of kw*cin floats in x, clipped at the borders */
      float *d = dst + i * g->kw * g->cin;
      const ptrdiff_t iw0 = (ptrdiff_t)(ow * g->sw) - (ptrdiff_t)g->pl;
      ptrdiff_t j0 = iw0 < 0 ? -iw0 : 0, j1 = (ptrdiff_t)g->w - iw0;
      if (j1 > (ptrdiff_t)g->kw) j1 = (ptrdiff_t)g->kw;
      if (!row_in || j1 <= j0) {
        memset(d, 0, g->kw * g->cin * sizeof(float));
        continue;
      }
      if (j0 > 0) memset(d, 0, (size_t)j0 * g->cin * sizeof(float));
      memmove(d + (size_t)j0 * g->cin, ximg + ((size_t)ih * g->w + (size_t)(iw0 + j0)) * g->cin,
             (size_t)(j1 - j0) * g->cin * sizeof(float));
      if ((size_t)j1 < g->kw) memset(d + (size_t)j1 * g->cin, 0, (g->kw - (size_t)j1) * g->cin * sizeof(float));
      continue;
    }
    /* Each tap's cg floats per group copied in place of a libc call: a grouped conv's groups hold a few
       channels (MeliusNet's stem: 4 and 8), and a call per tap and group cost more than the GEMM. */
    const size_t cg = g->cg;
    for (size_t j = 0; j < g->kw; j++) {
      const ptrdiff_t iw = (ptrdiff_t)(ow * g->sw + j * g->dw) - (ptrdiff_t)g->pl;
      const size_t t = i * g->kw + j;
      const int in = row_in && iw >= 0 && iw < (ptrdiff_t)g->w;
      const float *src = in ? ximg + ((size_t)ih * g->w + (size_t)iw) * g->cin : NULL;
      for (size_t gi = 0; gi < g->groups; gi++) {
        float *d = dst + gi * p->k + t * cg;
        if (in)
          for (size_t q = 0; q < cg; q++) d[q] = src[gi * cg + q];
        else
          for (size_t q = 0; q < cg; q++) d[q] = 0.0f;
      }
    }
  }
}

/* A grouped conv's im2col row in the input's own layout, kh*kw taps of cin floats (zero where a tap falls in
   the padding), so that group gi reads every tap at the same offset gi*cg as in x itself. */
static void im2col_taps(const struct conv_plan *p, const float *x, size_t pix, float *dst) {
  const struct sofar_conv_geom *g = &p->g;
  size_t oh, ow;
  const float *ximg = image_of(g, x, pix, &oh, &ow);
  for (size_t i = 0; i < g->kh; i++) {
    const ptrdiff_t ih = (ptrdiff_t)(oh * g->sh + i * g->dh) - (ptrdiff_t)g->pt;
    for (size_t j = 0; j < g->kw; j++, dst += g->cin) {
      const ptrdiff_t iw = (ptrdiff_t)(ow * g->sw + j * g->dw) - (ptrdiff_t)g->pl;
      if (ih >= 0 && ih < (ptrdiff_t)g->h && iw >= 0 && iw < (ptrdiff_t)g->w)
        memcpy(dst, ximg + ((size_t)ih * g->w + (size_t)iw) * g->cin, g->cin * sizeof(float));
      else
        memset(dst, 0, g->cin * sizeof(float));
    }
  }
}

static void conv_task(void *vctx, size_t begin, size_t end, int slot) {
  const struct conv_ctx *c = (const struct conv_ctx *)vctx;
  const struct conv_plan *p = c->p;
  const struct sofar_conv_geom *g = &p->g;
  const struct sofar_ukernels *uk = c->uk;
  const size_t mr_max = uk->sgemm_mr, nr_max = uk->sgemm_nr;
  float *buf = (float *)(c->slots + (size_t)slot * p->slot_bytes);
  const size_t hw_out = g->ho * g->wo, kh = g->kh, kw = g->kw, cin = g->cin, K = p->k, groups = g->groups;
  /* Segments read in place where the layout allows: one per kernel row (kw*cin contiguous floats of x) without
     groups, one per tap (a group's cg floats) with groups; a group's segments then start cg floats after the
     previous group's, as in x. Otherwise one im2col segment of all groups' K floats, group after group. */
  const int seg = !p->direct && groups == 1 && g->dw == 1 && kh <= SOFAR_MAX_SEGS;
  const int tapseg = !p->direct && groups > 1 && g->taps <= SOFAR_MAX_SEGS;
  const size_t nseg = seg ? kh : tapseg ? g->taps : 1, seg_len = seg ? kw * cin : tapseg ? g->cg : K;
  const size_t group_step = tapseg || p->direct ? g->cg : K;
  const int grouped_tile = groups > 1 && uk->sgemm_groups && g->og <= 8;
  for (size_t blk = begin; blk < end; blk++) {
    const size_t p0 = blk * mr_max, mr = sofar_min(mr_max, g->pixels - p0);
    const float *rows[SOFAR_MAX_SEGS * SOFAR_MR_MAX] = {0};
    size_t img = p0 / hw_out, oh = p0 % hw_out / g->wo, ow = p0 % g->wo; /* then counted up */
    for (size_t r = 0; r < mr; r++) {
      const ptrdiff_t ih0 = (ptrdiff_t)(oh * g->sh) - (ptrdiff_t)g->pt, iw0 = (ptrdiff_t)(ow * g->sw) - (ptrdiff_t)g->pl;
      const int interior = ih0 >= 0 && iw0 >= 0 && (size_t)ih0 + (kh - 1) * g->dh < g->h &&
                           (size_t)iw0 + (kw - 1) * g->dw < g->w;
      const float *ximg = c->x + img * g->h * g->w * cin;
      if (p->direct) {
        rows[r] = c->x + ((img * g->h + oh * g->sh) * g->w + ow * g->sw) * cin;
      } else if (seg && interior) {
        for (size_t i = 0; i < kh; i++) rows[i * SOFAR_MR_MAX + r] = ximg + (((size_t)ih0 + i * g->dh) * g->w + (size_t)iw0) * cin;
      } else if (tapseg) {
        const float *base = interior ? ximg + ((size_t)ih0 * g->w + (size_t)iw0) * cin : NULL;
        float *dst = buf + r * groups * K;
        if (!interior) im2col_taps(p, c->x, p0 + r, dst);
        for (size_t i = 0, t = 0; i < kh; i++)
          for (size_t j = 0; j < kw; j++, t++)
            rows[t * SOFAR_MR_MAX + r] = interior ? base + (i * g->dh * g->w + j * g->dw) * cin : dst + t * cin;
      } else {
        float *dst = buf + r * groups * K;
        im2col_row(p, c->x, p0 + r, dst);
        for (size_t i = 0; i < nseg; i++) rows[i * SOFAR_MR_MAX + r] = dst + i * seg_len;
      }
      if (++ow == g->wo) {
        ow = 0;
        if (++oh == g->ho) oh = 0, img++;
      }
    }
    for (size_t i = 0; i < nseg; i++)
      for (size_t r = mr; r < SOFAR_MR_MAX; r++) rows[i * SOFAR_MR_MAX + r] = rows[i * SOFAR_MR_MAX];
    float *y0 = c->y + p0 * c->ys;
    const float *res0 = c->res ? c->res + p0 * c->ys : NULL;
    if (grouped_tile) {
      uk->sgemm_groups(mr, g->og, groups, nseg, seg_len, rows, group_step, c->pw, p->np16 * K * 16, y0, c->ys, c->bias,
                       res0, c->relu);
      continue;
    }
    for (size_t gi = 0; gi < groups; gi++) {
      const float *grows[SOFAR_MAX_SEGS * SOFAR_MR_MAX];
      const float *const *ga = rows;
      if (gi > 0) { /* group gi's part of each segment */
        for (size_t i = 0; i < nseg * SOFAR_MR_MAX; i++) grows[i] = rows[i] + gi * group_step;
        ga = grows;
      }
      for (size_t n0 = 0; n0 < g->og; n0 += nr_max) {
        const size_t nr = sofar_min(nr_max, g->og - n0), col = gi * g->og + n0;
        uk->sgemm(mr, nr, nseg, seg_len, ga, c->pw + (gi * p->np16 + n0 / 16) * K * 16, 16, K * 16, y0 + col, c->ys,
                  c->bias ? c->bias + col : NULL, res0 ? res0 + col : NULL, c->relu);
      }
    }
  }
}

/* A 1x1 conv without padding (groups 1), one task per block of pixels and tile of output channels: a
   few pixels (a dense layer's batch as a 1x1 map) still spread over the threads, each streaming its columns'
   packed weights. The same tile calls as conv_task, so the same floats. */
static void direct_task(void *vctx, size_t begin, size_t end, int slot) {
  (void)slot;
  const struct conv_ctx *c = (const struct conv_ctx *)vctx;
  const struct conv_plan *p = c->p;
  const struct sofar_conv_geom *g = &p->g;
  const size_t mr_max = c->uk->sgemm_mr, nr_max = c->uk->sgemm_nr, tiles = sofar_div_up(g->og, nr_max);
  for (size_t t = begin; t < end; t++) {
    const size_t p0 = t / tiles * mr_max, n0 = t % tiles * nr_max, mr = sofar_min(mr_max, g->pixels - p0);
    const float *rows[SOFAR_MR_MAX];
    size_t img = p0 / (g->ho * g->wo), oh = p0 % (g->ho * g->wo) / g->wo, ow = p0 % g->wo;
    for (size_t r = 0; r < SOFAR_MR_MAX; r++) {
      rows[r] = r < mr ? c->x + ((img * g->h + oh * g->sh) * g->w + ow * g->sw) * g->cin : rows[0];
      if (++ow == g->wo) {
        ow = 0;
        if (++oh == g->ho) oh = 0, img++;
      }
    }
    c->uk->sgemm(mr, sofar_min(nr_max, g->og - n0), 1, p->k, rows, c->pw + n0 * p->k, 16, p->k * 16,
                 c->y + p0 * c->ys + n0, c->ys, c->bias ? c->bias + n0 : NULL, c->res ? c->res + p0 * c->ys + n0 : NULL,
                 c->relu);
  }
}

/* The band's input rows ih0.. (rows outside the input are zero), each padded to wp pixels, then the slack. */
static void stem_fill(const struct conv_plan *p, const struct sofar_ukernels *uk, const float *ximg, int nchw,
                      ptrdiff_t ih0, size_t rows, float *buf) {
  const struct sofar_conv_geom *g = &p->g;
  const size_t cin = g->cin, row = p->wp * cin;
  const size_t left = sofar_min(g->pl, p->wp), inner = g->pl < p->wp ? sofar_min(g->w, p->wp - g->pl) : 0;
  for (size_t r = 0; r < rows; r++) {
    const ptrdiff_t ih = ih0 + (ptrdiff_t)r;
    float *d = buf + r * row;
    if (ih < 0 || ih >= (ptrdiff_t)g->h) {
      memset(d, 0, row * sizeof(float));
      continue;
    }
    memset(d, 0, left * cin * sizeof(float));
    if (nchw && cin == 3) { /* RGB: the variant's interleave, or written in order */
      const size_t plane = g->h * g->w;
      const float *__restrict r = ximg + (size_t)ih * g->w, *__restrict gr = r + plane, *__restrict b = gr + plane;
      float *__restrict o = d + left * 3;
      if (uk->interleave3) {
        uk->interleave3(r, gr, b, o, inner);
      } else {
        for (size_t iw = 0; iw < inner; iw++) {
          o[3 * iw] = r[iw];
          o[3 * iw + 1] = gr[iw];
          o[3 * iw + 2] = b[iw];
        }
      }
    } else if (nchw) /* interleave the channel planes' rows: the NCHW -> NHWC transpose, fused */
      for (size_t ch = 0; ch < cin; ch++) {
        const float *src = ximg + (ch * g->h + (size_t)ih) * g->w;
        for (size_t iw = 0; iw < inner; iw++) d[(left + iw) * cin + ch] = src[iw];
      }
    else
      memcpy(d + left * cin, ximg + (size_t)ih * g->w * cin, inner * cin * sizeof(float));
    memset(d + (left + inner) * cin, 0, (p->wp - left - inner) * cin * sizeof(float));
  }
  memset(buf + rows * row, 0, stem_slack(g) * sizeof(float));
}

/* One output row from its padded input rows (row: the first of its kh rows), through the ISA's GEMM tile. */
static void stem_row_sgemm(const struct conv_ctx *c, const float *row, float *y, const float *res) {
  const struct conv_plan *p = c->p;
  const struct sofar_conv_geom *g = &p->g;
  const struct sofar_ukernels *uk = c->uk;
  const size_t mr_max = uk->sgemm_mr, nr_max = uk->sgemm_nr, rs = p->wp * g->cin, ps = g->sw * g->cin;
  for (size_t ow = 0; ow < g->wo; ow += mr_max) {
    const size_t mr = sofar_min(mr_max, g->wo - ow);
    const float *rows[SOFAR_MAX_SEGS * SOFAR_MR_MAX];
    for (size_t i = 0; i < g->kh; i++)
      for (size_t r = 0; r < SOFAR_MR_MAX; r++) rows[i * SOFAR_MR_MAX + r] = row + i * rs + (ow + (r < mr ? r : 0)) * ps;
    for (size_t n0 = 0; n0 < g->og; n0 += nr_max)
      uk->sgemm(mr, sofar_min(nr_max, g->og - n0), g->kh, g->kw * g->cin, rows, c->pw + n0 * p->k, 16, p->k * 16,
                y + ow * c->ys + n0, c->ys, c->bias ? c->bias + n0 : NULL, res ? res + ow * c->ys + n0 : NULL, c->relu);
  }
}

/* Conv rows [oh0, oh1) of image img (buf: a slot holding their padded input rows); row oh goes to
   y + (oh - oh0)*wo*ys, its residual (if any) read from res likewise. */
static void stem_rows(const struct conv_ctx *c, size_t img, size_t oh0, size_t oh1, float *buf, float *y,
                      const float *res) {
  const struct conv_plan *p = c->p;
  const struct sofar_conv_geom *g = &p->g;
  const size_t rs = p->wp * g->cin, yrow = g->wo * c->ys;
  stem_fill(p, c->uk, c->x + img * g->h * g->w * g->cin, c->x_nchw, (ptrdiff_t)(oh0 * g->sh) - (ptrdiff_t)g->pt,
            (oh1 - oh0 - 1) * g->sh + g->kh, buf);
  for (size_t oh = oh0; oh < oh1; oh++) {
    const float *row = buf + (oh - oh0) * g->sh * rs, *r = res ? res + (oh - oh0) * yrow : NULL;
    float *yr = y + (oh - oh0) * yrow;
#if SOFAR_X86
    if (c->uk->isa == SOFAR_ISA_AVX512) {
      sofar_conv_stem_row_avx512(g->wo, row, g->sw * g->cin, rs, g->kh, g->kw * g->cin, c->pw, p->k, g->og, yr,
                                 c->ys, c->bias, r, c->relu);
    } else
#endif
      stem_row_sgemm(c, row, yr, r);
    /* while the row is in cache: no pass over the stored map */
    if (c->alpha) sofar_prelu_rows(yr, g->wo, g->cout, c->ys, c->alpha);
    pack_out_row(c->uk, &c->pack, yr, c->ys, img * g->ho + oh, g->wo, g->cout);
  }
}

static void stem_task(void *vctx, size_t begin, size_t end, int slot) {
  const struct conv_ctx *c = (const struct conv_ctx *)vctx;
  const struct sofar_conv_geom *g = &c->p->g;
  const size_t bands = sofar_div_up(g->ho, STEM_BAND);
  float *buf = (float *)(c->slots + (size_t)slot * c->p->slot_bytes);
  for (size_t t = begin; t < end; t++) {
    const size_t img = t / bands, oh0 = t % bands * STEM_BAND, oh1 = sofar_min(oh0 + STEM_BAND, g->ho);
    const size_t at = (img * g->ho + oh0) * g->wo * c->ys;
    stem_rows(c, img, oh0, oh1, buf, c->y + at, c->res ? c->res + at : NULL);
  }
}

void sofar_conv2d_f32(const float *x, const float *packed_weights, const float *bias, const float *residual, float *y,
                      void *scratch, int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw, int pt,
                      int pl, int pb, int pr, int dh, int dw, int groups, int y_stride, int relu) {
  struct conv_plan p;
  if (!plan_init(&p, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups)) return;
  if (y_stride != 0 && (y_stride < 0 || (size_t)y_stride < p.g.cout)) return;
  struct conv_ctx c = conv_ctx_of(&p, x, packed_weights, bias, residual, y, y_stride, relu, 0, scratch);
  const size_t blocks = sofar_div_up(p.g.pixels, c.uk->sgemm_mr);
  if (p.stem) sofar_parallel_for(stem_tasks(&p.g), stem_task, &c);
  else if (p.direct && p.g.groups == 1) sofar_parallel_for(blocks * sofar_div_up(p.g.og, c.uk->sgemm_nr), direct_task, &c);
  else sofar_parallel_for(blocks, conv_task, &c);
}

/*
 * A 1x1 conv over the 2x2 /2 average pool of x: tasks are blocks of output pixels, as in conv_task; each
 * block's pooled rows are computed into the thread's slot (sofar_avgpool_f32's arithmetic) and every column
 * tile reads them there, with the same tile calls as the 1x1 conv over a stored pooled map: the same floats.
 */
struct pool_conv_ctx {
  struct conv_ctx conv; /* the conv's plan is over the pooled map */
  size_t h, w;          /* x's size */
};

static void avgpool2_conv_task(void *vctx, size_t begin, size_t end, int slot) {
  const struct pool_conv_ctx *pc = (const struct pool_conv_ctx *)vctx;
  const struct conv_ctx *c = &pc->conv;
  const struct conv_plan *p = c->p;
  const struct sofar_conv_geom *g = &p->g;
  const struct sofar_ukernels *uk = c->uk;
  const size_t mr_max = uk->sgemm_mr, nr_max = uk->sgemm_nr, cin = g->cin, hw_out = g->ho * g->wo;
  float *buf = (float *)(c->slots + (size_t)slot * p->slot_bytes);
  for (size_t blk = begin; blk < end; blk++) {
    const size_t p0 = blk * mr_max, mr = sofar_min(mr_max, g->pixels - p0);
    const float *rows[SOFAR_MR_MAX];
    for (size_t r = 0; r < SOFAR_MR_MAX; r++) {
      if (r >= mr) {
        rows[r] = rows[0];
        continue;
      }
      const size_t pix = p0 + r, img = pix / hw_out, oh = pix % hw_out / g->wo, ow = pix % g->wo;
      sofar_avgpool2_cell_f32(c->x + ((img * pc->h + 2 * oh) * pc->w + 2 * ow) * cin, pc->w * cin, cin, buf + r * cin);
      rows[r] = buf + r * cin;
    }
    for (size_t n0 = 0; n0 < g->og; n0 += nr_max)
      uk->sgemm(mr, sofar_min(nr_max, g->og - n0), 1, p->k, rows, c->pw + n0 * p->k, 16, p->k * 16,
                c->y + p0 * c->ys + n0, c->ys, c->bias ? c->bias + n0 : NULL, c->res ? c->res + p0 * c->ys + n0 : NULL,
                c->relu);
  }
}

/* The plan of the 1x1 conv over the pooled map, with a slot for a block's pooled rows. */
static int avgpool2_conv_plan(struct conv_plan *p, int n, int h, int w, int cin, int cout) {
  if (h < 2 || w < 2 || !plan_init(p, n, h / 2, w / 2, cin, cout, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1)) return 0;
  p->slot_bytes = sofar_round_up(SOFAR_MR_MAX * p->g.cin * sizeof(float), SOFAR_ALIGN);
  return 1;
}

size_t sofar_conv2d_f32_avgpool2_scratch_bytes(int n, int h, int w, int cin, int cout) {
  struct conv_plan p;
  if (!avgpool2_conv_plan(&p, n, h, w, cin, cout)) return 0;
  return SOFAR_ALIGN + sofar_slots(p.g.pixels) * p.slot_bytes;
}

void sofar_conv2d_f32_avgpool2(const float *x, const float *packed_weights, const float *bias, const float *residual,
                               float *y, void *scratch, int n, int h, int w, int cin, int cout, int y_stride,
                               int relu) {
  struct conv_plan p;
  if (!avgpool2_conv_plan(&p, n, h, w, cin, cout)) return;
  if (y_stride != 0 && (y_stride < 0 || (size_t)y_stride < p.g.cout)) return;
  struct pool_conv_ctx c;
  c.conv = conv_ctx_of(&p, x, packed_weights, bias, residual, y, y_stride, relu, 0, scratch);
  c.h = (size_t)h;
  c.w = (size_t)w;
  sofar_parallel_for(sofar_div_up(p.g.pixels, c.conv.uk->sgemm_mr), avgpool2_conv_task, &c);
}

struct dense_ctx {
  const struct sofar_ukernels *uk;
  const float *x, *w, *bias;
  float *y;
  size_t n, in, out, ntiles;
};

static void dense_task(void *vctx, size_t begin, size_t end, int slot) {
  (void)slot;
  const struct dense_ctx *c = (const struct dense_ctx *)vctx;
  const size_t mr_max = c->uk->sgemm_mr, nr_max = c->uk->sgemm_nr;
  for (size_t t = begin; t < end; t++) {
    const size_t r0 = (t / c->ntiles) * mr_max, n0 = (t % c->ntiles) * nr_max;
    const size_t mr = sofar_min(mr_max, c->n - r0), nr = sofar_min(nr_max, c->out - n0);
    const float *rows[SOFAR_MR_MAX];
    for (size_t r = 0; r < SOFAR_MR_MAX; r++) rows[r] = c->x + (r0 + (r < mr ? r : 0)) * c->in;
    c->uk->sgemm(mr, nr, 1, c->in, rows, c->w + n0, c->out, 16, c->y + r0 * c->out + n0, c->out,
                 c->bias ? c->bias + n0 : NULL, NULL, 0);
  }
}

void sofar_dense_f32(const float *x, const float *w, const float *bias, float *y, int n, int in, int out) {
  if (n <= 0 || in <= 0 || out <= 0) return;
  struct dense_ctx c;
  c.uk = sofar_ukernels_current();
  c.x = x;
  c.w = w;
  c.bias = bias;
  c.y = y;
  c.n = (size_t)n;
  c.in = (size_t)in;
  c.out = (size_t)out;
  c.ntiles = sofar_div_up(c.out, c.uk->sgemm_nr);
  sofar_parallel_for(sofar_div_up(c.n, c.uk->sgemm_mr) * c.ntiles, dense_task, &c);
}

/*
 * A stem followed by a max pool (Bi-Real's 7x7/2 conv then 3x3/2 pool): bands of POOL_BAND pool rows, each
 * computing the conv rows its windows cover into the slot and pooling them while they are in cache, so the
 * conv's output never goes to memory. A thread's consecutive bands share the overlapping conv rows (moved to
 * the front of the slot, not recomputed). Every conv row and every pool cell is computed as by
 * sofar_conv2d_f32 and sofar_maxpool_f32, so the result is bit-identical to the two calls.
 */
#define POOL_BAND 4

struct conv_pool_plan {
  struct conv_plan conv;
  struct sofar_conv_geom pool; /* over the conv's output */
  size_t conv_rows;            /* most conv rows a band covers */
  size_t in_floats;            /* the padded input rows of that many conv rows, and the slack */
  size_t slot_bytes;
};

static int conv_pool_init(struct conv_pool_plan *q, int n, int h, int w, int cin, int cout, int kh, int kw, int sh,
                          int sw, int pt, int pl, int pb, int pr, int dh, int dw, int groups, int pkh, int pkw,
                          int psh, int psw, int ppt, int ppl, int ppb, int ppr) {
  struct conv_plan *p = &q->conv;
  if (!plan_init(p, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups) || !p->stem) return 0;
  const struct sofar_conv_geom *g = &p->g;
  if (!sofar_conv_geom_init(&q->pool, n, (int)g->ho, (int)g->wo, cout, cout, pkh, pkw, psh, psw, ppt, ppl, ppb, ppr,
                            1, 1, 1))
    return 0;
  q->conv_rows = sofar_min((POOL_BAND - 1) * q->pool.sh + q->pool.kh, g->ho);
  q->in_floats = ((q->conv_rows - 1) * g->sh + g->kh) * p->wp * g->cin + stem_slack(g);
  q->slot_bytes = sofar_round_up(q->in_floats * sizeof(float), SOFAR_ALIGN) +
                  sofar_round_up(q->conv_rows * g->wo * g->cout * sizeof(float), SOFAR_ALIGN);
  return 1;
}

/* A 1x1 window of stride 1 without padding: no pool (the conv's rows go straight to y). */
static int pool_is_identity(const struct sofar_conv_geom *pg) {
  return pg->kh == 1 && pg->kw == 1 && pg->sh == 1 && pg->sw == 1 && pg->pt == 0 && pg->pl == 0 && pg->pb == 0 &&
         pg->pr == 0;
}

size_t sofar_conv2d_f32_maxpool_scratch_bytes(int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw,
                                              int pt, int pl, int pb, int pr, int dh, int dw, int groups, int pkh,
                                              int pkw, int psh, int psw, int ppt, int ppl, int ppb, int ppr) {
  struct conv_pool_plan q;
  if (!conv_pool_init(&q, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, pkh, pkw, psh, psw, ppt,
                      ppl, ppb, ppr))
    return 0;
  if (pool_is_identity(&q.pool)) return SOFAR_ALIGN + sofar_slots(stem_tasks(&q.conv.g)) * q.conv.slot_bytes;
  return SOFAR_ALIGN + sofar_slots(q.pool.n * sofar_div_up(q.pool.ho, POOL_BAND)) * q.slot_bytes;
}

struct conv_pool_ctx {
  struct conv_ctx conv; /* y unused: the conv rows go to the slot (ys = cout) */
  const struct conv_pool_plan *q;
  float *y;
  struct out_pack pack; /* the pooled rows' signs (the conv's own rows go to the slot: c->conv.pack is none) */
  /* per slot, kept from one chunk to the next: the image and conv rows [lo, hi) at the start of its rows */
  size_t have[SOFAR_MAX_THREADS][3];
};

/* The conv rows [lo, hi) that pool row po's window covers (empty when it lies in the padding). */
static void pool_window_rows(const struct sofar_conv_geom *pg, size_t po, size_t *lo, size_t *hi) {
  const ptrdiff_t a = (ptrdiff_t)(po * pg->sh) - (ptrdiff_t)pg->pt, b = a + (ptrdiff_t)pg->kh;
  *lo = a < 0 ? 0 : sofar_min((size_t)a, pg->h);
  *hi = b < 0 ? 0 : sofar_min((size_t)b, pg->h);
}

static void conv_pool_task(void *vctx, size_t begin, size_t end, int slot) {
  struct conv_pool_ctx *c = (struct conv_pool_ctx *)vctx;
  const struct conv_pool_plan *q = c->q;
  const struct sofar_conv_geom *g = &q->conv.g, *pg = &q->pool;
  unsigned char *base = c->conv.slots + (size_t)slot * q->slot_bytes;
  float *in = (float *)base, *rows = (float *)(base + sofar_round_up(q->in_floats * sizeof(float), SOFAR_ALIGN));
  const size_t bands = sofar_div_up(pg->ho, POOL_BAND), row_floats = g->wo * g->cout;
  /* the conv rows in `rows`, from its start: a thread's next chunk usually continues its last (home ranges),
     so the row two bands share is computed once per thread, not once per chunk (11 % of the conv's rows) */
  size_t *const have = c->have[slot];
  size_t have_img = have[0], have_lo = have[1], have_hi = have[2];
  for (size_t t = begin; t < end; t++) {
    const size_t img = t / bands, po0 = t % bands * POOL_BAND, po1 = sofar_min(po0 + POOL_BAND, pg->ho);
    size_t lo, hi, unused;
    pool_window_rows(pg, po0, &lo, &unused);
    pool_window_rows(pg, po1 - 1, &unused, &hi);
    size_t from = lo; /* the first conv row to compute */
    if (img == have_img && have_lo <= lo && lo < have_hi) {
      memmove(rows, rows + (lo - have_lo) * row_floats, (have_hi - lo) * row_floats * sizeof(float));
      from = have_hi;
    }
    if (from < hi) stem_rows(&c->conv, img, from, hi, in, rows + (from - lo) * row_floats, NULL);
    have_img = img, have_lo = lo, have_hi = hi > from ? hi : from;
    for (size_t po = po0; po < po1; po++) {
      size_t a, b;
      pool_window_rows(pg, po, &a, &b);
      float *y_row = c->y + (img * pg->ho + po) * pg->wo * g->cout;
      sofar_maxpool_row_f32(rows + (a - lo) * row_floats, b - a, row_floats, pg, y_row);
      pack_out_row(c->conv.uk, &c->pack, y_row, g->cout, img * pg->ho + po, pg->wo, g->cout);
    }
  }
  have[0] = have_img, have[1] = have_lo, have[2] = have_hi;
}

/* Both stem entry points: the conv, its PReLU and pool, and the pooled rows' signs where pk->yp is given. */
static void conv_pool_run(const float *x, const float *packed_weights, const float *bias, const float *alpha, float *y,
                          const struct out_pack *pk, void *scratch, int n, int h, int w, int cin, int cout, int kh,
                          int kw, int sh, int sw, int pt, int pl, int pb, int pr, int dh, int dw, int groups, int relu,
                          int x_nchw, int pkh, int pkw, int psh, int psw, int ppt, int ppl, int ppb, int ppr) {
  struct conv_pool_plan q;
  if (!conv_pool_init(&q, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, pkh, pkw, psh, psw, ppt,
                      ppl, ppb, ppr))
    return;
  struct conv_pool_ctx c;
  c.conv = conv_ctx_of(&q.conv, x, packed_weights, bias, NULL, NULL, 0, relu, x_nchw, scratch);
  c.conv.alpha = alpha;
  c.q = &q;
  c.y = y;
  c.pack = *pk;
  for (size_t t = 0; t < SOFAR_MAX_THREADS; t++) c.have[t][0] = (size_t)-1, c.have[t][1] = c.have[t][2] = 0;
  if (pool_is_identity(&q.pool)) {
    c.conv.y = y;
    c.conv.pack = *pk;
    sofar_parallel_for(stem_tasks(&q.conv.g), stem_task, &c.conv);
    return;
  }
  sofar_parallel_for(q.pool.n * sofar_div_up(q.pool.ho, POOL_BAND), conv_pool_task, &c);
}

void sofar_conv2d_f32_maxpool(const float *x, const float *packed_weights, const float *bias, const float *alpha,
                              float *y, void *scratch,
                              int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw, int pt, int pl,
                              int pb, int pr, int dh, int dw, int groups, int relu, int x_nchw, int pkh, int pkw,
                              int psh, int psw, int ppt, int ppl, int ppb, int ppr) {
  const struct out_pack none = {NULL, NULL, NULL, 0};
  conv_pool_run(x, packed_weights, bias, alpha, y, &none, scratch, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr,
                dh, dw, groups, relu, x_nchw, pkh, pkw, psh, psw, ppt, ppl, ppb, ppr);
}

void sofar_conv2d_f32_maxpool_pack(const float *x, const float *packed_weights, const float *bias, const float *alpha,
                                   float *y, uint64_t *y_packed, const float *pack_scale, const float *pack_shift,
                                   void *scratch, int n, int h, int w, int cin, int cout, int kh, int kw, int sh,
                                   int sw, int pt, int pl, int pb, int pr, int dh, int dw, int groups, int relu,
                                   int x_nchw, int pkh, int pkw, int psh, int psw, int ppt, int ppl, int ppb, int ppr) {
  if (!y_packed || cout <= 0) return;
  const struct out_pack pk = {y_packed, pack_scale, pack_shift, sofar_div_up((size_t)cout, 64)};
  conv_pool_run(x, packed_weights, bias, alpha, y, &pk, scratch, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh,
                dw, groups, relu, x_nchw, pkh, pkw, psh, psw, ppt, ppl, ppb, ppr);
}
