/* One output pixel of a float 3x3 depthwise conv whose window may leave the input: the
   border path every SIMD depthwise kernel (AVX2, AVX-512, NEON) shares. */
#ifndef ESDK_DWCONV3X3_BORDER_F32_H
#define ESDK_DWCONV3X3_BORDER_F32_H
#include "kernels.h"
#include "../runtime/fixedpoint.h"

static inline float esdk_dw3x3_border_f32(const esdk_conv_args *a, const float *xc, const float *wc, float bias,
                                          int64_t oh, int64_t ow) {
  float acc = bias;
  int64_t kh, kw;
  for (kh = 0; kh < 3; kh++) {
    int64_t ih = oh * a->sh - a->pt + kh;
    if (ih < 0 || ih >= a->H) continue;
    for (kw = 0; kw < 3; kw++) {
      int64_t iw = ow * a->sw - a->pl + kw;
      if (iw >= 0 && iw < a->W) acc += xc[ih * a->W + iw] * wc[kh * 3 + kw];
    }
  }
  return esdk_clampf(acc, a->lo, a->hi);
}

/* Output columns [*lo, *hi) whose 3-tap window lies inside the input row
   (ow*s - pl >= 0 and ow*s - pl + 2 <= W - 1); the rest go through the border path. */
static inline void esdk_dw3x3_interior_cols(const esdk_conv_args *a, int64_t *lo, int64_t *hi) {
  const int64_t s = a->sw;
  int64_t l = (a->pl + s - 1) / s;
  int64_t h = a->W - 3 + a->pl >= 0 ? (a->W - 3 + a->pl) / s + 1 : 0;
  if (h > a->OW) h = a->OW;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}
#endif
