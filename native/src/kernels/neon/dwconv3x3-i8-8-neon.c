/* int8 depthwise 3x3 (dilation 1, stride 1 or 2, any pads): 8 output pixels of a row per
   step. x - zx is widened to int16 and multiplied by the broadcast weight into int32 lanes
   (SMLAL): the exact integer sum of the scalar kernel, and the scalar esdk_requant finishes
   each output, so results are bit-exact with the host. Border columns (window partly in the
   padding) and interior columns whose 8-byte (16 for LD2) load would run past the input row
   take the scalar path; other shapes decline. Used by both aarch64 kernel sets. */
#include "neon.h"
#include "../../runtime/fixedpoint.h"
#if defined(__aarch64__)

static int8_t dw_scalar(const esdk_conv_args *a, const int8_t *xc, const int8_t *wc, uint32_t bias, int32_t mu,
                        int32_t sh, int64_t oh, int64_t ow) {
  uint32_t acc = bias;
  int64_t kh, kw;
  for (kh = 0; kh < 3; kh++) {
    int64_t ih = oh * a->sh - a->pt + kh;
    if (ih < 0 || ih >= a->H) continue;
    for (kw = 0; kw < 3; kw++) {
      int64_t iw = ow * a->sw - a->pl + kw;
      if (iw >= 0 && iw < a->W) acc += (uint32_t)((xc[ih * a->W + iw] - a->zx) * wc[kh * 3 + kw]);
    }
  }
  return esdk_requant((int32_t)acc, mu, sh, a->zy, a->qmin, a->qmax);
}

int esdk_dwconv3x3_i8_neon(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  int64_t n, c, oh, ow, s = a->sw, lo_ow, hi_ow, vec_hi;
  int16x8_t vzx = vdupq_n_s16((int16_t)a->zx);
  if (a->KH != 3 || a->KW != 3 || a->dh != 1 || a->dw != 1 || (s != 1 && s != 2)) return 0;
  lo_ow = (a->pl + s - 1) / s;
  hi_ow = a->W - 3 + a->pl >= 0 ? (a->W - 3 + a->pl) / s + 1 : 0;
  if (hi_ow > a->OW) hi_ow = a->OW;
  if (lo_ow > hi_ow) lo_ow = hi_ow;
  /* a vector at ow reads columns ow*s - pl + kw .. + 8*s - 1 (LD1 of 8, or LD2 of 16) */
  for (vec_hi = lo_ow; vec_hi + 8 <= hi_ow && vec_hi * s - a->pl + 2 + 8 * s - 1 <= a->W - 1; vec_hi += 8) {
  }
  for (n = 0; n < a->N; n++)
    for (c = a->m0; c < a->m1; c++) {
      const int8_t *xc = x + (n * a->C + c) * a->H * a->W, *wc = w + c * 9;
      int8_t *yc = y + (n * a->M + c) * a->OH * a->OW;
      uint32_t bias = b ? (uint32_t)b[c] : 0u;
      int32_t mu = a->mult[c * a->qstride], sh = a->shift[c * a->qstride];
      for (oh = 0; oh < a->OH; oh++) {
        int8_t *yr = yc + oh * a->OW;
        for (ow = 0; ow < lo_ow; ow++) yr[ow] = dw_scalar(a, xc, wc, bias, mu, sh, oh, ow);
        for (ow = lo_ow; ow < vec_hi; ow += 8) {
          int32x4_t c0 = vdupq_n_s32((int32_t)bias), c1 = c0;
          int32_t acc[8];
          int64_t kh, kw;
          int i;
          for (kh = 0; kh < 3; kh++) {
            int64_t ih = oh * a->sh - a->pt + kh;
            const int8_t *xr;
            if (ih < 0 || ih >= a->H) continue;
            xr = xc + ih * a->W + ow * s - a->pl;
            for (kw = 0; kw < 3; kw++) {
              int8x8_t xb = s == 1 ? vld1_s8(xr + kw) : vld2_s8(xr + kw).val[0];
              int16x8_t xv = vsubq_s16(vmovl_s8(xb), vzx);
              int16_t wk = wc[kh * 3 + kw];
              c0 = vmlal_n_s16(c0, vget_low_s16(xv), wk);
              c1 = vmlal_high_n_s16(c1, xv, wk);
            }
          }
          vst1q_s32(acc, c0);
          vst1q_s32(acc + 4, c1);
          for (i = 0; i < 8; i++) yr[ow + i] = esdk_requant(acc[i], mu, sh, a->zy, a->qmin, a->qmax);
        }
        for (ow = vec_hi; ow < a->OW; ow++) yr[ow] = dw_scalar(a, xc, wc, bias, mu, sh, oh, ow);
      }
    }
  return 1;
}
#endif
