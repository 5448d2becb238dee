/* int8 expert matvec, 4 rows x 8 lanes, AVX2: sign-extend 8 weights to int32, convert
   (exact), multiply by x, add; bit-exact with esdk_moe_xmatvec_i8_scalar. */
#include "xmatvec-avx2.h"
#ifdef ESDK_MOE_X86

static inline MOE_T256 __m256 load8_i8(const uint8_t *p, int32_t i) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)(p + i))));
}
MOE_T256 void esdk_moe_xmatvec_i8_4x8_avx2(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y,
                                           int32_t rows, int32_t cols) {
  MOE_XMATVEC_AVX2_BODY(load8_i8, MOE_TAIL_I8)
}
#endif
