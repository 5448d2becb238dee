/* Dense 1x1 conv on NCHW as GEMM Y[M][HW] = W[M][K] X[K][HW], vectorised along HW: blocks of
   4 output channels x 16 pixels (16 q-register accumulators + 4 pixel vectors + 1 broadcast
   of the 32 registers). Pixels left over after the 4-wide vectors (HW % 4) run a scalar loop,
   since NEON has no masked load and the kernel must never read past the tensor. */
#include "neon.h"
#if defined(__aarch64__)

#define BLOCK(NAME, R, V)                                                                                  \
  static void NAME(const float *w, int64_t K, const float *X, int64_t HW, float *Y, const float *b,       \
                   float32x4_t lo, float32x4_t hi) {                                                       \
    float32x4_t c[R][V];                                                                                   \
    int64_t k;                                                                                             \
    int r, v;                                                                                              \
    for (r = 0; r < R; r++)                                                                                \
      for (v = 0; v < V; v++) c[r][v] = vdupq_n_f32(b ? b[r] : 0.0f);                                      \
    for (k = 0; k < K; k++) {                                                                              \
      float32x4_t xv[V];                                                                                   \
      for (v = 0; v < V; v++) xv[v] = vld1q_f32(X + k * HW + 4 * v);                                       \
      for (r = 0; r < R; r++) {                                                                            \
        float32x4_t wv = vdupq_n_f32(w[r * K + k]);                                                        \
        for (v = 0; v < V; v++) c[r][v] = vfmaq_f32(c[r][v], xv[v], wv);                                   \
      }                                                                                                    \
    }                                                                                                      \
    for (r = 0; r < R; r++)                                                                                \
      for (v = 0; v < V; v++) vst1q_f32(Y + r * HW + 4 * v, esdk_clampq(c[r][v], lo, hi));                 \
  }

BLOCK(blk4x4, 4, 4)
BLOCK(blk4x3, 4, 3)
BLOCK(blk4x2, 4, 2)
BLOCK(blk4x1, 4, 1)
BLOCK(blk1x4, 1, 4)
BLOCK(blk1x3, 1, 3)
BLOCK(blk1x2, 1, 2)
BLOCK(blk1x1, 1, 1)

typedef void (*blk_fn)(const float *, int64_t, const float *, int64_t, float *, const float *, float32x4_t,
                       float32x4_t);
static blk_fn const k_blk4[5] = {0, blk4x1, blk4x2, blk4x3, blk4x4};
static blk_fn const k_blk1[5] = {0, blk1x1, blk1x2, blk1x3, blk1x4};

int esdk_conv1x1_f32_neon(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y) {
  int64_t HW = (int64_t)a->H * a->W, K = a->C, M = a->M, n, p0, m, k, vec_end = HW & ~(int64_t)3;
  float32x4_t lo = vdupq_n_f32(a->lo), hi = vdupq_n_f32(a->hi);
  for (n = 0; n < a->N; n++) {
    const float *X = x + n * K * HW;
    float *Y = y + n * M * HW;
    for (p0 = 0; p0 < vec_end; p0 += 16) {
      int nv = (int)((vec_end - p0 < 16 ? vec_end - p0 : 16) / 4);
      for (m = a->m0; m + 4 <= a->m1; m += 4) k_blk4[nv](w + m * K, K, X + p0, HW, Y + m * HW + p0, b ? b + m : 0, lo, hi);
      for (; m < a->m1; m++) k_blk1[nv](w + m * K, K, X + p0, HW, Y + m * HW + p0, b ? b + m : 0, lo, hi);
    }
    for (p0 = vec_end; p0 < HW; p0++)
      for (m = a->m0; m < a->m1; m++) {
        float acc = b ? b[m] : 0.0f, v;
        for (k = 0; k < K; k++) acc += w[m * K + k] * X[k * HW + p0];
        v = acc < a->lo ? a->lo : acc;
        Y[m * HW + p0] = v > a->hi ? a->hi : v;
      }
  }
  return 1;
}
#endif
