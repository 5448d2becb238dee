/* The int32 accumulator of one int8 depthwise output pixel whose window may leave the input
   (padding contributes nothing, as in the reference): the border path the Cortex-M DSP and
   Helium depthwise kernels share. Accumulates modulo 2^32 like the scalar kernel. */
#ifndef ESDK_DWCONV_BORDER_I8_H
#define ESDK_DWCONV_BORDER_I8_H
#include "kernels.h"

static inline int32_t esdk_dw_border_i8(const esdk_conv_args *a, const int8_t *xm, const int8_t *wm, int32_t oh,
                                        int32_t ow) {
  uint32_t acc = 0;
  int32_t kh, kw;
  for (kh = 0; kh < a->KH; kh++) {
    const int32_t ih = oh * a->sh - a->pt + kh * a->dh;
    if (ih < 0 || ih >= a->H) continue;
    for (kw = 0; kw < a->KW; kw++) {
      const int32_t iw = ow * a->sw - a->pl + kw * a->dw;
      if (iw < 0 || iw >= a->W) continue;
      acc += (uint32_t)((xm[ih * a->W + iw] - a->zx) * wm[kh * a->KW + kw]);
    }
  }
  return (int32_t)acc;
}
#endif
