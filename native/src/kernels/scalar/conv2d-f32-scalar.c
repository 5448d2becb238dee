/* General NCHW convolution: groups, dilation, asymmetric pads, any stride. */
#include "../kernels.h"
#include "../../runtime/fixedpoint.h"

void esdk_conv2d_f32_scalar(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y) {
  int64_t cg = a->C / a->group, mg = a->M / a->group, n, m, oh, ow, c, kh, kw;
  for (n = 0; n < a->N; n++)
    for (m = a->m0; m < a->m1; m++) {
      const float *wm = w + m * cg * a->KH * a->KW;
      const float *xg = x + (n * a->C + (m / mg) * cg) * a->H * a->W;
      float *ym = y + (n * a->M + m) * a->OH * a->OW;
      for (oh = 0; oh < a->OH; oh++)
        for (ow = 0; ow < a->OW; ow++) {
          float acc = b ? b[m] : 0.0f;
          for (c = 0; c < cg; c++)
            for (kh = 0; kh < a->KH; kh++) {
              int64_t ih = oh * a->sh - a->pt + kh * a->dh;
              if (ih < 0 || ih >= a->H) continue;
              for (kw = 0; kw < a->KW; kw++) {
                int64_t iw = ow * a->sw - a->pl + kw * a->dw;
                if (iw < 0 || iw >= a->W) continue;
                acc += xg[(c * a->H + ih) * a->W + iw] * wm[(c * a->KH + kh) * a->KW + kw];
              }
            }
          ym[oh * a->OW + ow] = esdk_clampf(acc, a->lo, a->hi);
        }
    }
}
