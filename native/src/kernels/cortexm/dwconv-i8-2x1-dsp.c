/* int8 depthwise convolution, NCHW, any kernel size, stride, padding and dilation. Border
   pixels (a tap falls in the padding) take the checked path; interior pixels skip the
   bounds tests, and for 3-wide stride-1 kernels compute 2 adjacent outputs per kernel row
   from one 4-byte load: out0 = (x0,x2).(w0,w2) + x1*w1, out1 = (x1,x3).(w0,w2) + x2*w1
   (SMLAD + SMLABB / SMLATB). */
#include "cortexm.h"
#include "../dwconv-border-i8.h"
#ifdef ESDK_HAVE_DSP

int esdk_dwconv_i8_2x1_dsp(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  const int32_t KH = a->KH, KW = a->KW, HW = a->H * a->W, OHW = a->OH * a->OW;
  const int pair = KW == 3 && a->sw == 1 && a->dw == 1;
  int32_t n, m, oh, ow, kh, kw;
  if (a->C / a->group != 1 || a->M != a->group) return 0; /* channel multiplier != 1 */
  /* columns whose taps all lie inside the row: ow in [ow_lo, ow_hi) */
  int32_t ow_lo = (a->pl + a->sw - 1) / a->sw, ow_hi = 0;
  for (ow = a->OW - 1; ow >= 0; ow--)
    if (ow * a->sw - a->pl + (KW - 1) * a->dw < a->W) {
      ow_hi = ow + 1;
      break;
    }
  if (ow_lo > ow_hi) ow_lo = ow_hi;
  for (n = 0; n < a->N; n++)
    for (m = a->m0; m < a->m1; m++) {
      const int8_t *xm = x + ((int64_t)n * a->C + m) * HW, *wm = w + (int64_t)m * KH * KW;
      int8_t *ym = y + ((int64_t)n * a->M + m) * OHW;
      const int32_t mu = a->mult[m * a->qstride], sh = a->shift[m * a->qstride], bm = b ? b[m] : 0;
      const int32_t bias = (int32_t)((uint32_t)bm - (uint32_t)a->zx * (uint32_t)esdk_wsum(wm, KH * KW));
      for (oh = 0; oh < a->OH; oh++) {
        const int32_t ih0 = oh * a->sh - a->pt;
        const int rows_in = ih0 >= 0 && ih0 + (KH - 1) * a->dh < a->H;
        int8_t *yr = ym + oh * a->OW;
        for (ow = 0; ow < a->OW; ow++) {
          if (rows_in && ow == ow_lo) { /* interior run */
            if (pair)
              for (; ow + 2 <= ow_hi; ow += 2) {
                int32_t acc0 = bias, acc1 = bias;
                const int8_t *xp = xm + ih0 * a->W + ow - a->pl;
                for (kh = 0; kh < KH; kh++, xp += a->dh * a->W) {
                  const int8_t *wr = wm + kh * 3;
                  const int32_t xw = esdk_ld32(xp), e = ESDK_SX_EVEN(xw), o = ESDK_SX_ODD(xw);
                  const int32_t w02 = ESDK_PAIR(wr[0], wr[2]), w1 = wr[1];
                  acc0 = __smlad(e, w02, acc0);
                  acc0 = __smlabb(o, w1, acc0);
                  acc1 = __smlad(o, w02, acc1);
                  acc1 = __smlatb(e, w1, acc1);
                }
                yr[ow] = esdk_requant(acc0, mu, sh, a->zy, a->qmin, a->qmax);
                yr[ow + 1] = esdk_requant(acc1, mu, sh, a->zy, a->qmin, a->qmax);
              }
            for (; ow < ow_hi; ow++) {
              uint32_t acc = (uint32_t)bias;
              const int8_t *xp = xm + ih0 * a->W + ow * a->sw - a->pl;
              for (kh = 0; kh < KH; kh++, xp += a->dh * a->W)
                for (kw = 0; kw < KW; kw++) acc += (uint32_t)(xp[kw * a->dw] * wm[kh * KW + kw]);
              yr[ow] = esdk_requant((int32_t)acc, mu, sh, a->zy, a->qmin, a->qmax);
            }
            if (ow >= a->OW) break;
          }
          yr[ow] = esdk_requant((int32_t)((uint32_t)bm + (uint32_t)esdk_dw_border_i8(a, xm, wm, oh, ow)), mu, sh, a->zy,
                                a->qmin, a->qmax);
        }
      }
    }
  return 1;
}
#else
typedef int esdk_dwconv_i8_dsp_unused;
#endif
