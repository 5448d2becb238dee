/* Depthwise 3x3, stride 1 or 2, any pads: 16 output pixels of a row per zmm. Columns whose
   window leaves the input (the borders) go through a scalar path; stride 2 gathers the even
   input columns with one permute of two loads, the second masked so no byte past the last
   needed column is touched. */
#include "avx512.h"
#include "../../runtime/fixedpoint.h"
#include "../dwconv3x3-border-f32.h"
#if defined(__x86_64__) || defined(_M_X64)

#define STEP(NAME, V)                                                                                            \
  static T512 void NAME(const esdk_conv_args *a, const float *xc, const __m512 *wv, float bias, float *yr,       \
                        int64_t oh, int64_t ow, int64_t cnt, __m512 vlo, __m512 vhi) {                           \
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);           \
    int64_t s = a->sw, kh, kw;                                                                                   \
    __mmask16 ml[V], m1[V], m2[V];                                                                               \
    __m512 acc[V];                                                                                               \
    int q;                                                                                                       \
    ESDK_UNROLL for (q = 0; q < V; q++) {                                                                        \
      int64_t c = cnt - 16 * q > 16 ? 16 : cnt - 16 * q, n1 = 2 * c - 1;                                         \
      ml[q] = esdk_mask16(c);                                                                                    \
      /* stride 2 needs columns kw, kw+2, .., kw+2(c-1): lanes [0, 2c-1) of two vectors */                       \
      m1[q] = esdk_mask16(n1);                                                                                   \
      m2[q] = esdk_mask16(n1 - 16 > 0 ? n1 - 16 : 0);                                                            \
      acc[q] = _mm512_set1_ps(bias);                                                                             \
    }                                                                                                            \
    for (kh = 0; kh < 3; kh++) {                                                                                 \
      int64_t ih = oh * a->sh - a->pt + kh;                                                                      \
      const float *xr;                                                                                           \
      if (ih < 0 || ih >= a->H) continue;                                                                        \
      xr = xc + ih * a->W + ow * s - a->pl;                                                                      \
      ESDK_UNROLL for (kw = 0; kw < 3; kw++) ESDK_UNROLL for (q = 0; q < V; q++) {                               \
        __m512 xv;                                                                                               \
        if (s == 1) {                                                                                            \
          xv = _mm512_maskz_loadu_ps(ml[q], xr + kw + 16 * q);                                                   \
        } else {                                                                                                 \
          __m512 p = _mm512_maskz_loadu_ps(m1[q], xr + kw + 32 * q);                                             \
          __m512 r = _mm512_maskz_loadu_ps(m2[q], xr + kw + 32 * q + 16);                                        \
          xv = _mm512_permutex2var_ps(p, even, r);                                                               \
        }                                                                                                        \
        acc[q] = _mm512_fmadd_ps(wv[kh * 3 + kw], xv, acc[q]);                                                   \
      }                                                                                                          \
    }                                                                                                            \
    ESDK_UNROLL for (q = 0; q < V; q++) _mm512_mask_storeu_ps(yr + ow + 16 * q, ml[q], esdk_clamp512(acc[q], vlo, vhi)); \
  }
STEP(step1, 1)
STEP(step2, 2)
STEP(step3, 3)
STEP(step4, 4)
typedef void (*step_fn)(const esdk_conv_args *, const float *, const __m512 *, float, float *, int64_t, int64_t, int64_t,
                        __m512, __m512);
static step_fn const k_step[5] = {0, step1, step2, step3, step4};

T512 int esdk_dwconv3x3_f32_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y) {
  int64_t n, c, oh, ow, lo_ow, hi_ow;
  __m512 vlo = _mm512_set1_ps(a->lo), vhi = _mm512_set1_ps(a->hi);
  if (a->sw != 1 && a->sw != 2) return 0;
  /* stride 1 rows of 9..112, stride 2 rows of 5..64: masked taps straight from the input */
  if (esdk_dwconv3x3_f32_4x16_avx512(a, x, w, b, y)) return 1;
  /* rows under 16 outputs, stride 1, up to 512 outputs: flat masked taps, no copies */
  if (esdk_dwconv3x3_f32_flat_avx512(a, x, w, b, y)) return 1;
  /* up to 112 wide (planes within its 112 KiB stack buffer): padded-plane kernel (no border code, junk columns instead of empty lanes) */
  if (a->OW <= 112 && esdk_dwconv3x3_f32_plane_avx512(a, x, w, b, y)) return 1;
  /* narrow maps (DS-CNN's 5-wide rows) are mostly border columns, which this kernel does in
     scalar code; the general direct conv masks borders in-vector instead */
  if (a->OW < 16) return 0;
  esdk_dw3x3_interior_cols(a, &lo_ow, &hi_ow);
  for (n = 0; n < a->N; n++)
    for (c = a->m0; c < a->m1; c++) {
      const float *xc = x + (n * a->C + c) * a->H * a->W, *wc = w + c * 9;
      float *yc = y + (n * a->M + c) * a->OH * a->OW, bias = b ? b[c] : 0.0f;
      __m512 wv[9];
      int k;
      for (k = 0; k < 9; k++) wv[k] = _mm512_set1_ps(wc[k]);
      for (oh = 0; oh < a->OH; oh++) {
        float *yr = yc + oh * a->OW;
        for (ow = 0; ow < lo_ow; ow++) yr[ow] = esdk_dw3x3_border_f32(a, xc, wc, bias, oh, ow);
        /* up to 4 vectors (64 columns) per step: independent FMA chains, so the 9-deep chain
           of one vector does not stall on FMA latency (measured 3-4x over one vector per step) */
        for (ow = lo_ow; ow < hi_ow; ow += 64) {
          int64_t cnt = hi_ow - ow < 64 ? hi_ow - ow : 64;
          k_step[(cnt + 15) / 16](a, xc, wv, bias, yr, oh, ow, cnt, vlo, vhi);
        }
        for (ow = hi_ow > lo_ow ? hi_ow : lo_ow; ow < a->OW; ow++) yr[ow] = esdk_dw3x3_border_f32(a, xc, wc, bias, oh, ow);
      }
    }
  return 1;
}
#endif
