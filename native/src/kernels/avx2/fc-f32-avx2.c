/* Fully connected as GEMV per input row: 4 output channels at a time along K in ymm, masked
   tail, horizontal sum at the end. */
#include "avx2.h"
#if defined(__x86_64__) || defined(_M_X64)

static T256 float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

T256 int esdk_fc_f32_avx2(const esdk_fc_args *a, const float *x, const float *w, const float *b, float *y) {
  int64_t K = a->K, rr, m, k;
  for (rr = 0; rr < a->B; rr++) {
    const float *xr = x + rr * K;
    for (m = a->m0; m < a->m1; m += 4) {
      int nr = a->m1 - m < 4 ? (int)(a->m1 - m) : 4, r;
      __m256 c[4];
      for (r = 0; r < 4; r++) c[r] = _mm256_setzero_ps();
      for (k = 0; k + 8 <= K; k += 8) {
        __m256 xv = _mm256_loadu_ps(xr + k);
        ESDK_UNROLL for (r = 0; r < nr; r++) c[r] = _mm256_fmadd_ps(_mm256_loadu_ps(w + (m + r) * K + k), xv, c[r]);
      }
      if (k < K) {
        __m256i ml = esdk_mask8(K - k);
        __m256 xv = _mm256_maskload_ps(xr + k, ml);
        ESDK_UNROLL for (r = 0; r < nr; r++) c[r] = _mm256_fmadd_ps(_mm256_maskload_ps(w + (m + r) * K + k, ml), xv, c[r]);
      }
      ESDK_UNROLL for (r = 0; r < nr; r++) {
        float s = hsum256(c[r]) + (b ? b[m + r] : 0.0f);
        s = s < a->lo ? a->lo : s;
        y[rr * a->M + m + r] = s > a->hi ? a->hi : s;
      }
    }
  }
  return 1;
}
#endif
