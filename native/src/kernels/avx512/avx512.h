/* Shared bits of the AVX-512 kernels. Functions carry target attributes, so the library builds
   with generic flags and cpu.c decides at load time whether these may run. */
#ifndef ESDK_AVX512_H
#define ESDK_AVX512_H
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#include "../kernels.h"
/* Full unrolling of the short register-tile loops: without it gcc keeps arrays of vector
   accumulators in memory and stores every one of them on each iteration (measured: 2.5x). */
#define ESDK_UNROLL _Pragma("GCC unroll 16")
#define T512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))

/* lanes [0, n) of a 16-lane vector, n in 0..16 */
static inline T512 __mmask16 esdk_mask16(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1); }

static inline T512 __m512 esdk_clamp512(__m512 v, __m512 lo, __m512 hi) { return _mm512_min_ps(_mm512_max_ps(v, lo), hi); }

int esdk_conv1x1_f32_odd_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
int esdk_conv1x1_f32_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
int esdk_dwconv3x3_f32_4x16_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
int esdk_dwconv3x3_f32_flat_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
int esdk_dwconv3x3_f32_plane_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
int esdk_dwconv3x3_f32_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
int esdk_spmm_f32_avx512(const esdk_spmm_args *a, const float *x, const float *v, const float *b, float *y);
int esdk_conv2d_f32_patch_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
int esdk_binary_f32_avx512(const esdk_binary_args *a, const float *A, const float *B, float *Y);
int esdk_binary_i8_avx512(const esdk_binary_args *a, const int8_t *A, const int8_t *B, int8_t *Y);
void esdk_global_avgpool_f32_avx512(const float *x, float *y, int64_t nc, int64_t hw);
int esdk_conv2d_f32_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
int esdk_fc_f32_avx512(const esdk_fc_args *a, const float *x, const float *w, const float *b, float *y);
int esdk_conv1x1_i8_avx512(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_spmm_i8_avx512(const esdk_spmm_args *a, const int8_t *x, const int8_t *v, const int32_t *b, int8_t *y);
int esdk_spmm_i8_1x4_avx512(const esdk_spmm_args *a, const int8_t *x, const int8_t *v, const int32_t *b, int8_t *y);
int esdk_fc_i8_avx512(const esdk_fc_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_dwconv3x3_i8_avx512(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_dwconv_i8_16_avx512(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_dwconv_i8_avx512(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_conv_i8_avx512(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_conv3x3_i8_avx512(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
void esdk_quantize_f32_avx512(const float *x, int8_t *y, int64_t n, float scale, int32_t zp);
void esdk_dequantize_i8_avx512(const int8_t *x, float *y, int64_t n, float scale, int32_t zp);
#endif
#endif
