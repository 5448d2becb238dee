/* Dense 1x1 conv on NCHW as GEMM Y[M][HW] = W[M][K] X[K][HW]: blocks of 4 output channels x
   24 pixels (12 ymm accumulators + 3 pixel vectors + 1 broadcast = all 16 registers); the
   last vector of a tile uses maskload/maskstore so any HW works. */
#include "avx2.h"
#if defined(__x86_64__) || defined(_M_X64)

#define BLOCK(NAME, R, V)                                                                                       \
  static T256 void NAME(const float *w, int64_t K, const float *X, int64_t HW, float *Y, const float *b,       \
                        __m256i ml, __m256 lo, __m256 hi) {                                                     \
    __m256 c[R][V];                                                                                             \
    int64_t k;                                                                                                  \
    int r, v;                                                                                                   \
    ESDK_UNROLL for (r = 0; r < R; r++)                                                                                     \
      ESDK_UNROLL for (v = 0; v < V; v++) c[r][v] = _mm256_set1_ps(b ? b[r] : 0.0f);                                        \
    for (k = 0; k < K; k++) {                                                                                   \
      __m256 xv[V];                                                                                             \
      ESDK_UNROLL for (v = 0; v < V; v++)                                                                                   \
        xv[v] = v == V - 1 ? _mm256_maskload_ps(X + k * HW + 8 * v, ml) : _mm256_loadu_ps(X + k * HW + 8 * v);  \
      ESDK_UNROLL for (r = 0; r < R; r++) {                                                                                 \
        __m256 wv = _mm256_broadcast_ss(w + r * K + k);                                                         \
        ESDK_UNROLL for (v = 0; v < V; v++) c[r][v] = _mm256_fmadd_ps(wv, xv[v], c[r][v]);                                  \
      }                                                                                                         \
    }                                                                                                           \
    ESDK_UNROLL for (r = 0; r < R; r++)                                                                                     \
      ESDK_UNROLL for (v = 0; v < V; v++) {                                                                                 \
        __m256 o = esdk_clamp256(c[r][v], lo, hi);                                                              \
        if (v == V - 1) _mm256_maskstore_ps(Y + r * HW + 8 * v, ml, o);                                         \
        else _mm256_storeu_ps(Y + r * HW + 8 * v, o);                                                           \
      }                                                                                                         \
  }

BLOCK(blk4x3, 4, 3)
BLOCK(blk4x2, 4, 2)
BLOCK(blk4x1, 4, 1)
BLOCK(blk1x3, 1, 3)
BLOCK(blk1x2, 1, 2)
BLOCK(blk1x1, 1, 1)

typedef void (*blk_fn)(const float *, int64_t, const float *, int64_t, float *, const float *, __m256i, __m256, __m256);
static blk_fn const k_blk4[4] = {0, blk4x1, blk4x2, blk4x3};
static blk_fn const k_blk1[4] = {0, blk1x1, blk1x2, blk1x3};

T256 int esdk_conv1x1_f32_avx2(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y) {
  int64_t HW = (int64_t)a->H * a->W, K = a->C, M = a->M, n, p0, m;
  __m256 lo = _mm256_set1_ps(a->lo), hi = _mm256_set1_ps(a->hi);
  for (n = 0; n < a->N; n++) {
    const float *X = x + n * K * HW;
    float *Y = y + n * M * HW;
    for (p0 = 0; p0 < HW; p0 += 24) {
      int64_t rem = HW - p0 < 24 ? HW - p0 : 24;
      int nv = (int)((rem + 7) / 8);
      __m256i ml = esdk_mask8(rem - 8 * (nv - 1));
      for (m = a->m0; m + 4 <= a->m1; m += 4)
        k_blk4[nv](w + m * K, K, X + p0, HW, Y + m * HW + p0, b ? b + m : 0, ml, lo, hi);
      for (; m < a->m1; m++) k_blk1[nv](w + m * K, K, X + p0, HW, Y + m * HW + p0, b ? b + m : 0, ml, lo, hi);
    }
  }
  return 1;
}
#endif
