/* Transposed conv as a scatter from each input pixel; w is [C, M/group, KH, KW]. Output
   channels [m0, m1) are owned by this call, so concurrent calls never write the same bytes. */
#include "../kernels.h"
#include "../../runtime/fixedpoint.h"

void esdk_conv2d_transpose_f32_scalar(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y) {
  int64_t cg = a->C / a->group, mg = a->M / a->group, n, m, c, ih, iw, kh, kw, i;
  int64_t ohw = (int64_t)a->OH * a->OW;
  for (n = 0; n < a->N; n++)
    for (m = a->m0; m < a->m1; m++) {
      int64_t g = m / mg, mm = m % mg;
      float *ym = y + (n * a->M + m) * ohw;
      for (i = 0; i < ohw; i++) ym[i] = b ? b[m] : 0.0f;
      for (c = 0; c < cg; c++) {
        const float *xc = x + (n * a->C + g * cg + c) * a->H * a->W;
        const float *wc = w + ((g * cg + c) * mg + mm) * a->KH * a->KW;
        for (ih = 0; ih < a->H; ih++)
          for (iw = 0; iw < a->W; iw++) {
            float xv = xc[ih * a->W + iw];
            for (kh = 0; kh < a->KH; kh++) {
              int64_t oh = ih * a->sh - a->pt + kh * a->dh;
              if (oh < 0 || oh >= a->OH) continue;
              for (kw = 0; kw < a->KW; kw++) {
                int64_t ow = iw * a->sw - a->pl + kw * a->dw;
                if (ow < 0 || ow >= a->OW) continue;
                ym[oh * a->OW + ow] += xv * wc[kh * a->KW + kw];
              }
            }
          }
      }
      for (i = 0; i < ohw; i++) ym[i] = esdk_clampf(ym[i], a->lo, a->hi);
    }
}
