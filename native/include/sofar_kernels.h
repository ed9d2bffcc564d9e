/*
 * SoFAr's CPU kernels: the contract between the C kernels and the TypeScript runtime
 * (backends/runtime), for both the Node addon and the WebAssembly module.
 *
 * Layout conventions (every kernel):
 * - Float feature maps are NHWC float32: pixel p = (n*H + h)*W + w holds its channels contiguously.
 *   A kernel that writes a feature map takes `y_stride`, the floats between consecutive pixels of y
 *   (and of `residual`, which shares y's layout); 0 means "= the channel count". With a stride larger
 *   than the channel count a conv writes into a channel slice of a wider map (a free concat).
 * - Packed binary maps are NHWC too: each pixel holds `groups` runs of ceil((C/groups)/64) uint64 words;
 *   channel c of group g is bit (c mod 64) of word (c div 64) of that run. Bit 1 means -1 (x < 0),
 *   bit 0 means +1 (x >= 0, so sign(0) = +1 and sign(-0.0) = +1). Tail bits past the channel count are 0.
 * - Packed binary kernels are [O][kh][kw][ceil(Cg/64)] uint64 words with the same bit meaning, Cg = C/groups;
 *   output channel o reads input group o / (O/groups). Tail bits are 0.
 * - Float conv weights are OIHW in the model; `sofar_conv2d_f32_pack_weights` rearranges them once, at
 *   load time, into whatever layout `sofar_conv2d_f32` wants.
 * - Dense weights are [in][out] row-major (ONNX Gemm's B).
 * - Pads are top, left, bottom, right.
 * - No kernel allocates: working memory ("scratch") is passed in, sized by the *_scratch_bytes function
 *   with the same arguments. No kernel reads or writes outside the extents its arguments imply.
 * - Every pointer may be unaligned (the runtime aligns to 64 bytes, but kernels must not rely on it).
 */
#ifndef SOFAR_KERNELS_H
#define SOFAR_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- capabilities ------------------------------------------------------------------------------ */

enum sofar_isa { SOFAR_ISA_SCALAR = 0, SOFAR_ISA_AVX2 = 1, SOFAR_ISA_AVX512 = 2, SOFAR_ISA_WASM_SIMD128 = 3, SOFAR_ISA_NEON = 4 };

/** The best instruction set this CPU supports, detected at run time (AVX512 = F + BW + VL + VPOPCNTDQ). */
int sofar_detected_isa(void);
/** Forces a lower instruction set (tests); a request above the detected one is clamped. Returns the one in use. */
int sofar_set_isa(int isa);
int sofar_isa_in_use(void);

/** Worker threads for the kernels that parallelise (conv, bconv, pooling). 1 = the calling thread only. */
void sofar_set_threads(int threads);
int sofar_threads(void);

/*
 * Added (2026-12-08): the register-only rate of the instruction set in use, a roofline's ceiling. `tasks`
 * tasks on the thread pool, each `iterations` rounds of a GEMM's inner step on 12 independent accumulators
 * with every operand in a register (kind 0: the binary GEMM's xor, popcount and add; kind 1: the float
 * GEMM's multiply-add); returns the MACs done (binary: bits), 0 for bad arguments and in the WebAssembly
 * build (which has no such loop). The caller times the call.
 */
double sofar_register_peak(int kind, double iterations, int tasks);

/* ---- binary ------------------------------------------------------------------------------------ */

/** Words per pixel of a packed map of `channels` channels in `groups` groups. */
int sofar_packed_words(int channels, int groups);

/** Packs the signs of `pixels` pixels of a float map (`channels` per pixel, pixel stride `x_stride`, 0 = channels). */
void sofar_pack_signs(const float *x, uint64_t *y, int pixels, int channels, int x_stride, int groups);
/** Packs the signs of x * scale[c] + shift[c] (an inference batch norm, computed as sofar_affine_f32 does). */
void sofar_pack_signs_affine(const float *x, const float *scale, const float *shift, uint64_t *y, int pixels,
                             int channels, int x_stride, int groups);
/** Added: two batch norms of one map packed in one pass over it (y as sofar_pack_signs_affine with scale and
    shift, y2 with scale2 and shift2), the floats read once while they are in cache. Kernel interface 4. */
void sofar_pack_signs_affine2(const float *x, const float *scale, const float *shift, uint64_t *y, const float *scale2,
                              const float *shift2, uint64_t *y2, int pixels, int channels, int x_stride, int groups);

/**
 * Binary convolution (a binary dense layer is the 1x1 case with h = 1, w = batch, n = 1):
 *   acc[o] = sum over taps t, input channels c of group(o):  xv(t, c) * wv(o, t, c)
 * where xv is the input value in {-1, +1}, or `pad_value` (0, +1 or -1) for taps that fall in the padding,
 * and wv the kernel value in {-1, +1}. acc is an exact integer.
 *   out[o] = multiplier[o] * acc[o] + bias[o] (+ residual[p][o] when residual is not NULL)
 * computed in float32 in that order. Writes out to y when y is not NULL (stride y_stride) and its signs,
 * packed in `y_pack_groups` groups, to y_packed when y_packed is not NULL. bias may be NULL (0).
 * Output size: ho = (h + pt + pb - dh*(kh-1) - 1) / sh + 1, likewise wo.
 * In place: y may be residual itself (the same pointer and stride): a pixel's residual is read before
 * that pixel's floats are written, and no other pixel's are read (here and in every binary conv below,
 * except with SOFAR_EPI_RESIDUAL_POOL2 or SOFAR_EPI_POOL2_OUT, whose residual and y differ in size).
 */
size_t sofar_bconv2d_scratch_bytes(int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw,
                                   int pt, int pl, int pb, int pr, int dh, int dw, int groups);
void sofar_bconv2d(const uint64_t *x, const uint64_t *kernel, const float *multiplier, const float *bias,
                   const float *residual, float *y, uint64_t *y_packed, void *scratch,
                   int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw,
                   int pt, int pl, int pb, int pr, int dh, int dw, int groups, int pad_value,
                   int y_stride, int y_pack_groups);

/*
 * Added (not in the first version of this contract): load-time re-layout of a binary kernel, and the
 * conv that reads it. sofar_bconv2d re-lays the canonical kernel out into its scratch on every call;
 * sofar_bconv2d_prepacked skips that (it matters for small maps, e.g. 7x7 with 512 channels). The packed
 * layout is the same for every ISA and thread count. Scratch: sofar_bconv2d_scratch_bytes, as for
 * sofar_bconv2d. multiplier may be NULL (1) in both.
 */
size_t sofar_bconv2d_packed_kernel_bytes(int cout, int cin, int kh, int kw, int groups);
void sofar_bconv2d_pack_kernel(const uint64_t *kernel, void *packed, int cout, int cin, int kh, int kw, int groups);
void sofar_bconv2d_prepacked(const uint64_t *x, const void *packed_kernel, const float *multiplier, const float *bias,
                             const float *residual, float *y, uint64_t *y_packed, void *scratch,
                             int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw,
                             int pt, int pl, int pb, int pr, int dh, int dw, int groups, int pad_value,
                             int y_stride, int y_pack_groups);

/*
 * Added: the prepacked binary conv with more of the layers after it in its output transform (ReActNet's
 * RPReLU: a shift, PReLU, a shift): after out = multiplier*acc + bias (+ residual), in float32 and in order,
 *   out = out < 0 ? alpha[o]*out : out   (when alpha is not NULL)
 *   out = out + post[o]                  (when post is not NULL)
 * then written and/or sign-packed as sofar_bconv2d_prepacked does. Same scratch.
 */
void sofar_bconv2d_prepacked_post(const uint64_t *x, const void *packed_kernel, const float *multiplier,
                                  const float *bias, const float *residual, const float *alpha, const float *post,
                                  float *y, uint64_t *y_packed, void *scratch, int n, int h, int w, int cin, int cout,
                                  int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr, int dh, int dw,
                                  int groups, int pad_value, int y_stride, int y_pack_groups);

/*
 * Added: the prepacked binary conv with a chain of per-channel layers in its output transform (ReActNet's
 * BN, shortcut, RPReLU and the next RSign's threshold; QuickNet's ReLU, BN, shortcut). In float32, in order:
 *   v = multiplier[o]*acc + bias[o]                (SOFAR_EPI_MULTIPLIER, SOFAR_EPI_BIAS; absent: 1, +0)
 *   v = v + residual[p][o]                         (residual not NULL, SOFAR_EPI_RESIDUAL_AFTER clear)
 *   v = v < 0 ? alpha[o]*v : v                     (SOFAR_EPI_ALPHA)
 *   v = v*scale[o] + shift[o]                      (SOFAR_EPI_SCALE, SOFAR_EPI_SHIFT; either alone too)
 *   v = v + residual[p][o]                         (residual not NULL, SOFAR_EPI_RESIDUAL_AFTER set)
 * y[p][o] = v (stride y_stride) when y is not NULL; y_packed: the signs of v*pack_scale[o] + pack_shift[o]
 * (SOFAR_EPI_PACK_SCALE, SOFAR_EPI_PACK_SHIFT; absent: 1, +0), in y_pack_groups groups. The vectors named
 * in `ops` lie one after another in `params`, cout floats each, in the order of their bits. The residual's
 * pixel stride is residual_stride (0: y_stride's); y_packed's, in words, y_packed_stride (0: its own
 * words, so a conv can pack its channels into a slice of a wider packed map). Same scratch as sofar_bconv2d.
 */
#define SOFAR_EPI_MULTIPLIER 1
#define SOFAR_EPI_BIAS 2
#define SOFAR_EPI_RESIDUAL_AFTER 4
#define SOFAR_EPI_ALPHA 8
#define SOFAR_EPI_SCALE 16
#define SOFAR_EPI_SHIFT 32
#define SOFAR_EPI_PACK_SCALE 64
#define SOFAR_EPI_PACK_SHIFT 128
/*
 * Added: the residual is the 2x2 average pool, stride 2, no padding, of a map of the conv's input height and
 * width (residual_stride floats a pixel), as sofar_avgpool_f32 computes it: ((x[2i][2j] + x[2i][2j+1]) +
 * x[2i+1][2j]) + x[2i+1][2j+1], then / 4 (ReActNet's strided shortcut, pooled in the conv's pass instead of
 * a pass of its own). Needs 2*ho <= h and 2*wo <= w.
 */
#define SOFAR_EPI_RESIDUAL_POOL2 256
/*
 * Added: y is the 2x2 average pool, stride 2, of the output (n x h/2 x w/2 pixels at y_stride), with
 * SOFAR_EPI_RESIDUAL_POOL2's arithmetic; the full-size floats are never written (y_packed still holds the
 * signs of every output pixel). For 1x1 convs of stride 1 without padding over even h and w (ReActNet's
 * pointwise convs whose output only a strided conv's pooled shortcut reads as floats); not with
 * SOFAR_EPI_RESIDUAL_POOL2 or a second packing. y must be given.
 */
#define SOFAR_EPI_POOL2_OUT 512
/*
 * Added, with SOFAR_EPI_POOL2_OUT only: y_packed's signs (cout <= 32, one group) go into bits 0-31 (LOW32) or
 * 32-63 (HIGH32) of each pixel's first word, its other half kept as it is: two convs of 32 channels each
 * pack their slices of a concat's 64-channel words.
 */
#define SOFAR_EPI_PACK_LOW32 1024
#define SOFAR_EPI_PACK_HIGH32 2048
void sofar_bconv2d_epilogue(const uint64_t *x, const void *packed_kernel, const float *params, const float *residual,
                            float *y, uint64_t *y_packed, void *scratch, int n, int h, int w, int cin, int cout, int kh,
                            int kw, int sh, int sw, int pt, int pl, int pb, int pr, int dh, int dw, int groups,
                            int pad_value, int y_stride, int residual_stride, int y_packed_stride, int ops,
                            int y_pack_groups);

/*
 * Added: sofar_bconv2d_epilogue and a second sign packing in the same pass. Once the call has written output
 * pixel p (y, y_packed), the signs of pack2_x's pixel p (pack2_channels floats at pixel stride pack2_x_stride),
 * each v*pack2_scale[c] + pack2_shift[c] in float32 (NULL: 1, +0), as sofar_pack_signs_affine packs them, go
 * into one group of ceil(pack2_channels/64) words at pack2_y + p*those words. pack2_x is y itself (a second
 * threshold of the output: ReActNet's two 1x1 convs read the same map with thresholds of their own) or a wider
 * map y is a slice of (the signs of a whole channel concat, packed by the conv that writes its last slice):
 * its other channels of pixel p must be final before the call. pack2_y NULL: sofar_bconv2d_epilogue.
 */
void sofar_bconv2d_epilogue_pack2(const uint64_t *x, const void *packed_kernel, const float *params,
                                  const float *residual, float *y, uint64_t *y_packed, const float *pack2_x,
                                  const float *pack2_scale, const float *pack2_shift, uint64_t *pack2_y, void *scratch,
                                  int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw, int pt, int pl,
                                  int pb, int pr, int dh, int dw, int groups, int pad_value, int y_stride,
                                  int residual_stride, int y_packed_stride, int ops, int y_pack_groups,
                                  int pack2_channels, int pack2_x_stride);

/*
 * Added: sofar_bconv2d_epilogue with a second residual map, added right after the first residual's place before
 * the activation (whether or not SOFAR_EPI_RESIDUAL_AFTER moves the first one after it):
 *   v = multiplier[o]*acc + bias[o];  v = v + residual[p][o] (RESIDUAL_AFTER clear);  v = v + residual2[p][o]
 * then the rest of sofar_bconv2d_epilogue's chain. A fractal join of columns whose last convs add their unit's
 * shortcut: each conv adds the sum of the columns before it as residual2, and the last one scales by the mean's
 * 1/k (SOFAR_EPI_SCALE). residual2's pixel stride is residual2_stride (0: y_stride's); it may be y itself
 * (the same pointer and stride). Not with SOFAR_EPI_POOL2_OUT; residual2 must not be NULL. Same scratch.
 */
void sofar_bconv2d_epilogue_res2(const uint64_t *x, const void *packed_kernel, const float *params,
                                 const float *residual, float *y, uint64_t *y_packed, const float *residual2,
                                 void *scratch, int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw,
                                 int pt, int pl, int pb, int pr, int dh, int dw, int groups, int pad_value, int y_stride,
                                 int residual_stride, int y_packed_stride, int ops, int y_pack_groups,
                                 int residual2_stride);

/* ---- float ------------------------------------------------------------------------------------- */

size_t sofar_conv2d_f32_packed_weights_bytes(int cout, int cin, int kh, int kw, int groups);
/** OIHW float weights [cout][cin/groups][kh][kw] -> the layout sofar_conv2d_f32 reads. */
void sofar_conv2d_f32_pack_weights(const float *w_oihw, float *packed, int cout, int cin, int kh, int kw, int groups);
size_t sofar_conv2d_f32_scratch_bytes(int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw,
                                      int pt, int pl, int pb, int pr, int dh, int dw, int groups);
/** Float convolution with zero padding: y = conv(x, w) + bias (bias may be NULL) (+ residual), then relu if `relu`. */
void sofar_conv2d_f32(const float *x, const float *packed_weights, const float *bias, const float *residual,
                      float *y, void *scratch,
                      int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw,
                      int pt, int pl, int pb, int pr, int dh, int dw, int groups, int y_stride, int relu);

/*
 * Added: a float stem conv followed by a max pool, fused: y = maxpool(act(conv(x) + bias)) with the pool's
 * window (pkh pkw psh psw ppt ppl ppb ppr) over the conv's output, bit-identical to sofar_conv2d_f32 (y_stride
 * 0, no residual), sofar_prelu_f32 where alpha is given (a slope a channel; NULL: none; after the relu if
 * both) then sofar_maxpool_f32, without storing the conv's output. A 1x1 window of stride 1 without
 * padding is no pool (y = the conv's output). x_nchw: x is in NCHW (the model's input), read as
 * sofar_nchw_to_nhwc then the conv would. Only for the few-input-channel convs (cin <= 4, groups 1, no
 * dilation): for any other shape the scratch size is 0 and the call returns without touching memory.
 * Changed (2026-12-07): alpha is new, before y; the Node addon's kernel interface went from 1 to 2 with it.
 */
size_t sofar_conv2d_f32_maxpool_scratch_bytes(int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw,
                                              int pt, int pl, int pb, int pr, int dh, int dw, int groups, int pkh,
                                              int pkw, int psh, int psw, int ppt, int ppl, int ppb, int ppr);
void sofar_conv2d_f32_maxpool(const float *x, const float *packed_weights, const float *bias, const float *alpha,
                              float *y, void *scratch,
                              int n, int h, int w, int cin, int cout, int kh, int kw, int sh, int sw, int pt, int pl,
                              int pb, int pr, int dh, int dw, int groups, int relu, int x_nchw, int pkh, int pkw,
                              int psh, int psw, int ppt, int ppl, int ppb, int ppr);
/*
 * Added (2026-12-08): sofar_conv2d_f32_maxpool that also packs the signs of its output y into y_packed
 * (ceil(cout/64) words a pixel, one group), of y*pack_scale + pack_shift where they are given (either may be
 * NULL): bit-identical to sofar_conv2d_f32_maxpool then sofar_pack_signs (or sofar_pack_signs_affine). Each
 * output row is packed by the thread that wrote it, while it is in cache: a separate pack's threads split the
 * rows otherwise than the stem's, and the next conv then waits on lines another core holds. y_packed NULL:
 * nothing is done.
 */
void sofar_conv2d_f32_maxpool_pack(const float *x, const float *packed_weights, const float *bias, const float *alpha,
                                   float *y, uint64_t *y_packed, const float *pack_scale, const float *pack_shift,
                                   void *scratch, int n, int h, int w, int cin, int cout, int kh, int kw, int sh,
                                   int sw, int pt, int pl, int pb, int pr, int dh, int dw, int groups, int relu,
                                   int x_nchw, int pkh, int pkw, int psh, int psw, int ppt, int ppl, int ppb, int ppr);

/*
 * Added: a 1x1 float conv (groups 1, stride 1, no padding) over the 2x2 /2 average pool of x, fused:
 * y = conv(avgpool(x)) + bias (+ residual), then relu if `relu`, bit-identical to sofar_avgpool_f32 (2x2,
 * stride 2, no padding) then sofar_conv2d_f32, without storing the pooled map (a ResNet shortcut's pool
 * and projection). h, w: x's size; y is (h/2) x (w/2), rounded down. Scratch: the size function's bytes.
 */
size_t sofar_conv2d_f32_avgpool2_scratch_bytes(int n, int h, int w, int cin, int cout);
void sofar_conv2d_f32_avgpool2(const float *x, const float *packed_weights, const float *bias, const float *residual,
                               float *y, void *scratch, int n, int h, int w, int cin, int cout, int y_stride,
                               int relu);

/*
 * Added: depthwise convolution (groups = channels in = channels out) with weights [kh][kw][c] (tap-major;
 * OIHW [c][1][kh][kw] transposed). Per output element, in float32: acc = 0; acc = acc + x*w for each tap
 * inside the input, in row-major tap order (no FMA); then + bias[c] (bias may be NULL), + residual, then
 * relu if `relu`. Bit-identical on every ISA and thread count. No scratch.
 */
void sofar_dwconv2d_f32(const float *x, const float *weights, const float *bias, const float *residual, float *y,
                        int n, int h, int w, int c, int kh, int kw, int sh, int sw, int pt, int pl, int pb, int pr,
                        int dh, int dw, int y_stride, int relu);

/** y[n][out] = x[n][in] . w[in][out] + bias (bias may be NULL). */
void sofar_dense_f32(const float *x, const float *w, const float *bias, float *y, int n, int in, int out);

/* pooling on NHWC; padded cells never win a max and are not counted in a mean (count_include_pad = 0) */
void sofar_maxpool_f32(const float *x, float *y, int n, int h, int w, int c, int kh, int kw, int sh, int sw,
                       int pt, int pl, int pb, int pr);
/** sofar_maxpool_f32 of sofar_relu_f32(x), bit for bit, without storing the relu (QuickNet's relu → max pool). */
void sofar_maxpool_relu_f32(const float *x, float *y, int n, int h, int w, int c, int kh, int kw, int sh, int sw,
                            int pt, int pl, int pb, int pr);
void sofar_avgpool_f32(const float *x, float *y, int n, int h, int w, int c, int kh, int kw, int sh, int sw,
                       int pt, int pl, int pb, int pr);
/**
 * y[n][c] = mean over the h*w pixels of image n: the first and the second half of the pixels (the first
 * pixels/2, then the rest) each summed in pixel order, the two sums added, then divided by h*w; the same for any
 * thread count (each half on the thread whose half of the map the convs compute).
 */
void sofar_global_avgpool_f32(const float *x, float *y, int n, int pixels, int c);

/* element-wise, over `pixels` pixels of `c` channels (x and y contiguous, y_stride for y as above) */
/** y = x * scale[c] + shift[c] (inference batch norm folded to one affine map). */
void sofar_affine_f32(const float *x, const float *scale, const float *shift, float *y, int pixels, int c, int y_stride);
void sofar_relu_f32(const float *x, float *y, int pixels, int c, int y_stride);
void sofar_prelu_f32(const float *x, const float *alpha, float *y, int pixels, int c, int y_stride);
void sofar_clip_f32(const float *x, float *y, int pixels, int c, int y_stride, float lo, float hi);
/** y = x >= 0 ? 1 : -1 */
void sofar_sign_f32(const float *x, float *y, int pixels, int c, int y_stride);
/* Added: y = 1 / (1 + e^-x) (e^x to ~2 ulp); y = x > 0 ? 1 : 0 (NaN: 0); y = round half to even (ONNX Round);
   y = x / d[c]. */
void sofar_sigmoid_f32(const float *x, float *y, int pixels, int c, int y_stride);
void sofar_heaviside_f32(const float *x, float *y, int pixels, int c, int y_stride);
void sofar_round_f32(const float *x, float *y, int pixels, int c, int y_stride);
void sofar_div_f32(const float *x, const float *d, float *y, int pixels, int c, int y_stride);
/** Added: copies c channels of each pixel from x (pixel stride x_stride) to y (stride y_stride): a channel slice. */
void sofar_copy_strided_f32(const float *x, float *y, int pixels, int c, int x_stride, int y_stride);
/** Added: y = x with `before` zero channels in front and `after` behind (y has before + c + after channels). */
void sofar_pad_channels_f32(const float *x, float *y, int pixels, int c, int before, int after);
/** Copies x (contiguous, c channels) into y (stride y_stride): one input of a channel concat. */
void sofar_copy_f32(const float *x, float *y, int pixels, int c, int y_stride);

/** Joins, over `count` contiguous floats: y = y + x, y = max(y, x), y = y * s. (Mean = sums, then * 1/k.) */
void sofar_add_f32(const float *a, const float *b, float *y, size_t count);
void sofar_max_f32(const float *a, const float *b, float *y, size_t count);
void sofar_scale_f32(const float *x, float s, float *y, size_t count);
/*
 * Added: a join in one pass over pixels x channels contiguous floats: y = ((a + b) + c) + d in float32, in that
 * order (c, d NULL: left out), then y = y * s unless s is 1 (a mean: s = 1/k, as sofar_scale_f32); with y_packed
 * not NULL, also the signs of y packed in one group of ceil(channels/64) words a pixel (as sofar_pack_signs).
 * The same floats as sofar_add_f32 then sofar_scale_f32; a may be y (a longer join continues in place).
 * y_stride: floats between y's pixels (0: channels; more: y is a slice of a concat's channels, and a, if it is
 * y, has that stride too). Changed (2026-12-07): y_stride is new; kernel interface 3.
 */
void sofar_sum_f32(const float *a, const float *b, const float *c, const float *d, float s, float *y,
                   uint64_t *y_packed, int pixels, int channels, int y_stride);
/** Added: y = a * b over `count` floats; and y[i][p][q] = x[i][p][q] * s[i][q] (a per-image channel vector, broadcast). */
void sofar_mul_f32(const float *a, const float *b, float *y, size_t count);
void sofar_mul_channels_f32(const float *x, const float *s, float *y, int n, int pixels, int c);

/** NCHW -> NHWC and back (the model's boundary). */
void sofar_nchw_to_nhwc(const float *x, float *y, int n, int c, int h, int w);
void sofar_nhwc_to_nchw(const float *x, float *y, int n, int c, int h, int w);

#ifdef __cplusplus
}
#endif
#endif
