/* Dense 1x1 conv on NCHW as GEMM Y[M][HW] = W[M][K] X[K][HW]: register blocks of 4 output
   channels x 64 pixels (16 zmm accumulators), vectorised along HW; the last vector of a tile
   is masked so any HW works without reading past a row. */
#include "avx512.h"
#if defined(__x86_64__) || defined(_M_X64)

#define BLOCK(NAME, R, V)                                                                                        \
  static T512 void NAME(const float *w, int64_t K, const float *X, int64_t HW, float *Y, const float *b,        \
                        __mmask16 ml, __m512 lo, __m512 hi) {                                                    \
    __m512 c[R][V];                                                                                              \
    int64_t k;                                                                                                   \
    int r, v;                                                                                                    \
    ESDK_UNROLL for (r = 0; r < R; r++)                                                                                      \
      ESDK_UNROLL for (v = 0; v < V; v++) c[r][v] = _mm512_set1_ps(b ? b[r] : 0.0f);                                         \
    for (k = 0; k < K; k++) {                                                                                    \
      __m512 xv[V];                                                                                              \
      ESDK_UNROLL for (v = 0; v < V; v++)                                                                                    \
        xv[v] = v == V - 1 ? _mm512_maskz_loadu_ps(ml, X + k * HW + 16 * v) : _mm512_loadu_ps(X + k * HW + 16 * v); \
      ESDK_UNROLL for (r = 0; r < R; r++) {                                                                                  \
        __m512 wv = _mm512_set1_ps(w[r * K + k]);                                                                \
        ESDK_UNROLL for (v = 0; v < V; v++) c[r][v] = _mm512_fmadd_ps(wv, xv[v], c[r][v]);                                   \
      }                                                                                                          \
    }                                                                                                            \
    ESDK_UNROLL for (r = 0; r < R; r++)                                                                                      \
      ESDK_UNROLL for (v = 0; v < V; v++) {                                                                                  \
        __m512 o = esdk_clamp512(c[r][v], lo, hi);                                                               \
        if (v == V - 1) _mm512_mask_storeu_ps(Y + r * HW + 16 * v, ml, o);                                       \
        else _mm512_storeu_ps(Y + r * HW + 16 * v, o);                                                           \
      }                                                                                                          \
  }

BLOCK(blk4x4, 4, 4)
BLOCK(blk4x3, 4, 3)
BLOCK(blk4x2, 4, 2)
BLOCK(blk4x1, 4, 1)
BLOCK(blk1x4, 1, 4)
BLOCK(blk1x3, 1, 3)
BLOCK(blk1x2, 1, 2)
BLOCK(blk1x1, 1, 1)

typedef void (*blk_fn)(const float *, int64_t, const float *, int64_t, float *, const float *, __mmask16, __m512, __m512);
static blk_fn const k_blk4[5] = {0, blk4x1, blk4x2, blk4x3, blk4x4};
static blk_fn const k_blk1[5] = {0, blk1x1, blk1x2, blk1x3, blk1x4};

T512 int esdk_conv1x1_f32_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y) {
  int64_t HW = (int64_t)a->H * a->W, K = a->C, M = a->M, n, p0, m;
  __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
  if (esdk_conv1x1_f32_odd_avx512(a, x, w, b, y)) return 1; /* 7x7 maps */
  for (n = 0; n < a->N; n++) {
    const float *X = x + n * K * HW;
    float *Y = y + n * M * HW;
    for (p0 = 0; p0 < HW; p0 += 64) {
      int64_t rem = HW - p0 < 64 ? HW - p0 : 64;
      int nv = (int)((rem + 15) / 16);
      __mmask16 ml = esdk_mask16(rem - 16 * (nv - 1));
      for (m = a->m0; m + 4 <= a->m1; m += 4)
        k_blk4[nv](w + m * K, K, X + p0, HW, Y + m * HW + p0, b ? b + m : 0, ml, lo, hi);
      for (; m < a->m1; m++) k_blk1[nv](w + m * K, K, X + p0, HW, Y + m * HW + p0, b ? b + m : 0, ml, lo, hi);
    }
  }
  return 1;
}
#endif
