/* Fully connected as GEMV per input row: 4 output channels at a time, each a zmm dot product
   along K with a masked tail, reduced horizontally at the end. */
#include "avx512.h"
#if defined(__x86_64__) || defined(_M_X64)

T512 int esdk_fc_f32_avx512(const esdk_fc_args *a, const float *x, const float *w, const float *b, float *y) {
  int64_t K = a->K, rr, m, k;
  for (rr = 0; rr < a->B; rr++) {
    const float *xr = x + rr * K;
    for (m = a->m0; m < a->m1; m += 4) {
      int nr = a->m1 - m < 4 ? (int)(a->m1 - m) : 4, r;
      __m512 c[4];
      for (r = 0; r < 4; r++) c[r] = _mm512_setzero_ps();
      for (k = 0; k < K; k += 16) {
        __mmask16 ml = esdk_mask16(K - k);
        __m512 xv = _mm512_maskz_loadu_ps(ml, xr + k);
        ESDK_UNROLL for (r = 0; r < nr; r++) c[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(ml, w + (m + r) * K + k), xv, c[r]);
      }
      ESDK_UNROLL for (r = 0; r < nr; r++) {
        float s = _mm512_reduce_add_ps(c[r]) + (b ? b[m + r] : 0.0f);
        s = s < a->lo ? a->lo : s;
        y[rr * a->M + m + r] = s > a->hi ? a->hi : s;
      }
    }
  }
  return 1;
}
#endif
