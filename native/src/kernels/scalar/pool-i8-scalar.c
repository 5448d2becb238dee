/* int8 pooling on raw quantized values (input and output share scale and zero point);
   averages round half away from zero with C division, like TFLite. */
#include "../kernels.h"

#define WINDOW(a, oh, ow)                                                               \
  int64_t h0 = (oh) * (a)->sh - (a)->pt, w0 = (ow) * (a)->sw - (a)->pl;                   \
  int64_t hs = h0 < 0 ? 0 : h0, ws = w0 < 0 ? 0 : w0;                                 \
  int64_t he = h0 + (a)->KH > (a)->H ? (a)->H : h0 + (a)->KH;                         \
  int64_t we = w0 + (a)->KW > (a)->W ? (a)->W : w0 + (a)->KW

static int8_t rdiv(int64_t s, int64_t cnt) {
  int64_t r = (s + (s > 0 ? cnt / 2 : (s < 0 ? -(cnt / 2) : 0))) / cnt;
  return (int8_t)(r < -128 ? -128 : (r > 127 ? 127 : r));
}

void esdk_maxpool_i8_scalar(const esdk_pool_args *a, const int8_t *x, int8_t *y) {
  int64_t nc, oh, ow, h, w;
  for (nc = 0; nc < (int64_t)a->N * a->C; nc++) {
    const int8_t *xc = x + nc * a->H * a->W;
    for (oh = 0; oh < a->OH; oh++)
      for (ow = 0; ow < a->OW; ow++) {
        WINDOW(a, oh, ow);
        int8_t mx = -128;
        for (h = hs; h < he; h++)
          for (w = ws; w < we; w++) mx = xc[h * a->W + w] > mx ? xc[h * a->W + w] : mx;
        *y++ = mx;
      }
  }
}

void esdk_avgpool_i8_scalar(const esdk_pool_args *a, const int8_t *x, int8_t *y) {
  int64_t nc, oh, ow, h, w;
  for (nc = 0; nc < (int64_t)a->N * a->C; nc++) {
    const int8_t *xc = x + nc * a->H * a->W;
    for (oh = 0; oh < a->OH; oh++)
      for (ow = 0; ow < a->OW; ow++) {
        WINDOW(a, oh, ow);
        int64_t s = 0;
        int64_t cnt = a->count_include_pad ? (int64_t)a->KH * a->KW : (he - hs) * (we - ws);
        for (h = hs; h < he; h++)
          for (w = ws; w < we; w++) s += xc[h * a->W + w];
        s += (int64_t)a->zero_point * (cnt - (he - hs) * (we - ws)); /* padding is real 0 */
        *y++ = rdiv(s, cnt);
      }
  }
}

void esdk_global_avgpool_i8_scalar(const int8_t *x, int8_t *y, int64_t nc, int64_t hw) {
  int64_t c, i;
  for (c = 0; c < nc; c++) {
    int64_t s = 0;
    for (i = 0; i < hw; i++) s += x[c * hw + i];
    y[c] = rdiv(s, hw);
  }
}
