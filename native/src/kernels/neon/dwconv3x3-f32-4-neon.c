/* Depthwise 3x3, stride 1 or 2, any pads: 4 output pixels of a row per q register. Columns
   whose window leaves the input (the borders), and the last few interior columns whose vector
   load would run past the input row, take a scalar path: the kernel never reads outside the
   row it needs. Stride 2 de-interleaves even/odd input columns with one LD2. */
#include "neon.h"
#include "../../runtime/fixedpoint.h"
#include "../dwconv3x3-border-f32.h"
#if defined(__aarch64__)

int esdk_dwconv3x3_f32_neon(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y) {
  int64_t n, c, oh, ow, s = a->sw, lo_ow, hi_ow, vec_hi;
  float32x4_t vlo = vdupq_n_f32(a->lo), vhi = vdupq_n_f32(a->hi);
  if (a->sw != 1 && a->sw != 2) return 0;
  esdk_dw3x3_interior_cols(a, &lo_ow, &hi_ow);
  /* a vector starting at ow reads input columns up to ow*s - pl + 3*s + 2 (+1 more for the
     LD2 of stride 2); vectors start only where that stays inside the row */
  for (vec_hi = lo_ow; vec_hi + 4 <= hi_ow && vec_hi * s - a->pl + 3 * s + 2 + (s == 2) <= a->W - 1; vec_hi += 4) {
  }
  for (n = 0; n < a->N; n++)
    for (c = a->m0; c < a->m1; c++) {
      const float *xc = x + (n * a->C + c) * a->H * a->W, *wc = w + c * 9;
      float *yc = y + (n * a->M + c) * a->OH * a->OW, bias = b ? b[c] : 0.0f;
      float32x4_t wv[9];
      int k;
      for (k = 0; k < 9; k++) wv[k] = vdupq_n_f32(wc[k]);
      for (oh = 0; oh < a->OH; oh++) {
        float *yr = yc + oh * a->OW;
        for (ow = 0; ow < lo_ow; ow++) yr[ow] = esdk_dw3x3_border_f32(a, xc, wc, bias, oh, ow);
        for (ow = lo_ow; ow < vec_hi; ow += 4) {
          int64_t kh, kw;
          float32x4_t acc = vdupq_n_f32(bias);
          for (kh = 0; kh < 3; kh++) {
            int64_t ih = oh * a->sh - a->pt + kh;
            const float *xr;
            if (ih < 0 || ih >= a->H) continue;
            xr = xc + ih * a->W + ow * s - a->pl;
            for (kw = 0; kw < 3; kw++) {
              float32x4_t xv = s == 1 ? vld1q_f32(xr + kw) : vld2q_f32(xr + kw).val[0];
              acc = vfmaq_f32(acc, xv, wv[kh * 3 + kw]);
            }
          }
          vst1q_f32(yr + ow, esdk_clampq(acc, vlo, vhi));
        }
        for (ow = vec_hi; ow < a->OW; ow++) yr[ow] = esdk_dw3x3_border_f32(a, xc, wc, bias, oh, ow);
      }
    }
  return 1;
}
#endif
