/* Fully connected as GEMV per input row: 4 output channels share each 4-float load of x,
   accumulate along K, and reduce across lanes at the end; the K % 4 tail is scalar. */
#include "neon.h"
#if defined(__aarch64__)

int esdk_fc_f32_neon(const esdk_fc_args *a, const float *x, const float *w, const float *b, float *y) {
  int64_t K = a->K, rr, m, k;
  for (rr = 0; rr < a->B; rr++) {
    const float *xr = x + rr * K;
    for (m = a->m0; m < a->m1; m += 4) {
      int nr = a->m1 - m < 4 ? (int)(a->m1 - m) : 4, r;
      float32x4_t c[4];
      float s[4];
      for (r = 0; r < 4; r++) c[r] = vdupq_n_f32(0.0f);
      for (k = 0; k + 4 <= K; k += 4) {
        float32x4_t xv = vld1q_f32(xr + k);
        for (r = 0; r < nr; r++) c[r] = vfmaq_f32(c[r], vld1q_f32(w + (m + r) * K + k), xv);
      }
      for (r = 0; r < nr; r++) {
        int64_t kk;
        s[r] = vaddvq_f32(c[r]);
        for (kk = k; kk < K; kk++) s[r] += xr[kk] * w[(m + r) * K + kk];
        s[r] += b ? b[m + r] : 0.0f;
        s[r] = s[r] < a->lo ? a->lo : s[r];
        y[rr * a->M + m + r] = s[r] > a->hi ? a->hi : s[r];
      }
    }
  }
  return 1;
}
#endif
