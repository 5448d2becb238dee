/* Dense 1x1 conv for maps of 16*V + 1 pixels (7x7 = 49: the last stage of MobileNets), K a
   multiple of 16. The 4x64 GEMM tile spends a whole masked vector on the 49th pixel (23% of
   its FMAs on empty lanes). Here the 16*V full pixels run as 5 output channels x V vectors
   (weights broadcast, 15 accumulators for V = 3), and the odd pixel's input column
   (stride HW) is copied once into a contiguous stack vector so its 5 outputs are plain dot
   products along K (5 more accumulators), fed by vector loads of the same weight rows.
   6 rows measured slower: gcc spilled the input vectors (29 live zmm). 1024->1024 7x7:
   1.34 -> 1.04 ms inside MobileNetV1. */
#include "avx512.h"
#if defined(__x86_64__) || defined(_M_X64)

#define MAXK 2048
#define RB 5 /* rows per block */

#define BLK(NAME, R, V)                                                                                          \
  static T512 void NAME(const float *w, int64_t K, const float *X, int64_t HW, const float *xt, float *Y,        \
                        const float *b, float flo, float fhi) {                                                  \
    __m512 c[R][V], d[R];                                                                                        \
    int64_t k0, kk;                                                                                              \
    int r, q;                                                                                                    \
    ESDK_UNROLL for (r = 0; r < R; r++) {                                                                        \
      ESDK_UNROLL for (q = 0; q < V; q++) c[r][q] = _mm512_set1_ps(b ? b[r] : 0.0f);                             \
      d[r] = _mm512_setzero_ps();                                                                                \
    }                                                                                                            \
    for (k0 = 0; k0 < K; k0 += 16) {                                                                             \
      __m512 tv = _mm512_loadu_ps(xt + k0);                                                                      \
      for (kk = k0; kk < k0 + 16; kk++) {                                                                        \
        __m512 xv[V];                                                                                            \
        ESDK_UNROLL for (q = 0; q < V; q++) xv[q] = _mm512_loadu_ps(X + kk * HW + 16 * q);                       \
        ESDK_UNROLL for (r = 0; r < R; r++) {                                                                    \
          __m512 wv = _mm512_set1_ps(w[r * K + kk]);                                                             \
          ESDK_UNROLL for (q = 0; q < V; q++) c[r][q] = _mm512_fmadd_ps(wv, xv[q], c[r][q]);                     \
        }                                                                                                        \
      }                                                                                                          \
      ESDK_UNROLL for (r = 0; r < R; r++) d[r] = _mm512_fmadd_ps(_mm512_loadu_ps(w + r * K + k0), tv, d[r]);     \
    }                                                                                                            \
    ESDK_UNROLL for (r = 0; r < R; r++) {                                                                        \
      float s = _mm512_reduce_add_ps(d[r]) + (b ? b[r] : 0.0f);                                                  \
      __m512 lo = _mm512_set1_ps(flo), hi = _mm512_set1_ps(fhi);                                                 \
      ESDK_UNROLL for (q = 0; q < V; q++) _mm512_storeu_ps(Y + r * HW + 16 * q, esdk_clamp512(c[r][q], lo, hi)); \
      s = s < flo ? flo : s;                                                                                     \
      Y[r * HW + 16 * V] = s > fhi ? fhi : s;                                                                    \
    }                                                                                                            \
  }

BLK(brv1, RB, 1)
BLK(brv2, RB, 2)
BLK(brv3, RB, 3)
BLK(brv4, RB, 4)
BLK(b1v1, 1, 1)
BLK(b1v2, 1, 2)
BLK(b1v3, 1, 3)
BLK(b1v4, 1, 4)
typedef void (*blk_fn)(const float *, int64_t, const float *, int64_t, const float *, float *, const float *, float,
                       float);
static blk_fn const k_br[5] = {0, brv1, brv2, brv3, brv4};
static blk_fn const k_b1[5] = {0, b1v1, b1v2, b1v3, b1v4};

T512 int esdk_conv1x1_f32_odd_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b,
                                     float *y) {
  float xt[MAXK] __attribute__((aligned(64)));
  int64_t HW = (int64_t)a->H * a->W, K = a->C, M = a->M, V = HW / 16, n, m, k;
  float lo = a->lo, hi = a->hi;
  if (HW % 16 != 1 || V < 1 || V > 4 || K % 16 != 0 || K > MAXK) return 0;
  for (n = 0; n < a->N; n++) {
    const float *X = x + n * K * HW;
    float *Y = y + n * M * HW;
    for (k = 0; k < K; k++) xt[k] = X[k * HW + 16 * V];
    for (m = a->m0; m + RB <= a->m1; m += RB) k_br[V](w + m * K, K, X, HW, xt, Y + m * HW, b ? b + m : 0, lo, hi);
    for (; m < a->m1; m++) k_b1[V](w + m * K, K, X, HW, xt, Y + m * HW, b ? b + m : 0, lo, hi);
  }
  return 1;
}
#endif
