/* int8 depthwise convolution, NCHW, any kernel / stride / padding / dilation. Interior
   pixels (all taps inside the image) are computed 4 adjacent outputs at a time: per tap one
   widening byte load of the 4 inputs (a gather with offsets 0,s,2s,3s for stride s) and a
   vector multiply-accumulate by the scalar tap weight; the run's tail is predicated.
   Border pixels take the checked scalar path (padding contributes nothing). */
#include "helium.h"
#include "../dwconv-border-i8.h"
#ifdef ESDK_HAVE_MVE

int esdk_dwconv_i8_4_helium(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  const int32_t KH = a->KH, KW = a->KW, HW = a->H * a->W, OHW = a->OH * a->OW, sw = a->sw;
  const uint32x4_t offs = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)sw);
  int32_t n, m, oh, ow, kh, kw, ow_lo, ow_hi = 0;
  if (a->C / a->group != 1 || a->M != a->group) return 0; /* channel multiplier != 1 */
  ow_lo = (a->pl + sw - 1) / sw;
  for (ow = a->OW - 1; ow >= 0; ow--)
    if (ow * sw - a->pl + (KW - 1) * a->dw < a->W) {
      ow_hi = ow + 1;
      break;
    }
  if (ow_lo > ow_hi) ow_lo = ow_hi;
  for (n = 0; n < a->N; n++)
    for (m = a->m0; m < a->m1; m++) {
      const int8_t *xm = x + ((int64_t)n * a->C + m) * HW, *wm = w + (int64_t)m * KH * KW;
      int8_t *ym = y + ((int64_t)n * a->M + m) * OHW;
      const int32_t mu = a->mult[m * a->qstride], sh = a->shift[m * a->qstride], bm = b ? b[m] : 0;
      const int32_t bias = esdk_mve_bias(bm, a->zx, esdk_mve_wsum(wm, KH * KW));
      for (oh = 0; oh < a->OH; oh++) {
        const int32_t ih0 = oh * a->sh - a->pt;
        const int rows_in = ih0 >= 0 && ih0 + (KH - 1) * a->dh < a->H;
        int8_t *yr = ym + oh * a->OW;
        for (ow = 0; ow < a->OW; ow++) {
          if (rows_in && ow == ow_lo) {
            for (; ow < ow_hi; ow += 4) {
              const int np = ow_hi - ow < 4 ? ow_hi - ow : 4;
              const mve_pred16_t pr = vctp32q((uint32_t)np);
              int32x4_t acc = vdupq_n_s32(bias);
              int32_t out[4];
              int q;
              const int8_t *xp = xm + ih0 * a->W + ow * sw - a->pl;
              for (kh = 0; kh < KH; kh++, xp += a->dh * a->W)
                for (kw = 0; kw < KW; kw++) {
                  const int32x4_t xv = sw == 1 ? vldrbq_z_s32(xp + kw * a->dw, pr)
                                               : vldrbq_gather_offset_z_s32(xp + kw * a->dw, offs, pr);
                  acc = vmlaq_n_s32(acc, xv, wm[kh * KW + kw]);
                }
              vst1q_s32(out, acc);
              for (q = 0; q < np; q++) yr[ow + q] = esdk_requant(out[q], mu, sh, a->zy, a->qmin, a->qmax);
            }
            ow = ow_hi;
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
typedef int esdk_dwconv_i8_helium_unused;
#endif
