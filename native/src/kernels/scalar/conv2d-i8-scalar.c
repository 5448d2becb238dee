/* int8 NCHW convolution: int32 accumulation of (x - zx) * w, per-channel requantization. */
#include "../kernels.h"
#include "../../runtime/fixedpoint.h"

void esdk_conv2d_i8_scalar(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  int64_t cg = a->C / a->group, mg = a->M / a->group, n, m, oh, ow, c, kh, kw;
  for (n = 0; n < a->N; n++)
    for (m = a->m0; m < a->m1; m++) {
      const int8_t *wm = w + m * cg * a->KH * a->KW;
      const int8_t *xg = x + (n * a->C + (m / mg) * cg) * a->H * a->W;
      int8_t *ym = y + (n * a->M + m) * a->OH * a->OW;
      int32_t mu = a->mult[m * a->qstride], sh = a->shift[m * a->qstride];
      for (oh = 0; oh < a->OH; oh++)
        for (ow = 0; ow < a->OW; ow++) {
          uint32_t acc = b ? (uint32_t)b[m] : 0u; /* unsigned: int32 wraparound without UB */
          for (c = 0; c < cg; c++)
            for (kh = 0; kh < a->KH; kh++) {
              int64_t ih = oh * a->sh - a->pt + kh * a->dh;
              if (ih < 0 || ih >= a->H) continue;
              for (kw = 0; kw < a->KW; kw++) {
                int64_t iw = ow * a->sw - a->pl + kw * a->dw;
                if (iw < 0 || iw >= a->W) continue;
                acc += (uint32_t)((xg[(c * a->H + ih) * a->W + iw] - a->zx) * wm[(c * a->KH + kh) * a->KW + kw]);
              }
            }
          ym[oh * a->OW + ow] = esdk_requant((int32_t)acc, mu, sh, a->zy, a->qmin, a->qmax);
        }
    }
}
