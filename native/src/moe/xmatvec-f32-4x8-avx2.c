/* f32 expert matvec, 4 rows x 8 lanes, AVX2 (mul then add, no FMA); bit-exact with
   esdk_moe_xmatvec_f32_scalar. */
#include "xmatvec-avx2.h"
#ifdef ESDK_MOE_X86

static inline MOE_T256 __m256 load8_f32(const uint8_t *p, int32_t i) {
  return _mm256_loadu_ps((const float *)(const void *)p + i);
}
MOE_T256 void esdk_moe_xmatvec_f32_4x8_avx2(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y,
                                            int32_t rows, int32_t cols) {
  MOE_XMATVEC_AVX2_BODY(load8_f32, MOE_TAIL_F32)
}

#endif
