/* Global average pool f32: per channel, 16 lanes at a time widened to double (two zmm of 8)
   so the sum keeps the scalar kernel's double-precision accumulation (only the order of the
   additions differs); the squeeze-excite blocks of PP-OCR / MobileNetV3 run ten of these. */
#include "avx512.h"
#if defined(__x86_64__) || defined(_M_X64)

T512 void esdk_global_avgpool_f32_avx512(const float *x, float *y, int64_t nc, int64_t hw) {
  int64_t c, i;
  for (c = 0; c < nc; c++) {
    const float *xc = x + c * hw;
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (i = 0; i < hw; i += 16) {
      __m512 v = _mm512_maskz_loadu_ps(esdk_mask16(hw - i), xc + i);
      s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
      s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
    }
    y[c] = (float)(_mm512_reduce_add_pd(_mm512_add_pd(s0, s1)) / (double)hw);
  }
}
#endif
