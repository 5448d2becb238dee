/* NCHW max / average pooling; padded positions never contribute to max, and contribute to the
   average count only with count_include_pad. */
#include "../kernels.h"

#define WINDOW(a, oh, ow)                                                               \
  int64_t h0 = (oh) * (a)->sh - (a)->pt, w0 = (ow) * (a)->sw - (a)->pl;                   \
  int64_t hs = h0 < 0 ? 0 : h0, ws = w0 < 0 ? 0 : w0;                                 \
  int64_t he = h0 + (a)->KH > (a)->H ? (a)->H : h0 + (a)->KH;                         \
  int64_t we = w0 + (a)->KW > (a)->W ? (a)->W : w0 + (a)->KW

void esdk_maxpool_f32_scalar(const esdk_pool_args *a, const float *x, float *y) {
  int64_t nc, oh, ow, h, w;
  for (nc = 0; nc < (int64_t)a->N * a->C; nc++) {
    const float *xc = x + nc * a->H * a->W;
    for (oh = 0; oh < a->OH; oh++)
      for (ow = 0; ow < a->OW; ow++) {
        WINDOW(a, oh, ow);
        float mx = xc[hs * a->W + ws];
        for (h = hs; h < he; h++)
          for (w = ws; w < we; w++) mx = xc[h * a->W + w] > mx ? xc[h * a->W + w] : mx;
        *y++ = mx;
      }
  }
}

void esdk_avgpool_f32_scalar(const esdk_pool_args *a, const float *x, float *y) {
  int64_t nc, oh, ow, h, w;
  for (nc = 0; nc < (int64_t)a->N * a->C; nc++) {
    const float *xc = x + nc * a->H * a->W;
    for (oh = 0; oh < a->OH; oh++)
      for (ow = 0; ow < a->OW; ow++) {
        WINDOW(a, oh, ow);
        float s = 0.0f;
        int64_t cnt = a->count_include_pad ? (int64_t)a->KH * a->KW : (he - hs) * (we - ws);
        for (h = hs; h < he; h++)
          for (w = ws; w < we; w++) s += xc[h * a->W + w];
        *y++ = s / (float)cnt;
      }
  }
}

void esdk_global_avgpool_f32_scalar(const float *x, float *y, int64_t nc, int64_t hw) {
  int64_t c, i;
  for (c = 0; c < nc; c++) {
    double s = 0.0;
    for (i = 0; i < hw; i++) s += x[c * hw + i];
    y[c] = (float)(s / (double)hw);
  }
}
