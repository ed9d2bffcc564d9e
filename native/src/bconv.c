/*
 * Binary convolution driver (portable C): geometry, kernel re-layout, im2col of packed words, threading,
 * and the composition of the per-ISA pieces (LCE's split): binary GEMM tile -> output transform
 * (multiplier, bias, residual) -> sign packing for the next layer.
 *
 * acc for output o of group g at pixel p, with T taps and Cg channels per group:
 *   taps in the image:  sum over channels of xv*wv = Cg - 2*popcount(x ^ w) per tap
 *   taps in the padding with pad_value +1: im2col writes words of 0 (= all +1): exact as is
 *   taps in the padding with pad_value -1: im2col writes words of 1s over the Cg channels: exact as is
 *   taps in the padding with pad_value 0: im2col writes 0 words (as +1), and the transform subtracts
 *     corr[o] = sum over the pixel's padded taps t of wsum[t][o], wsum = Cg - 2*popcount(w[o][t]).
 * so acc = T*Cg - 2*popcount(row ^ kernel row) - corr.
 *
 * Row packing (channel counts that leave most of a word empty, e.g. 41): popcount is additive, so a GEMM
 * row need not keep each tap in words of its own. When the kw taps of a kernel row fit in fewer words bit by
 * bit (Ew = ceil(kw*Cg/64) < kw*Wg), each kernel row is packed as its taps' Cg bits back to back (tap j at
 * bit j*Cg), and the input is gathered the same way once per call: for every image row ih and output
 * column ow, the kw taps it contributes to that column (pad bits where a tap is outside), [n][h][wo][groups][Ew]
 * words, plus one row of all-pad taps for kernel rows above or below the image. A pixel's GEMM row is then kh
 * segments of Ew words read in place, for any stride, dilation, padding or groups, and 41 channels cost
 * 3*2 words per pixel instead of 9. Pad bits are as in im2col, so the correction above is unchanged.
 *
 * The packed kernel (sofar_bconv2d_pack_kernel, or built in scratch per call by sofar_bconv2d):
 *   words: [groups][ceil(og/8)][K][8] uint64 (8 output channels side by side per k, zero-padded),
 *     K = T*Wg, or kh*Ew when row-packed
 *   then wsum: [groups][T][og] int32
 */
#include "internal.h"

struct bconv_plan {
  struct sofar_conv_geom g;
  size_t wg;     /* words per tap per group = ceil(cg/64) */
  size_t wx;     /* words per input pixel = groups*wg */
  size_t kwords; /* words per GEMM row per group = taps*wg, or kh*ew when row-packed */
  size_t nb8;    /* blocks of 8 output channels per group */
  int direct;    /* 1x1 without padding: GEMM rows are read from x in place */
  int rowpack;   /* the taps of a kernel row packed bit by bit (see above); depends on cg, og, kh, kw only */
  size_t ew;     /* words per kernel row per group when row-packed = ceil(kw*cg/64) */
  size_t rows_words; /* the row-packed input: n*h*wo*groups*ew words, then groups*ew of the all-pad row */
  size_t pool_seg;   /* SOFAR_EPI_POOL2_OUT: output columns a task computes (see bconv_pool_task) */
  size_t span_rows;  /* the most pixels one transform call takes (see bconv_blocks); pc and tmp hold them */
  /* scratch slot layout (bytes, each a multiple of SOFAR_ALIGN) */
  size_t slot_rows, slot_pc, slot_corr, slot_tmp, slot_pads, slot_pres, slot_bytes;
};

/* The most columns of a pooled output's segment (SOFAR_EPI_POOL2_OUT) */
#define SOFAR_POOL_SEG_MAX 128

/* The counts one transform call takes: at most this many bytes (in L1 with the rows they come from), and rows */
#define SOFAR_SPAN_BYTES 8192 /* 4-32 KB measured alike (C bench, 2 threads) */
#define SOFAR_SPAN_ROWS_MAX 64
/* A row-packed gather smaller than this (words) runs on the calling thread: a round trip through the pool
   (0.3-0.6 us) costs more. 56x56 maps of 41 channels (6,272 words, ~5 us) gain from both threads. */
#define SOFAR_ROWPACK_SERIAL_WORDS 2048

/* Padding corrections kept per task, least recently used first out: at least a block's rows, so that every
   row of a block keeps its entry until the block's transform has run. */
#define CORR_CACHE SOFAR_MR_MAX

static size_t round64(size_t x) { return sofar_round_up(x, SOFAR_ALIGN); }

static int plan_init(struct bconv_plan *p, int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw,
                     int pt, int pl, int pb, int pr, int dh, int dw, int groups) {
  if (!sofar_conv_geom_init(&p->g, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups)) return 0;
  const struct sofar_conv_geom *g = &p->g;
  p->wg = sofar_div_up(g->cg, 64);
  p->wx = g->groups * p->wg;
  p->nb8 = sofar_div_up(g->og, 8);
  p->direct = g->kh == 1 && g->kw == 1 && g->pt == 0 && g->pl == 0 && g->pb == 0 && g->pr == 0;
  p->ew = sofar_div_up(g->kw * g->cg, 64);
  /* worth it when the words saved, over every output channel, outweigh the gather (about one word written
     per tap word read, once per input position): measured on x86, 41->41 and 164->164 gain, 170->53 does not */
  p->rowpack = p->ew < g->kw * p->wg && g->kh <= SOFAR_MAX_SEGS &&
               g->og * (g->kw * p->wg - p->ew) * g->kh >= 32 * g->kw * p->wg;
  p->kwords = p->rowpack ? g->kh * p->ew : g->taps * p->wg;
  p->rows_words = p->rowpack ? (g->n * g->h * g->wo + 1) * g->groups * p->ew : 0;
  p->slot_rows = p->direct || p->rowpack ? 0 : round64(SOFAR_MR_MAX * g->groups * p->kwords * sizeof(uint64_t));
  /* a transform call takes the counts of up to SOFAR_SPAN_BYTES (see bconv_blocks) */
  p->span_rows = sofar_min(SOFAR_SPAN_ROWS_MAX, sofar_max(SOFAR_MR_MAX, SOFAR_SPAN_BYTES / (g->cout * sizeof(int32_t))));
  p->slot_pc = round64(p->span_rows * g->cout * sizeof(int32_t));
  p->slot_corr = round64(CORR_CACHE * g->cout * sizeof(int32_t));
  p->slot_tmp = round64((p->span_rows + 1) * g->cout * sizeof(float)); /* the transform's rows (sofar_bconv_transform_fn) */
  p->slot_pads = round64((SOFAR_MR_MAX + CORR_CACHE) * (g->taps + 1) * sizeof(uint32_t)); /* + the cached lists */
  /* SOFAR_EPI_POOL2_OUT's segment of a row: even, the whole row where its floats fit 16 KB */
  const size_t fit = sofar_min(SOFAR_POOL_SEG_MAX, 16384 / (g->cout * sizeof(float))) & ~(size_t)1;
  p->pool_seg = sofar_min(g->wo + g->wo % 2, fit > 2 ? fit : 2);
  /* a block's pooled residual rows; a 1x1 conv's two rows of a segment of a pooled output */
  const size_t pres_rows = p->direct && 2 * p->pool_seg > SOFAR_MR_MAX ? 2 * p->pool_seg : SOFAR_MR_MAX;
  p->slot_pres = round64(pres_rows * g->cout * sizeof(float));
  p->slot_bytes = p->slot_rows + p->slot_pc + p->slot_corr + p->slot_tmp + p->slot_pads + p->slot_pres;
  return 1;
}

static size_t packed_words_count(const struct bconv_plan *p) { return p->g.groups * p->nb8 * p->kwords * 8; }
static size_t packed_bytes(const struct bconv_plan *p) {
  return packed_words_count(p) * sizeof(uint64_t) + p->g.groups * p->g.taps * p->g.og * sizeof(int32_t);
}

/*
 * Writes bit fields back to back into words d[0], d[stride], ...: a field of nb <= 64 bits goes at the next
 * free bit, a word is stored once it is full (or at the flush), so nothing is read back or zeroed first.
 */
struct bit_writer {
  uint64_t *d;
  size_t stride;
  uint64_t cur;
  unsigned bit; /* bits of cur in use */
};

SOFAR_INLINE void bw_put(struct bit_writer *w, uint64_t v, unsigned nb) { /* v: nb bits, the rest 0 */
  w->cur |= v << w->bit;
  w->bit += nb;
  if (w->bit >= 64) {
    *w->d = w->cur;
    w->d += w->stride;
    w->bit -= 64;
    w->cur = w->bit ? v >> (nb - w->bit) : 0;
  }
}

/* One tap's cg bits: its wg words (the last one's tail masked off), or with src NULL the bits of fill. */
SOFAR_INLINE void bw_put_tap(struct bit_writer *w, const uint64_t *src, uint64_t fill, size_t cg) {
  const size_t wg = (cg + 63) / 64;
  const unsigned last = (unsigned)(cg - (wg - 1) * 64); /* 1..64 bits */
  for (size_t k = 0; k + 1 < wg; k++) bw_put(w, src ? src[k] : fill, 64);
  const uint64_t v = src ? src[wg - 1] : fill;
  bw_put(w, last < 64 ? v & (((uint64_t)1 << last) - 1) : v, last);
}

SOFAR_INLINE void bw_flush(struct bit_writer *w) {
  if (w->bit) *w->d = w->cur;
}

struct pack_ctx {
  const struct bconv_plan *p;
  const uint64_t *kernel;
  uint64_t *words;
  int32_t *wsum;
};

/* tasks: (group, block of 8 output channels) */
static void pack_task(void *vctx, size_t begin, size_t end, int slot) {
  (void)slot;
  const struct pack_ctx *c = (const struct pack_ctx *)vctx;
  const struct bconv_plan *p = c->p;
  const struct sofar_conv_geom *g = &p->g;
  const size_t kwords = p->kwords, og = g->og;
  for (size_t t = begin; t < end; t++) {
    const size_t gi = t / p->nb8, b = t % p->nb8;
    uint64_t *dst = c->words + t * kwords * 8;
    for (size_t lane = 0; lane < 8; lane++) {
      const size_t o = b * 8 + lane;
      const uint64_t *src = c->kernel + (gi * og + o) * g->taps * p->wg; /* canonical: [taps][wg] */
      if (o >= og) {
        for (size_t k = 0; k < kwords; k++) dst[k * 8 + lane] = 0;
        continue;
      }
      if (p->rowpack) {
        for (size_t i = 0; i < g->kh; i++) {
          struct bit_writer bw = {dst + i * p->ew * 8 + lane, 8, 0, 0};
          for (size_t j = 0; j < g->kw; j++) bw_put_tap(&bw, src + (i * g->kw + j) * p->wg, 0, g->cg);
          bw_flush(&bw);
        }
      } else {
        for (size_t k = 0; k < kwords; k++) dst[k * 8 + lane] = src[k];
      }
      for (size_t tap = 0; tap < g->taps; tap++) {
        int32_t ones = 0;
        for (size_t i = 0; i < p->wg; i++) ones += (int32_t)__builtin_popcountll(src[tap * p->wg + i]);
        c->wsum[(gi * g->taps + tap) * og + o] = (int32_t)g->cg - 2 * ones;
      }
    }
  }
}

static void pack_kernel(const struct bconv_plan *p, const uint64_t *kernel, void *packed) {
  struct pack_ctx c = {p, kernel, (uint64_t *)packed, NULL};
  c.wsum = (int32_t *)(c.words + packed_words_count(p));
  sofar_parallel_for(p->g.groups * p->nb8, pack_task, &c);
}

/* What sofar_bconv2d_epilogue adds to the transform, and its strides (0: the defaults). */
struct bconv_tail {
  const float *scale, *pack_scale, *pack_shift;
  int res_after;
  size_t rs, yps; /* pixel strides: residual (floats), packed output (words) */
  const float *p2_x, *p2_scale, *p2_shift; /* the second packing (sofar_bconv2d_epilogue_pack2) */
  uint64_t *p2_y;
  size_t p2_c, p2_xs;
  int res_pool2; /* SOFAR_EPI_RESIDUAL_POOL2 */
  int pool_out;  /* SOFAR_EPI_POOL2_OUT */
  int pack_half; /* 0: y_packed's words are the call's; 1, 2: bits 0-31, 32-63 of each (SOFAR_EPI_PACK_LOW32, _HIGH32) */
  const float *res2; /* the second residual (sofar_bconv2d_epilogue_res2) and its pixel stride */
  size_t r2s;
};

struct bconv_ctx {
  const struct bconv_plan *p;
  const struct sofar_ukernels *uk;
  const uint64_t *x;
  const uint64_t *kwords; /* packed words */
  const int32_t *wsum;
  struct sofar_bconv_out out; /* the output transform's operands */
  int pad_value;
  unsigned char *slots;
  uint64_t *rp; /* the row-packed input (p->rowpack) */
  int res_pool2; /* out.res is a map of the input's size, 2x2-average-pooled into each block's rows */
  size_t blocks, parts; /* bconv_split_task: blocks of pixels, parts of the output channels */
  int pack_half; /* see bconv_tail */
};

/* tasks: the image rows (img, ih) of the row-packed input, then its all-pad row */
static void rowpack_task(void *vctx, size_t begin, size_t end, int slot) {
  (void)slot;
  const struct bconv_ctx *c = (const struct bconv_ctx *)vctx;
  const struct bconv_plan *p = c->p;
  const struct sofar_conv_geom *g = &p->g;
  const size_t ew = p->ew, groups = g->groups, wo = g->wo, cg = g->cg, rows = g->n * g->h;
  const uint64_t pad_word = c->pad_value < 0 ? ~(uint64_t)0 : 0;
  for (size_t t = begin; t < end; t++) {
    uint64_t *dst = c->rp + t * wo * groups * ew;
    if (t == rows) { /* every tap padded */
      for (size_t gi = 0; gi < groups; gi++) {
        struct bit_writer bw = {dst + gi * ew, 1, 0, 0};
        for (size_t j = 0; j < g->kw; j++) bw_put_tap(&bw, NULL, pad_word, cg);
        bw_flush(&bw);
      }
      continue;
    }
    const uint64_t *xrow = c->x + t * g->w * p->wx; /* t = img*h + ih */
    if (p->wg == 1 && groups == 1) { /* under 64 channels, the common case: one masked word per tap */
      const uint64_t mask = ((uint64_t)1 << cg) - 1, pad = pad_word & mask;
      const int pairs = cg == 32 && g->kw == 3 && g->dw == 1; /* 32 channels, 3 taps: words (t0 | t1 << 32), t2 */
      for (size_t ow = 0; ow < wo; ow++) {
        const ptrdiff_t iw0 = (ptrdiff_t)(ow * g->sw) - (ptrdiff_t)g->pl;
        if (pairs && iw0 >= 0 && iw0 + 2 < (ptrdiff_t)g->w) {
          const uint64_t *s = xrow + iw0;
          dst[ow * 2] = (s[0] & mask) | s[1] << 32;
          dst[ow * 2 + 1] = s[2] & mask;
          continue;
        }
        struct bit_writer bw = {dst + ow * ew, 1, 0, 0};
        for (size_t j = 0; j < g->kw; j++) {
          const ptrdiff_t iw = iw0 + (ptrdiff_t)(j * g->dw);
          bw_put(&bw, iw >= 0 && iw < (ptrdiff_t)g->w ? xrow[iw] & mask : pad, (unsigned)cg);
        }
        bw_flush(&bw);
      }
      continue;
    }
    for (size_t ow = 0; ow < wo; ow++) {
      const ptrdiff_t iw0 = (ptrdiff_t)(ow * g->sw) - (ptrdiff_t)g->pl;
      for (size_t gi = 0; gi < groups; gi++) {
        struct bit_writer bw = {dst + (ow * groups + gi) * ew, 1, 0, 0};
        for (size_t j = 0; j < g->kw; j++) {
          const ptrdiff_t iw = iw0 + (ptrdiff_t)(j * g->dw);
          const int in = iw >= 0 && iw < (ptrdiff_t)g->w;
          bw_put_tap(&bw, in ? xrow + (size_t)iw * p->wx + gi * p->wg : NULL, pad_word, cg);
        }
        bw_flush(&bw);
      }
    }
  }
}

/* The pixel's taps outside the image, in order (for the pad_value 0 correction); returns their count. */
static size_t padded_taps(const struct sofar_conv_geom *g, ptrdiff_t ih0, ptrdiff_t iw0, uint32_t *list) {
  size_t npad = 0;
  for (size_t i = 0; i < g->kh; i++) {
    const ptrdiff_t ih = ih0 + (ptrdiff_t)(i * g->dh);
    const int row_out = ih < 0 || ih >= (ptrdiff_t)g->h;
    for (size_t j = 0; j < g->kw; j++) {
      const ptrdiff_t iw = iw0 + (ptrdiff_t)(j * g->dw);
      if (row_out || iw < 0 || iw >= (ptrdiff_t)g->w) list[npad++] = (uint32_t)(i * g->kw + j);
    }
  }
  return npad;
}

/* im2col of one output pixel: its taps' words for every group, [groups][taps][wg]; returns the padded taps */
static size_t im2col_row(const struct bconv_plan *p, const uint64_t *x, size_t img, size_t oh, size_t ow,
                         uint64_t pad_word, uint64_t *dst, uint32_t *padlist) {
  const struct sofar_conv_geom *g = &p->g;
  const size_t kh = g->kh, kw = g->kw, h = g->h, w = g->w, dh = g->dh, dw = g->dw, wx = p->wx, wg = p->wg;
  const size_t groups = g->groups, kwords = p->kwords;
  const ptrdiff_t ih0 = (ptrdiff_t)(oh * g->sh) - (ptrdiff_t)g->pt, iw0 = (ptrdiff_t)(ow * g->sw) - (ptrdiff_t)g->pl;
  const uint64_t *ximg = x + img * h * w * wx;
  if (groups == 1 && ih0 >= 0 && iw0 >= 0 && (size_t)ih0 + (kh - 1) * dh < h && (size_t)iw0 + (kw - 1) * dw < w) {
    /* interior pixel, one group: the row is the taps' words in order */
    for (size_t i = 0; i < kh; i++) {
      const uint64_t *src = ximg + (((size_t)ih0 + i * dh) * w + (size_t)iw0) * wx;
      if (dw == 1) {
        for (size_t k = 0; k < kw * wx; k++) dst[k] = src[k];
      } else {
        for (size_t j = 0; j < kw; j++)
          for (size_t k = 0; k < wx; k++) dst[j * wx + k] = src[j * dw * wx + k];
      }
      dst += kw * wx;
    }
    return 0;
  }
  const uint64_t last_word = pad_word & ((g->cg % 64) ? (((uint64_t)1 << (g->cg % 64)) - 1) : ~(uint64_t)0);
  size_t npad = 0;
  if (groups == 1 && wg == 1) {
    /* a border pixel of a conv of at most 64 channels (Bi-Real's, QuickNet's, RF's at 56x56): one word a tap,
       a kernel row's taps walked from its row pointer (the general loop below cost 4 % of such a conv) */
    for (size_t i = 0; i < kh; i++) {
      const ptrdiff_t ih = ih0 + (ptrdiff_t)(i * dh);
      uint32_t t = (uint32_t)(i * kw);
      if (ih < 0 || ih >= (ptrdiff_t)h) {
        for (size_t j = 0; j < kw; j++, t++) *dst++ = last_word, padlist[npad++] = t;
        continue;
      }
      const uint64_t *src = ximg + (size_t)ih * w;
      ptrdiff_t iw = iw0;
      for (size_t j = 0; j < kw; j++, t++, iw += (ptrdiff_t)dw) {
        const int in = iw >= 0 && iw < (ptrdiff_t)w;
        *dst++ = in ? src[iw] : last_word;
        if (!in) padlist[npad++] = t;
      }
    }
    return npad;
  }
  for (size_t i = 0; i < kh; i++) {
    const ptrdiff_t ih = ih0 + (ptrdiff_t)(i * dh);
    for (size_t j = 0; j < kw; j++) {
      const ptrdiff_t iw = iw0 + (ptrdiff_t)(j * dw);
      const size_t t = i * kw + j;
      if (ih >= 0 && ih < (ptrdiff_t)h && iw >= 0 && iw < (ptrdiff_t)w) {
        const uint64_t *src = ximg + ((size_t)ih * w + (size_t)iw) * wx;
        for (size_t gi = 0; gi < groups; gi++)
          for (size_t k = 0; k < wg; k++) dst[gi * kwords + t * wg + k] = src[gi * wg + k];
      } else {
        for (size_t gi = 0; gi < groups; gi++) {
          uint64_t *d = dst + gi * kwords + t * wg;
          for (size_t k = 0; k + 1 < wg; k++) d[k] = pad_word;
          d[wg - 1] = last_word;
        }
        padlist[npad++] = (uint32_t)t;
      }
    }
  }
  return npad;
}

/* The padding correction of one pixel (pad_value 0): corr[gi*og + o] = sum over its padded taps of wsum. */
static void pad_correction(const struct bconv_plan *p, const int32_t *wsum, const uint32_t *padlist, size_t npad,
                           int32_t *corr) {
  const size_t og = p->g.og, taps = p->g.taps;
  for (size_t gi = 0; gi < p->g.groups; gi++) {
    int32_t *cg_row = corr + gi * og;
    const int32_t *ws = wsum + gi * taps * og;
    for (size_t o = 0; o < og; o++) cg_row[o] = 0;
    for (size_t q = 0; q < npad; q++) {
      const uint32_t t = padlist[q];
      if (t >= taps) continue; /* only if the caller overlapped scratch with an output: stay in bounds */
      const int32_t *wt = ws + (size_t)t * og;
      for (size_t o = 0; o < og; o++) cg_row[o] = (int32_t)((uint32_t)cg_row[o] + (uint32_t)wt[o]); /* wraps on garbage */
    }
  }
}

/* Moves the output coordinates on by count pixels, which stay within the current output row. */
SOFAR_INLINE void next_pixels(size_t count, size_t wo, size_t ho, size_t *img, size_t *oh, size_t *ow, int *row_valid) {
  *ow += count;
  if (*ow == wo) {
    *ow = 0;
    *row_valid = 0; /* a new output row */
    if (++*oh == ho) *oh = 0, ++*img;
  }
}

static int same_list(const uint32_t *a, size_t na, const uint32_t *b, size_t nb) {
  if (na != nb) return 0;
  for (size_t i = 0; i < na; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

/* The residual rows of pixels p0 .. p0+mr-1 pooled from the input-sized map (SOFAR_EPI_RESIDUAL_POOL2), with
   sofar_avgpool_f32's arithmetic: the window's cells added in row-major order, then divided by their count. */
static void pool2_rows(const struct bconv_ctx *c, size_t p0, size_t mr, float *dst) {
  const struct sofar_conv_geom *g = &c->p->g;
  const size_t cout = g->cout, rs = c->out.rs, hw = g->ho * g->wo;
  for (size_t r = 0; r < mr; r++) {
    const size_t pix = p0 + r, img = pix / hw, oh = pix % hw / g->wo, ow = pix % g->wo;
    const float *a = c->out.res + ((img * g->h + 2 * oh) * g->w + 2 * ow) * rs, *b = a + rs, *d = a + g->w * rs, *e = d + rs;
    float *out = dst + r * cout;
    for (size_t q = 0; q < cout; q++) out[q] = (((a[q] + b[q]) + d[q]) + e[q]) / 4.0f;
  }
}

/* sofar_bconv2d_epilogue_pack2's second packing of pixels p0 .. p0+mr-1 */
static void pack2_rows(const struct bconv_ctx *c, size_t p0, size_t mr) {
  const struct sofar_bconv_out *o = &c->out;
  sofar_pack_rows(c->uk, o->p2_x + p0 * o->p2_xs, o->p2_xs, o->p2_scale, o->p2_shift, o->p2_y + p0 * o->p2_ys, o->p2_ys,
                  o->p2_c, mr);
}

/*
 * The GEMM of a block of mr pixels over every group: rows holds nseg segments of seg_len words per pixel
 * (segment i's rows at rows + i*SOFAR_MR_MAX), group gi's part of a segment gi*goff words on; the counts go to
 * pc, cout a pixel. One group reads rows as they are: offsetting pointers just stored one by one, the
 * compiler's vector loads of them wait for the stores (a failed store-to-load forward, measured a fifth of
 * bconv_pool_task's time when it offset them for one group too).
 */
static void block_gemm(const struct bconv_ctx *c, size_t mr, size_t nseg, size_t seg_len, size_t goff,
                       const uint64_t *const *rows, int32_t *pc) {
  const struct bconv_plan *p = c->p;
  const struct sofar_conv_geom *g = &p->g;
  const struct sofar_ukernels *uk = c->uk;
  const size_t mr_max = uk->bgemm_mr, nr_max = uk->bgemm_nr, og = g->og, kwords = p->kwords;
  for (size_t gi = 0; gi < g->groups; gi++) {
    const uint64_t *grows[SOFAR_MAX_SEGS * SOFAR_MR_MAX];
    const uint64_t *const *ga = rows;
    if (g->groups > 1) { /* group gi's part of each segment */
      for (size_t i = 0; i < nseg; i++)
        for (size_t r = 0; r < mr_max; r++) grows[i * SOFAR_MR_MAX + r] = rows[i * SOFAR_MR_MAX + r] + gi * goff;
      ga = grows;
    }
    for (size_t ob = 0; ob < og; ob += nr_max)
      uk->bgemm(mr, sofar_min(nr_max, og - ob), nseg, seg_len, ga, c->kwords + (gi * p->nb8 + ob / 8) * kwords * 8,
                pc + gi * og + ob, g->cout);
  }
}

/* Pixels per transform call: whole GEMM tiles of mr_max pixels, at least one, within p->span_rows. */
static size_t span_pixels(const struct bconv_plan *p, size_t mr_max) { return sofar_max(1, p->span_rows / mr_max) * mr_max; }

/* The pixels of the transform calls made so far, packed a second time (sofar_bconv2d_epilogue_pack2) one call
   behind: their rows are still in L1, and their stores have left the store queue (loads right after masked
   stores to the same lines wait for them: 4x slower, measured). */
struct pack2_behind {
  size_t p0, n; /* the last call's pixels, not yet packed a second time */
};

/* A transform call over pixels [p0, p0 + n) was made: pack the call's before it. */
static void transformed(const struct bconv_ctx *c, struct pack2_behind *b, size_t p0, size_t n) {
  if (c->out.p2_y && b->n) pack2_rows(c, b->p0, b->n);
  b->p0 = p0, b->n = n;
}

/* The transform of a span's n pixels from p0 (their counts in pc, no padding corrections). */
static void transform_span(const struct bconv_ctx *c, const struct sofar_bconv_out *out, size_t p0, size_t n,
                           const int32_t *pc, float *tmp, struct pack2_behind *b) {
  c->uk->bconv_transform(out, p0, n, pc, NULL, tmp);
  transformed(c, b, p0, n);
}

/*
 * Blocks [begin, end) of output pixels, output channels [o0, o1) of them (all: 0, cout; a part, of one group
 * and a multiple of 64 channels, when the tasks split the channels: see run()).
 */
static void bconv_blocks(const struct bconv_ctx *c, size_t o0, size_t o1, size_t begin, size_t end, int slot) {
  const struct bconv_plan *p = c->p;
  const struct sofar_conv_geom *g = &p->g;
  const struct sofar_ukernels *uk = c->uk;
  const size_t mr_max = uk->bgemm_mr, nr_max = uk->bgemm_nr;
  const size_t groups = g->groups, cout = g->cout, taps = g->taps, kwords = p->kwords;
  unsigned char *s = c->slots + (size_t)slot * p->slot_bytes;
  uint64_t *rows_buf = (uint64_t *)s;
  int32_t *pc = (int32_t *)(s + p->slot_rows);
  int32_t *corr = (int32_t *)(s + p->slot_rows + p->slot_pc);
  float *tmp = (float *)(s + p->slot_rows + p->slot_pc + p->slot_corr);
  uint32_t *pads = (uint32_t *)(s + p->slot_rows + p->slot_pc + p->slot_corr + p->slot_tmp);
  /* the corrections of the last CORR_CACHE pad lists, most recent first (corr_npad 0: none yet) */
  uint32_t *corr_list[CORR_CACHE];
  int32_t *corr_of[CORR_CACHE];
  size_t corr_npad[CORR_CACHE];
  for (size_t e = 0; e < CORR_CACHE; e++) {
    corr_list[e] = pads + (SOFAR_MR_MAX + e) * (taps + 1);
    corr_of[e] = corr + e * cout;
    corr_npad[e] = 0;
  }
  const size_t row_words = groups * kwords; /* an im2col row holds every group */
  const uint64_t pad_word = c->pad_value < 0 ? ~(uint64_t)0 : 0;
  const size_t wx = p->wx, h = g->h, w = g->w, kh = g->kh, dh = g->dh, ho = g->ho, wo = g->wo;
  const size_t img_words = h * w * wx, ih_span = (kh - 1) * dh, iw_span = (g->kw - 1) * g->dw;
  const int contiguous = p->direct && g->sh == 1 && g->sw == 1; /* a 1x1 conv of stride 1 without padding */

  /* one segment per kernel row: kw*wx contiguous words of x when the layout allows, or Ew of the row-packed input */
  const int seg = !p->direct && !p->rowpack && groups == 1 && g->dw == 1 && kh <= SOFAR_MAX_SEGS;
  const size_t nseg = seg || p->rowpack ? kh : 1, seg_len = p->rowpack ? p->ew : seg ? g->kw * wx : kwords;
  const size_t rp_row = wo * groups * p->ew;                  /* row-packed words per image row */
  const uint64_t *rp_pad = c->rp + g->n * h * rp_row;         /* its all-pad row */
  const size_t goff = p->rowpack ? p->ew : kwords;           /* group gi's part of a segment: + gi*goff */

  /* output columns whose taps all lie inside the image: [ow_lo, ow_hi) */
  const size_t sw = g->sw, pl = g->pl, ow_lo = sofar_div_up(pl, sw);
  const size_t ow_hi = w + pl > iw_span ? (w - 1 + pl - iw_span) / sw + 1 : 0;
  const size_t rp_step = groups * p->ew; /* row-packed words per output column */

  /* the first pixel's coordinates, then counted up (no division per pixel) */
  const size_t first = begin * mr_max, hw_out = ho * wo;
  size_t img = first / hw_out, oh = first % hw_out / wo, ow = first % wo;
  /* what depends only on the output row (img, oh): recomputed when it changes */
  ptrdiff_t ih0 = 0;
  int row_in = 0;                               /* every kernel row inside the image */
  const uint64_t *xrow = NULL;                  /* x at (img, ih0, 0) */
  const uint64_t *rbase[SOFAR_MAX_SEGS];        /* row-packed: kernel row i's segment at column 0 ... */
  size_t rstep[SOFAR_MAX_SEGS];                 /* ... and per output column (0 for the all-pad row) */
  int row_valid = 0;
  /* the transform's operands, prefetching only this task's pixels (see sofar_bconv_out.pf_end) */
  struct sofar_bconv_out out = c->out;
  out.pf_end = end * mr_max;
  const int part = o1 - o0 < cout; /* channels [o0, o1) only: the transform sees them as a conv of o1-o0 */
  if (part) {
    const float **vecs[] = {&out.mul, &out.bias, &out.alpha, &out.post, &out.scale, &out.pack_scale, &out.pack_shift};
    for (size_t v = 0; v < sizeof vecs / sizeof vecs[0]; v++)
      if (*vecs[v]) *vecs[v] += o0;
    if (out.res) out.res += o0;
    if (out.res2) out.res2 += o0;
    if (out.y) out.y += o0;
    if (out.yp) out.yp += o0 / 64, out.yp_c = o1 - o0, out.yp_wg = (o1 - o0) / 64;
    out.cout = o1 - o0;
  }
  /* The span: consecutive blocks whose counts wait in pc for one transform call (see span_rows) */
  const size_t oc = o1 - o0, span_max = span_pixels(p, mr_max);
  size_t span_p0 = 0, span_n = 0;
  struct pack2_behind behind = {0, 0};
  for (size_t blk = begin; blk < end; blk++) {
    const size_t p0 = blk * mr_max;
    const size_t mr = sofar_min(mr_max, g->pixels - p0);
    const uint64_t *rows[SOFAR_MAX_SEGS * SOFAR_MR_MAX];
    size_t npad[SOFAR_MR_MAX];
    size_t r0 = 0;  /* pixels [0, r0) of the block already placed */
    int padded = 0; /* some pixel has padded taps (only the pixel-by-pixel path below finds any) */
    if (contiguous) { /* pixel p's row is x's pixel p: no coordinates to follow (every block takes this path) */
      for (size_t r = 0; r < mr; r++) rows[r] = c->x + (p0 + r) * wx, npad[r] = 0;
      r0 = mr;
    } else if (seg && row_valid && row_in && ow >= ow_lo && ow + mr <= ow_hi) {
      /* the whole block inside one output row and the image: its rows are evenly spaced in x */
      const uint64_t *src = xrow + (ow * sw - pl) * wx;
      const size_t step = sw * wx, kstep = dh * w * wx;
      for (size_t i = 0; i < kh; i++)
        for (size_t r = 0; r < mr; r++) rows[i * SOFAR_MR_MAX + r] = src + i * kstep + r * step;
      for (size_t r = 0; r < mr; r++) npad[r] = 0;
      r0 = mr;
      next_pixels(mr, wo, ho, &img, &oh, &ow, &row_valid);
    } else if (p->rowpack && row_valid && ow + mr <= wo &&
               (c->pad_value != 0 || (row_in && ow >= ow_lo && ow + mr <= ow_hi))) {
      /* the whole block inside one output row, with no padding correction: evenly spaced rows */
      for (size_t i = 0; i < kh; i++)
        for (size_t r = 0; r < mr; r++) rows[i * SOFAR_MR_MAX + r] = rbase[i] + (ow + r) * rstep[i];
      for (size_t r = 0; r < mr; r++) npad[r] = 0;
      r0 = mr;
      next_pixels(mr, wo, ho, &img, &oh, &ow, &row_valid);
    }
    for (size_t r = r0; r < mr; r++) {
      if (!row_valid) {
        ih0 = (ptrdiff_t)(oh * g->sh) - (ptrdiff_t)g->pt;
        row_in = ih0 >= 0 && (size_t)ih0 + ih_span < h;
        xrow = row_in || p->direct ? c->x + img * img_words + (size_t)ih0 * w * wx : NULL; /* direct: ih0 >= 0 */
        if (p->rowpack)
          for (size_t i = 0; i < kh; i++) {
            const ptrdiff_t ih = ih0 + (ptrdiff_t)(i * dh);
            const int in = ih >= 0 && ih < (ptrdiff_t)h;
            rbase[i] = in ? c->rp + (img * h + (size_t)ih) * rp_row : rp_pad;
            rstep[i] = in ? rp_step : 0;
          }
        row_valid = 1;
      }
      const int interior = row_in && ow >= ow_lo && ow < ow_hi;
      npad[r] = 0;
      if (p->direct) {
        rows[r] = xrow + ow * sw * wx;
      } else if (p->rowpack) {
        for (size_t i = 0; i < kh; i++) rows[i * SOFAR_MR_MAX + r] = rbase[i] + ow * rstep[i];
        if (c->pad_value == 0 && !interior)
          npad[r] = padded_taps(g, ih0, (ptrdiff_t)(ow * sw) - (ptrdiff_t)pl, pads + r * (taps + 1));
      } else if (seg && interior) {
        const uint64_t *src = xrow + (ow * sw - pl) * wx;
        for (size_t i = 0; i < kh; i++, src += dh * w * wx) rows[i * SOFAR_MR_MAX + r] = src;
      } else {
        uint64_t *dst = rows_buf + r * row_words;
        npad[r] = im2col_row(p, c->x, img, oh, ow, pad_word, dst, pads + r * (taps + 1));
        for (size_t i = 0; i < nseg; i++) rows[i * SOFAR_MR_MAX + r] = dst + i * seg_len;
      }
      padded |= npad[r] != 0;
      next_pixels(1, wo, ho, &img, &oh, &ow, &row_valid);
    }
    /* the micro-kernel reads all its mr_max rows: the unused ones repeat row 0 */
    for (size_t i = 0; i < nseg; i++)
      for (size_t r = mr; r < mr_max; r++) rows[i * SOFAR_MR_MAX + r] = rows[i * SOFAR_MR_MAX];

    /* a block without padding corrections joins the span (which it starts, or continues: its pixels follow the
       span's); one with them, or a pooled residual, goes through the transform on its own, as before */
    const int alone = c->res_pool2 || (c->pad_value == 0 && padded);
    if (span_n && (alone || span_n + mr > span_max)) transform_span(c, &out, span_p0, span_n, pc, tmp, &behind), span_n = 0;
    if (!span_n) span_p0 = p0;
    int32_t *bc = pc + span_n * oc; /* this block's counts */
    if (part) /* one group */
      for (size_t ob = o0; ob < o1; ob += nr_max)
        uk->bgemm(mr, sofar_min(nr_max, o1 - ob), nseg, seg_len, rows, c->kwords + ob / 8 * kwords * 8, bc + (ob - o0), oc);
    else
      block_gemm(c, mr, nseg, seg_len, goff, rows, bc);
    if (!alone) {
      span_n += mr;
      continue;
    }

    const int32_t *corr_rows[SOFAR_MR_MAX];
    int any_corr = 0;
    for (size_t r = 0; r < mr; r++) {
      corr_rows[r] = NULL;
      if (c->pad_value != 0 || !npad[r]) continue;
      const uint32_t *padlist = pads + r * (taps + 1);
      size_t e = 0;
      while (e < CORR_CACHE && !same_list(padlist, npad[r], corr_list[e], corr_npad[e])) e++;
      if (e == CORR_CACHE) { /* not cached: compute it into the least recent entry (no earlier row of the block's) */
        e = CORR_CACHE - 1;
        pad_correction(p, c->wsum, padlist, npad[r], corr_of[e]);
        memcpy(corr_list[e], padlist, npad[r] * sizeof(uint32_t));
        corr_npad[e] = npad[r];
      }
      uint32_t *l = corr_list[e]; /* to the front */
      int32_t *v = corr_of[e];
      const size_t np = corr_npad[e];
      for (; e > 0; e--) corr_list[e] = corr_list[e - 1], corr_of[e] = corr_of[e - 1], corr_npad[e] = corr_npad[e - 1];
      corr_list[0] = l, corr_of[0] = v, corr_npad[0] = np;
      corr_rows[r] = corr_of[0] + o0;
      any_corr = 1;
    }
    if (c->res_pool2) { /* the transform reads this block's pooled rows, still in L1 */
      float *pres = (float *)(s + p->slot_bytes - p->slot_pres);
      pool2_rows(c, p0, mr, pres);
      struct sofar_bconv_out o = out;
      o.res = pres, o.rs = cout, o.res_p0 = p0;
      uk->bconv_transform(&o, p0, mr, pc, any_corr ? corr_rows : NULL, tmp);
    } else {
      uk->bconv_transform(&out, p0, mr, pc, any_corr ? corr_rows : NULL, tmp);
    }
    transformed(c, &behind, p0, mr);
  }
  if (span_n) transform_span(c, &out, span_p0, span_n, pc, tmp, &behind);
  transformed(c, &behind, 0, 0); /* the last call's second packing */
}

static void bconv_task(void *vctx, size_t begin, size_t end, int slot) {
  const struct bconv_ctx *c = (const struct bconv_ctx *)vctx;
  bconv_blocks(c, 0, c->p->g.cout, begin, end, slot);
}

/* Convs whose packed weights are at least this many bytes split their tasks by output channels (see run()). */
static size_t split_bytes = 512 * 1024;
void sofar_bconv_split_at(size_t bytes) { split_bytes = bytes; }

/* Whether run() may split the conv's channels: large weights, one group, whole words of channels, 2 words or more. */
static int may_split(const struct bconv_plan *p) {
  return packed_words_count(p) * sizeof(uint64_t) >= split_bytes && p->g.groups == 1 && p->g.cout % 64 == 0 &&
         p->g.cout / 64 >= 2;
}

/* Scratch slots: a task's thread index picks one, and threads <= tasks. Blocks of pixels number at most the
   pixels; split tasks (a part of the channels of a block each) can outnumber a small map's pixels (a binary dense
   layer at batch 1 is one pixel), so a conv that may split has at least SPLIT_SLOTS, and run() splits over at
   most as many threads as it has slots. */
#define SPLIT_SLOTS 4
static size_t slots_of(const struct bconv_plan *p) {
  return sofar_slots(may_split(p) ? sofar_max(p->g.pixels, SPLIT_SLOTS) : p->g.pixels);
}

/* task t: block t % blocks of pixels, channels of part t / blocks (parts of whole 64-channel words, as even as
   they can be) */
static void bconv_split_task(void *vctx, size_t begin, size_t end, int slot) {
  const struct bconv_ctx *c = (const struct bconv_ctx *)vctx;
  const size_t words = c->p->g.cout / 64;
  for (size_t t = begin; t < end;) {
    const size_t part = t / c->blocks, b0 = t % c->blocks, b1 = sofar_min(c->blocks, b0 + (end - t));
    bconv_blocks(c, 64 * (words * part / c->parts), 64 * (words * (part + 1) / c->parts), b0, b1, slot);
    t += b1 - b0;
  }
}

/* sofar_pool_pairs_fn in portable C (restrict: the loop vectorizes without alias checks) */
static void pool_pairs_portable(float *restrict y, size_t ys, const float *restrict top, const float *restrict bottom,
                               size_t pairs, size_t cout) {
  for (size_t j = 0; j < pairs; j++, y += ys, top += 2 * cout, bottom += 2 * cout)
    for (size_t q = 0; q < cout; q++) y[q] = (((top[q] + top[cout + q]) + bottom[q]) + bottom[cout + q]) / 4.0f;
}

/*
 * SOFAR_EPI_POOL2_OUT (a 1x1 conv of stride 1 without padding): task t is segment t % segments (p->pool_seg
 * columns, the whole row where its floats fit 16 KB) of output row pair t / segments. The segment's two rows
 * go through the GEMM and the transform block by block, as bconv_task's rows do (the transform prefetching
 * the residual ahead within the segment), into two rows of the slot instead of memory; then out as their 2x2
 * averages (pool2_rows' arithmetic), their signs packed by the transform as usual: the full-size float map
 * that only a pool reads is never written.
 */
static void bconv_pool_task(void *vctx, size_t begin, size_t end, int slot) {
  const struct bconv_ctx *c = (const struct bconv_ctx *)vctx;
  const struct bconv_plan *p = c->p;
  const struct sofar_conv_geom *g = &p->g;
  const struct sofar_ukernels *uk = c->uk;
  const struct sofar_bconv_out *e = &c->out;
  const size_t mr_max = uk->bgemm_mr, seg = p->pool_seg, cout = g->cout;
  const size_t span = span_pixels(p, mr_max);
  const size_t ho = g->ho, wo = g->wo, segments = sofar_div_up(wo, seg), ph = ho / 2;
  unsigned char *s = c->slots + (size_t)slot * p->slot_bytes;
  int32_t *pc = (int32_t *)(s + p->slot_rows);
  float *tmp = (float *)(s + p->slot_rows + p->slot_pc + p->slot_corr);
  float *const rowbuf[2] = {(float *)(s + p->slot_bytes - p->slot_pres),
                            (float *)(s + p->slot_bytes - p->slot_pres) + seg * cout};
  uint64_t words[SOFAR_POOL_SEG_MAX]; /* a row's signs, for half words (one word a pixel: cout <= 32) */
  for (size_t t = begin; t < end; t++) {
    const size_t pair = t / segments, img = pair / ph, i = pair % ph, ow0 = t % segments * seg;
    const size_t cols = sofar_min(seg, wo - ow0); /* even: wo and seg are */
    for (size_t half = 0; half < 2; half++) {
      const size_t row0 = (img * ho + 2 * i + half) * wo + ow0; /* the segment's first pixel in this row */
      for (size_t s0 = 0; s0 < cols; s0 += span) {
        const size_t n = sofar_min(span, cols - s0), p0 = row0 + s0;
        for (size_t t0 = 0; t0 < n; t0 += mr_max) { /* the span's tiles, then one transform (see bconv_blocks) */
          const size_t mr = sofar_min(mr_max, n - t0);
          const uint64_t *rows[SOFAR_MR_MAX];
          for (size_t r = 0; r < mr_max; r++) rows[r] = c->x + (p0 + t0 + (r < mr ? r : 0)) * p->wx;
          block_gemm(c, mr, 1, p->kwords, p->kwords, rows, pc + t0 * cout);
        }
        /* pixel 0 is p0: the floats go to the slot's row, the signs to the packed map (or, for half words, to
           `words`); the transform prefetches pixels ahead within the segment only (pf_end), so its prefetch of y
           stays in the slot's row */
        struct sofar_bconv_out o = *e;
        o.y = rowbuf[half] + s0 * cout, o.ys = cout, o.p2_y = NULL, o.pf_end = cols - s0;
        if (o.res) o.res += p0 * o.rs;
        if (o.yp) o.yp = c->pack_half ? words + s0 : o.yp + p0 * o.yps;
        if (c->pack_half) o.yps = 1;
        uk->bconv_transform(&o, 0, n, pc, NULL, tmp);
      }
      if (!c->pack_half) continue;
      /* half of each word: the other half is another call's (the other slice of a concat's words) */
      const uint64_t keep = c->pack_half == 1 ? ~(uint64_t)0xffffffff : 0xffffffff;
      const unsigned shift = c->pack_half == 1 ? 0 : 32;
      for (size_t r = 0; r < cols; r++) {
        uint64_t *w = e->yp + (row0 + r) * e->yps;
        *w = (*w & keep) | words[r] << shift;
      }
    }
    float *y = e->y + ((img * ph + i) * (wo / 2) + ow0 / 2) * e->ys;
    (uk->pool_pairs ? uk->pool_pairs : pool_pairs_portable)(y, e->ys, rowbuf[0], rowbuf[1], cols / 2, cout);
  }
}

/* SOFAR_EPI_POOL2_OUT's conditions: a 1x1 conv of stride 1 without padding over a map of even height and width,
   its floats written (pooled), nothing else pooled or packed from them */
static int pool_out_ok(const struct bconv_plan *p, int residual_pool2, int pack2, const float *y) {
  const struct sofar_conv_geom *g = &p->g;
  return p->direct && g->sh == 1 && g->sw == 1 && g->h % 2 == 0 && g->w % 2 == 0 && !residual_pool2 && !pack2 && y;
}

static int valid_outputs(const struct bconv_plan *p, float *y, uint64_t *y_packed, int pad_value, int y_stride,
                         int y_pack_groups) {
  if (pad_value < -1 || pad_value > 1) return 0;
  if (y_stride != 0 && (y_stride < 0 || (size_t)y_stride < p->g.cout)) return 0;
  if (y_packed && (y_pack_groups <= 0 || p->g.cout % (size_t)y_pack_groups)) return 0;
  return y || y_packed;
}

static void run(const struct bconv_plan *p, const uint64_t *x, const void *packed, const float *multiplier,
                const float *bias, const float *residual, const float *alpha, const float *post, float *y,
                uint64_t *y_packed, unsigned char *slots, int pad_value, int y_stride, int y_pack_groups,
                const struct bconv_tail *tail) {
  struct bconv_ctx c;
  memset(&c, 0, sizeof c);
  c.p = p;
  c.uk = sofar_ukernels_current();
  c.x = x;
  c.kwords = (const uint64_t *)packed;
  c.wsum = (const int32_t *)(c.kwords + packed_words_count(p));
  struct sofar_bconv_out *o = &c.out;
  o->cout = p->g.cout;
  o->kbits = (int32_t)(p->g.taps * p->g.cg);
  o->mul = multiplier;
  o->bias = bias;
  o->alpha = alpha;
  o->post = post;
  o->res = residual;
  o->y = y;
  o->ys = y_stride ? (size_t)y_stride : p->g.cout;
  o->rs = o->ys;
  o->yp = y_packed;
  o->yp_c = p->g.cout / (y_packed ? (size_t)y_pack_groups : 1);
  o->yp_wg = sofar_div_up(o->yp_c, 64);
  o->yps = (p->g.cout / o->yp_c) * o->yp_wg;
  if (tail) {
    o->scale = tail->scale;
    o->pack_scale = tail->pack_scale;
    o->pack_shift = tail->pack_shift;
    o->res_after = tail->res_after;
    if (tail->rs) o->rs = tail->rs;
    if (tail->yps) o->yps = tail->yps;
    c.res_pool2 = tail->res_pool2;
    c.pack_half = tail->pack_half;
    o->res2 = tail->res2, o->r2s = tail->r2s;
    if (tail->p2_y) {
      o->p2_x = tail->p2_x, o->p2_scale = tail->p2_scale, o->p2_shift = tail->p2_shift, o->p2_y = tail->p2_y;
      o->p2_c = tail->p2_c, o->p2_xs = tail->p2_xs, o->p2_ys = sofar_div_up(tail->p2_c, 64);
    }
  }
  c.pad_value = pad_value;
  c.slots = slots;
  c.rp = (uint64_t *)(slots + slots_of(p) * p->slot_bytes);
  if (p->rowpack) { /* a small gather (deep layers, small maps) on this thread (see SOFAR_ROWPACK_SERIAL_WORDS) */
    const size_t rows = p->g.n * p->g.h + 1;
    if (p->rows_words < SOFAR_ROWPACK_SERIAL_WORDS) rowpack_task(&c, 0, rows, 0);
    else sofar_parallel_for(rows, rowpack_task, &c);
  }
  if (tail && tail->pool_out) {
    sofar_parallel_for(p->g.n * (p->g.ho / 2) * sofar_div_up(p->g.wo, p->pool_seg), bconv_pool_task, &c);
    return;
  }
  /* Weights larger than half a core's L2 (ReActNet-A's 3x3 1024-channel conv at 7x7: 1.18 MB) would be
     streamed again from L3 for every block of pixels each thread computes: split by output channels instead,
     thread t taking part t of them for every pixel, so each thread streams its part of the weights once. One
     group, whole words of channels, packed as one group, nothing packed or pooled on the side. */
  const size_t blocks = sofar_div_up(p->g.pixels, c.uk->bgemm_mr), nslots = slots_of(p);
  size_t parts = (size_t)sofar_threads();
  if (parts > nslots) parts = nslots / blocks; /* the threads that join (<= parts*blocks tasks) have slots */
  if (parts > 1 && may_split(p) && p->g.cout / 64 >= parts && c.out.yp_c == p->g.cout && !c.out.p2_y &&
      !c.res_pool2) {
    c.blocks = blocks, c.parts = parts;
    sofar_parallel_for(parts * blocks, bconv_split_task, &c);
    return;
  }
  sofar_parallel_for(blocks, bconv_task, &c);
}

size_t sofar_bconv2d_scratch_bytes(int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw, int pt,
                                   int pl, int pb, int pr, int dh, int dw, int groups) {
  struct bconv_plan p;
  if (!plan_init(&p, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups)) return 0;
  return SOFAR_ALIGN + round64(packed_bytes(&p)) + slots_of(&p) * p.slot_bytes +
         p.rows_words * sizeof(uint64_t);
}

size_t sofar_bconv2d_packed_kernel_bytes(int cout, int cin, int kh, int kw, int groups) {
  struct bconv_plan p;
  if (!plan_init(&p, 1, kh, kw, cin, cout, kh, kw, 1, 1, 0, 0, 0, 0, 1, 1, groups)) return 0;
  return packed_bytes(&p);
}

void sofar_bconv2d_pack_kernel(const uint64_t *kernel, void *packed, int cout, int cin, int kh, int kw, int groups) {
  struct bconv_plan p;
  if (!plan_init(&p, 1, kh, kw, cin, cout, kh, kw, 1, 1, 0, 0, 0, 0, 1, 1, groups)) return;
  pack_kernel(&p, kernel, packed);
}

void sofar_bconv2d(const uint64_t *x, const uint64_t *kernel, const float *multiplier, const float *bias,
                   const float *residual, float *y, uint64_t *y_packed, void *scratch, int n, int h, int w, int cin,
                   int cout, int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr, int dh, int dw,
                   int groups, int pad_value, int y_stride, int y_pack_groups) {
  struct bconv_plan p;
  if (!plan_init(&p, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups)) return;
  if (!valid_outputs(&p, y, y_packed, pad_value, y_stride, y_pack_groups)) return;
  unsigned char *base = (unsigned char *)sofar_align_ptr(scratch);
  pack_kernel(&p, kernel, base);
  run(&p, x, base, multiplier, bias, residual, NULL, NULL, y, y_packed, base + round64(packed_bytes(&p)), pad_value,
      y_stride, y_pack_groups, NULL);
}

void sofar_bconv2d_prepacked(const uint64_t *x, const void *packed_kernel, const float *multiplier,
                             const float *bias, const float *residual, float *y, uint64_t *y_packed, void *scratch,
                             int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw, int pt, int pl,
                             int pb, int pr, int dh, int dw, int groups, int pad_value, int y_stride,
                             int y_pack_groups) {
  sofar_bconv2d_prepacked_post(x, packed_kernel, multiplier, bias, residual, NULL, NULL, y, y_packed, scratch, n, h, w,
                               cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, pad_value, y_stride,
                               y_pack_groups);
}

void sofar_bconv2d_prepacked_post(const uint64_t *x, const void *packed_kernel, const float *multiplier,
                                  const float *bias, const float *residual, const float *alpha, const float *post,
                                  float *y, uint64_t *y_packed, void *scratch, int n, int h, int w, int cin, int cout,
                                  int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr, int dh, int dw,
                                  int groups, int pad_value, int y_stride, int y_pack_groups) {
  struct bconv_plan p;
  if (!plan_init(&p, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups)) return;
  if (!valid_outputs(&p, y, y_packed, pad_value, y_stride, y_pack_groups)) return;
  unsigned char *base = (unsigned char *)sofar_align_ptr(scratch);
  run(&p, x, packed_kernel, multiplier, bias, residual, alpha, post, y, y_packed, base + round64(packed_bytes(&p)),
      pad_value, y_stride, y_pack_groups, NULL);
}

void sofar_bconv2d_epilogue(const uint64_t *x, const void *packed_kernel, const float *params, const float *residual,
                            float *y, uint64_t *y_packed, void *scratch, int n, int h, int w, int cin, int cout, int kh,
                            int kw, int sh, int sw, int pt, int pl, int pb, int pr, int dh, int dw, int groups,
                            int pad_value, int y_stride, int residual_stride, int y_packed_stride, int ops,
                            int y_pack_groups) {
  sofar_bconv2d_epilogue_pack2(x, packed_kernel, params, residual, y, y_packed, NULL, NULL, NULL, NULL, scratch, n, h, w,
                               cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, pad_value, y_stride,
                               residual_stride, y_packed_stride, ops, y_pack_groups, 0, 0);
}

/* sofar_bconv2d_epilogue_pack2 and sofar_bconv2d_epilogue_res2: the epilogue with a second packing or a
   second residual (residual2 NULL: none; not with SOFAR_EPI_POOL2_OUT) */
static void epilogue(const uint64_t *x, const void *packed_kernel, const float *params, const float *residual,
                     float *y, uint64_t *y_packed, const float *pack2_x, const float *pack2_scale,
                     const float *pack2_shift, uint64_t *pack2_y, const float *residual2, void *scratch, int n, int h,
                     int w, int cin, int cout, int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr, int dh,
                     int dw, int groups, int pad_value, int y_stride, int residual_stride, int y_packed_stride,
                     int ops, int y_pack_groups, int pack2_channels, int pack2_x_stride, int residual2_stride) {
  struct bconv_plan p;
  if (!plan_init(&p, n, h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups)) return;
  if (!valid_outputs(&p, y, y_packed, pad_value, y_stride, y_pack_groups)) return;
  if (ops < 0 || ops > 4095 || residual_stride < 0 || y_packed_stride < 0) return;
  const int pool2 = (ops & SOFAR_EPI_RESIDUAL_POOL2) != 0;
  if (pool2 && (!residual || 2 * p.g.ho > p.g.h || 2 * p.g.wo > p.g.w)) return;
  const int pool_out = (ops & SOFAR_EPI_POOL2_OUT) != 0;
  const int pack_half = ops & SOFAR_EPI_PACK_LOW32 ? 1 : ops & SOFAR_EPI_PACK_HIGH32 ? 2 : 0;
  if (pool_out && !pool_out_ok(&p, pool2, pack2_y != NULL, y)) return;
  if (pack_half && (!pool_out || (ops & SOFAR_EPI_PACK_LOW32 && ops & SOFAR_EPI_PACK_HIGH32) || !y_packed ||
                    y_pack_groups != 1 || cout > 32))
    return;
  if (residual_stride != 0 && (size_t)residual_stride < p.g.cout) return;
  const size_t own_words = (size_t)y_pack_groups * sofar_div_up(p.g.cout / (size_t)y_pack_groups, 64);
  if (y_packed_stride != 0 && (size_t)y_packed_stride < own_words) return;
  /* the per-channel vectors, one after another in the order of their bits */
  const float *v[8] = {NULL};
  for (int bit = 0, at = 0; bit < 8; bit++)
    if (ops & (1 << bit) && (1 << bit) != SOFAR_EPI_RESIDUAL_AFTER) v[bit] = params + (size_t)(at++) * p.g.cout;
  if (pack2_y && (!pack2_x || pack2_channels < 1 || pack2_x_stride < pack2_channels)) return;
  if (residual2 && (pool_out || residual2_stride < 0 || (residual2_stride && (size_t)residual2_stride < p.g.cout))) return;
  struct bconv_tail tail = {v[4], v[6], v[7], (ops & SOFAR_EPI_RESIDUAL_AFTER) != 0, (size_t)residual_stride,
                            (size_t)y_packed_stride, pack2_x, pack2_scale, pack2_shift, pack2_y,
                            pack2_y ? (size_t)pack2_channels : 0, pack2_y ? (size_t)pack2_x_stride : 0, pool2,
                            pool_out, pack_half, residual2,
                            (size_t)(residual2_stride ? residual2_stride : y_stride ? y_stride : cout)};
  unsigned char *base = (unsigned char *)sofar_align_ptr(scratch);
  /* the shift after the activation is the transform's post (with the tail's scale: out*scale + post) */
  run(&p, x, packed_kernel, v[0], v[1], residual, v[3], v[5], y, y_packed,
      base + round64(packed_bytes(&p)), pad_value, y_stride, y_pack_groups, &tail);
}

void sofar_bconv2d_epilogue_pack2(const uint64_t *x, const void *packed_kernel, const float *params,
                                  const float *residual, float *y, uint64_t *y_packed, const float *pack2_x,
                                  const float *pack2_scale, const float *pack2_shift, uint64_t *pack2_y, void *scratch,
                                  int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw, int pt, int pl,
                                  int pb, int pr, int dh, int dw, int groups, int pad_value, int y_stride,
                                  int residual_stride, int y_packed_stride, int ops, int y_pack_groups,
                                  int pack2_channels, int pack2_x_stride) {
  epilogue(x, packed_kernel, params, residual, y, y_packed, pack2_x, pack2_scale, pack2_shift, pack2_y, NULL, scratch, n,
           h, w, cin, cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, pad_value, y_stride, residual_stride,
           y_packed_stride, ops, y_pack_groups, pack2_channels, pack2_x_stride, 0);
}

void sofar_bconv2d_epilogue_res2(const uint64_t *x, const void *packed_kernel, const float *params,
                                 const float *residual, float *y, uint64_t *y_packed, const float *residual2,
                                 void *scratch, int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw,
                                 int pt, int pl, int pb, int pr, int dh, int dw, int groups, int pad_value, int y_stride,
                                 int residual_stride, int y_packed_stride, int ops, int y_pack_groups,
                                 int residual2_stride) {
  if (!residual2) return;
  epilogue(x, packed_kernel, params, residual, y, y_packed, NULL, NULL, NULL, NULL, residual2, scratch, n, h, w, cin,
           cout, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, pad_value, y_stride, residual_stride, y_packed_stride,
           ops, y_pack_groups, 0, 0, residual2_stride);
}

/* On the pool, pixels split as the binary convs split theirs: each thread packs the pixels it computes
   next, and its core keeps them (packed on the calling thread alone, the next conv ran 20-25 % slower). */
void sofar_pack_signs(const float *x, uint64_t *y, int pixels, int channels, int x_stride, int groups) {
  sofar_pack_signs_affine(x, NULL, NULL, y, pixels, channels, x_stride, groups);
}
