/* int4 expert matvec, 4 rows x 8 lanes, AVX2: the 4 bytes of elements i..i+7 broadcast,
   shifted per lane by 0,4,..,28 (lane 2j = low nibble of byte j, lane 2j+1 = high: element
   order), masked, minus 8, converted; bit-exact with esdk_moe_xmatvec_i4_scalar. */
#include <string.h>
#include "xmatvec-avx2.h"
#ifdef ESDK_MOE_X86

static inline MOE_T256 __m256 load8_i4(const uint8_t *p, int32_t i) {
  uint32_t w;
  memcpy(&w, p + (i >> 1), 4);
  __m256i v = _mm256_srlv_epi32(_mm256_set1_epi32((int32_t)w), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
  v = _mm256_sub_epi32(_mm256_and_si256(v, _mm256_set1_epi32(15)), _mm256_set1_epi32(8));
  return _mm256_cvtepi32_ps(v);
}
MOE_T256 void esdk_moe_xmatvec_i4_4x8_avx2(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y,
                                           int32_t rows, int32_t cols) {
  MOE_XMATVEC_AVX2_BODY(load8_i4, MOE_TAIL_I4)
}
#endif
