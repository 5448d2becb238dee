/* Shared body of the AVX2 expert matvec kernels: 4 rows at a time share each x load; lane j
   of a row's accumulator holds the scalar reference's s[j] (xmatvec.h), mul then add (target
   avx2 without fma, so the compiler cannot fuse them). LOAD8(p, i) turns the 8 weights of
   elements i..i+7 of row p into 8 floats; TAIL(t, p) finishes a row like the scalar code. */
#ifndef ESDK_MOE_XMATVEC_AVX2_H
#define ESDK_MOE_XMATVEC_AVX2_H
#include "xmatvec.h"
#ifdef ESDK_MOE_X86
#include <immintrin.h>
#define MOE_T256 __attribute__((target("avx2")))

static inline MOE_T256 float moe_lanes8_avx2(__m256 v) {
  float s[8];
  _mm256_storeu_ps(s, v);
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

#define MOE_XMATVEC_AVX2_BODY(LOAD8, TAIL)                                                        \
  int32_t r = 0, c8 = cols & ~7;                                                                 \
  for (; r + 4 <= rows; r += 4) {                                                                \
    const uint8_t *p0 = q + (size_t)r * rb, *p1 = p0 + rb, *p2 = p1 + rb, *p3 = p2 + rb;         \
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                  \
    for (int32_t i = 0; i < c8; i += 8) {                                                        \
      __m256 xv = _mm256_loadu_ps(x + i);                                                        \
      a0 = _mm256_add_ps(a0, _mm256_mul_ps(LOAD8(p0, i), xv));                                   \
      a1 = _mm256_add_ps(a1, _mm256_mul_ps(LOAD8(p1, i), xv));                                   \
      a2 = _mm256_add_ps(a2, _mm256_mul_ps(LOAD8(p2, i), xv));                                   \
      a3 = _mm256_add_ps(a3, _mm256_mul_ps(LOAD8(p3, i), xv));                                   \
    }                                                                                            \
    float t0 = moe_lanes8_avx2(a0), t1 = moe_lanes8_avx2(a1), t2 = moe_lanes8_avx2(a2),          \
          t3 = moe_lanes8_avx2(a3);                                                              \
    TAIL(t0, p0); TAIL(t1, p1); TAIL(t2, p2); TAIL(t3, p3);                                      \
    y[r] = sc[r] * t0; y[r + 1] = sc[r + 1] * t1; y[r + 2] = sc[r + 2] * t2;                     \
    y[r + 3] = sc[r + 3] * t3;                                                                   \
  }                                                                                              \
  for (; r < rows; r++) {                                                                        \
    const uint8_t *p0 = q + (size_t)r * rb;                                                      \
    __m256 a0 = _mm256_setzero_ps();                                                             \
    for (int32_t i = 0; i < c8; i += 8) a0 = _mm256_add_ps(a0, _mm256_mul_ps(LOAD8(p0, i), _mm256_loadu_ps(x + i))); \
    float t0 = moe_lanes8_avx2(a0);                                                              \
    TAIL(t0, p0);                                                                                \
    y[r] = sc[r] * t0;                                                                           \
  }
#endif
#endif
