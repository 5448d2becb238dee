/* In-place kernels: the output starts at the input's address (the memory planner aliases
   them when the input dies at the op: edge_sdk/compile/memplan.py `inplace`). Scalar C99,
   single-threaded (a channel split across threads would not be safe), the same arithmetic
   as esdk_conv2d_i8_scalar / esdk_quantize_f32_scalar, hence bit-exact with every other
   implementation. Each returns 0 (and writes nothing) when the shape is outside what it is
   proven safe for; esdk_inplace_ok says so ahead of time for the planner's checks.

   Depthwise (group == C == M, N == 1, NCHW): channel by channel, output row by output row.
   Before output row r of channel c is computed, every input row of channel c its window
   needs is copied into a ring of KH rows. Output row r ends at c*OH*OW + (r+1)*OW; the
   first input row not yet copied, i0 = r*sh - pt + KH, starts at c*H*W + i0*W, and
   (r+1)*OW <= i0*W since OW <= W, sh >= 1, pt < KH; later channels start at
   (c+1)*H*W >= c*OH*OW + OH*OW. So no write reaches an input byte still to be read.

   Pointwise (1x1, stride 1, no padding, group 1, N == 1, OH == H, OW == W): pixel by pixel;
   the C inputs of pixel p are copied first, and output (m, p) lands on input (m, p) of the
   same pixel, already copied, or past the input.

   QUANTIZE f32 -> int8: y[i] (byte i) lies in x[i / 4], already read. */
#include <string.h>

#include "../kernels.h"
#include "../../runtime/fixedpoint.h"

int esdk_dwconv_i8_inplace_ok(const esdk_conv_args *a) {
  return a->N == 1 && a->group == a->C && a->group == a->M && a->KH >= 1 && a->KH <= ESDK_INPLACE_MAX_K &&
         a->W <= ESDK_INPLACE_MAX_W && a->OW <= a->W && a->OH <= a->H && a->sh >= 1 && a->sw >= 1 && a->dh == 1 &&
         a->pt >= 0 && a->pt < a->KH;
}

int esdk_conv1x1_i8_inplace_ok(const esdk_conv_args *a) {
  return a->N == 1 && a->group == 1 && a->KH == 1 && a->KW == 1 && a->sh == 1 && a->sw == 1 && a->pt == 0 &&
         a->pl == 0 && a->OH == a->H && a->OW == a->W && a->C <= ESDK_INPLACE_MAX_C;
}

int esdk_dwconv_i8_inplace(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  int8_t ring[ESDK_INPLACE_MAX_K * ESDK_INPLACE_MAX_W];
  int32_t c, r, ow, kh, kw, next;
  if (!esdk_dwconv_i8_inplace_ok(a)) return 0;
  for (c = 0; c < a->C; c++) {
    const int8_t *xc = x + (size_t)c * a->H * a->W;
    const int8_t *wc = w + (size_t)c * a->KH * a->KW;
    int8_t *yc = y + (size_t)c * a->OH * a->OW;
    int32_t mu = a->mult[c * a->qstride], sh = a->shift[c * a->qstride];
    next = 0;
    for (r = 0; r < a->OH; r++) {
      int32_t top = r * a->sh - a->pt, need = top + a->KH - 1;
      if (need > a->H - 1) need = a->H - 1;
      for (; next <= need; next++) memcpy(ring + (next % a->KH) * a->W, xc + (size_t)next * a->W, (size_t)a->W);
      for (ow = 0; ow < a->OW; ow++) {
        uint32_t acc = b ? (uint32_t)b[c] : 0u;
        for (kh = 0; kh < a->KH; kh++) {
          int32_t ih = top + kh;
          const int8_t *row;
          if (ih < 0 || ih >= a->H) continue;
          row = ring + (ih % a->KH) * a->W;
          for (kw = 0; kw < a->KW; kw++) {
            int32_t iw = ow * a->sw - a->pl + kw * a->dw;
            if (iw < 0 || iw >= a->W) continue;
            acc += (uint32_t)((row[iw] - a->zx) * wc[kh * a->KW + kw]);
          }
        }
        yc[(size_t)r * a->OW + ow] = esdk_requant((int32_t)acc, mu, sh, a->zy, a->qmin, a->qmax);
      }
    }
  }
  return 1;
}

int esdk_conv1x1_i8_inplace(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  int8_t px[ESDK_INPLACE_MAX_C];
  int64_t hw = (int64_t)a->H * a->W, p;
  int32_t m, k;
  if (!esdk_conv1x1_i8_inplace_ok(a)) return 0;
  for (p = 0; p < hw; p++) {
    for (k = 0; k < a->C; k++) px[k] = x[k * hw + p];
    for (m = 0; m < a->M; m++) {
      const int8_t *wm = w + (size_t)m * a->C;
      uint32_t acc = b ? (uint32_t)b[m] : 0u;
      for (k = 0; k < a->C; k++) acc += (uint32_t)((px[k] - a->zx) * wm[k]);
      y[m * hw + p] = esdk_requant((int32_t)acc, a->mult[m * a->qstride], a->shift[m * a->qstride], a->zy, a->qmin,
                                   a->qmax);
    }
  }
  return 1;
}
