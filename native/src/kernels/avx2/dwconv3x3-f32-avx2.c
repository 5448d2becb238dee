/* Depthwise 3x3, stride 1 or 2, any pads: 8 output pixels of a row per ymm. Columns whose
   window leaves the input (the borders) go through a scalar path; stride 2 gathers the even
   input columns with one permute of two loads, the second masked so no byte past the last
   needed column is touched. */
#include "avx2.h"
#include "../../runtime/fixedpoint.h"
#include "../dwconv3x3-border-f32.h"
#if defined(__x86_64__) || defined(_M_X64)

T256 int esdk_dwconv3x3_f32_avx2(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y) {
  int64_t n, c, oh, ow, s = a->sw, lo_ow, hi_ow;
  __m256 vlo = _mm256_set1_ps(a->lo), vhi = _mm256_set1_ps(a->hi);
  if (a->sw != 1 && a->sw != 2) return 0;
  if (a->OW < 8) return 0; /* mostly border columns: the general direct conv masks them in-vector */
  esdk_dw3x3_interior_cols(a, &lo_ow, &hi_ow);
  for (n = 0; n < a->N; n++)
    for (c = a->m0; c < a->m1; c++) {
      const float *xc = x + (n * a->C + c) * a->H * a->W, *wc = w + c * 9;
      float *yc = y + (n * a->M + c) * a->OH * a->OW, bias = b ? b[c] : 0.0f;
      __m256 wv[9];
      int k;
      for (k = 0; k < 9; k++) wv[k] = _mm256_set1_ps(wc[k]);
      for (oh = 0; oh < a->OH; oh++) {
        float *yr = yc + oh * a->OW;
        for (ow = 0; ow < lo_ow; ow++) yr[ow] = esdk_dw3x3_border_f32(a, xc, wc, bias, oh, ow);
        for (ow = lo_ow; ow < hi_ow; ow += 8) {
          int64_t cnt = hi_ow - ow < 8 ? hi_ow - ow : 8, kh, kw;
          __m256i ml = esdk_mask8(cnt);
          __m256 acc = _mm256_set1_ps(bias);
          for (kh = 0; kh < 3; kh++) {
            int64_t ih = oh * a->sh - a->pt + kh;
            const float *xr;
            if (ih < 0 || ih >= a->H) continue;
            xr = xc + ih * a->W + ow * s - a->pl;
            for (kw = 0; kw < 3; kw++) {
              __m256 xv;
              if (s == 1) {
                xv = _mm256_maskload_ps(xr + kw, ml);
              } else {
                /* needs columns kw, kw+2, .., kw+2(cnt-1): lanes [0, 2cnt-1) of 16 */
                __m256 p = _mm256_maskload_ps(xr + kw, esdk_mask8(2 * cnt - 1));
                __m256 q = _mm256_maskload_ps(xr + kw + 8, esdk_mask8(2 * cnt - 1 - 8));
                __m256 e = _mm256_shuffle_ps(p, q, _MM_SHUFFLE(2, 0, 2, 0)); /* p0 p2 q0 q2 | p4 p6 q4 q6 */
                xv = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
              }
              acc = _mm256_fmadd_ps(wv[kh * 3 + kw], xv, acc);
            }
          }
          _mm256_maskstore_ps(yr + ow, ml, esdk_clamp256(acc, vlo, vhi));
        }
        for (ow = hi_ow > lo_ow ? hi_ow : lo_ow; ow < a->OW; ow++) yr[ow] = esdk_dw3x3_border_f32(a, xc, wc, bias, oh, ow);
      }
    }
  return 1;
}
#endif
