/* Shared bits of the AVX2+FMA kernels (target attributes; chosen at load time by cpu.c). */
#ifndef ESDK_AVX2_H
#define ESDK_AVX2_H
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include "../kernels.h"
/* Full unrolling of the short register-tile loops: without it gcc keeps arrays of vector
   accumulators in memory and stores every one of them on each iteration (measured: 2.5x). */
#define ESDK_UNROLL _Pragma("GCC unroll 16")
#define T256 __attribute__((target("avx2,fma")))

static const int32_t esdk_mask_tbl8[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
/* lanes [0, n) of an 8-lane vector, n in 0..8 */
static inline T256 __m256i esdk_mask8(int64_t n) {
  return _mm256_loadu_si256((const __m256i *)(esdk_mask_tbl8 + 8 - (n > 8 ? 8 : (n < 0 ? 0 : n))));
}
static inline T256 __m256 esdk_clamp256(__m256 v, __m256 lo, __m256 hi) { return _mm256_min_ps(_mm256_max_ps(v, lo), hi); }

int esdk_conv1x1_f32_avx2(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
int esdk_dwconv3x3_f32_avx2(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
int esdk_spmm_f32_avx2(const esdk_spmm_args *a, const float *x, const float *v, const float *b, float *y);
int esdk_conv2d_f32_avx2(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
int esdk_fc_f32_avx2(const esdk_fc_args *a, const float *x, const float *w, const float *b, float *y);
void esdk_quantize_f32_avx2(const float *x, int8_t *y, int64_t n, float scale, int32_t zp);
void esdk_dequantize_i8_avx2(const int8_t *x, float *y, int64_t n, float scale, int32_t zp);
int esdk_conv1x1_i8_avx2(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_dwconv3x3_i8_avx2(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_spmm_i8_1x4_avx2(const esdk_spmm_args *a, const int8_t *x, const int8_t *v, const int32_t *b, int8_t *y);
int esdk_conv_i8_avx2(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_binary_i8_avx2(const esdk_binary_args *a, const int8_t *A, const int8_t *B, int8_t *Y);
#endif
#endif
