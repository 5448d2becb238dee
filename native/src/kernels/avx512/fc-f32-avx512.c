/* Fully connected as GEMV per input row: 8 output channels at a time (8 weight streams, which
   keeps the hardware prefetchers busy on the memory-bound 1024x1000 classifier), each a zmm
   dot product along K with unmasked full vectors and one masked tail, reduced horizontally at
   the end; leftover channels go 1 at a time.
   The classifier's 4 MB of weights come from DRAM in a real inference (the rest of the network
   evicts them from L3), where the 8 streams alone reached ~19 GB/s: each block also prefetches
   (into L2) the block FC_PD blocks ahead, one line per weight line it reads. Measured (C harness,
   1024x1000, weights evicted by a 64 MB read first): 205-265 -> 165-207 us; with the weights in
   cache 66 -> 74 us (the prefetches cost issue slots), so the cold case decides. */
#include "avx512.h"
#if defined(__x86_64__) || defined(_M_X64)

#define FC_PD 4 /* prefetch distance in 8-row blocks (1 / 2 / 4 measured: 4 best) */

#define ROWS(NAME, R, PF)                                                                                          \
  static T512 void NAME(const float *xr, const float *w, int64_t K, const float *b, float *y, float lo, float hi) { \
    __m512 c[R];                                                                                                 \
    int64_t k;                                                                                                   \
    int r;                                                                                                       \
    __mmask16 ml = esdk_mask16(K & 15);                                                                          \
    ESDK_UNROLL for (r = 0; r < R; r++) c[r] = _mm512_setzero_ps();                                              \
    for (k = 0; k + 16 <= K; k += 16) {                                                                          \
      __m512 xv = _mm512_loadu_ps(xr + k);                                                                       \
      if (PF) ESDK_UNROLL for (r = 0; r < R; r++) _mm_prefetch((const char *)(w + (FC_PD * R + r) * K + k), _MM_HINT_T1); \
      ESDK_UNROLL for (r = 0; r < R; r++) c[r] = _mm512_fmadd_ps(_mm512_loadu_ps(w + r * K + k), xv, c[r]);     \
    }                                                                                                            \
    if (k < K) {                                                                                                 \
      __m512 xv = _mm512_maskz_loadu_ps(ml, xr + k);                                                             \
      ESDK_UNROLL for (r = 0; r < R; r++) c[r] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(ml, w + r * K + k), xv, c[r]); \
    }                                                                                                            \
    ESDK_UNROLL for (r = 0; r < R; r++) {                                                                        \
      float s = _mm512_reduce_add_ps(c[r]) + (b ? b[r] : 0.0f);                                                  \
      s = s < lo ? lo : s;                                                                                       \
      y[r] = s > hi ? hi : s;                                                                                    \
    }                                                                                                            \
  }
ROWS(rows8, 8, 0)
ROWS(rows8p, 8, 1)
ROWS(rows1, 1, 0)

T512 int esdk_fc_f32_avx512(const esdk_fc_args *a, const float *x, const float *w, const float *b, float *y) {
  int64_t K = a->K, rr, m;
  for (rr = 0; rr < a->B; rr++) {
    const float *xr = x + rr * K;
    float *yr = y + rr * a->M;
    for (m = a->m0; m + 8 * (FC_PD + 1) <= a->m1; m += 8) rows8p(xr, w + m * K, K, b ? b + m : 0, yr + m, a->lo, a->hi);
    for (; m + 8 <= a->m1; m += 8) rows8(xr, w + m * K, K, b ? b + m : 0, yr + m, a->lo, a->hi);
    for (; m < a->m1; m++) rows1(xr, w + m * K, K, b ? b + m : 0, yr + m, a->lo, a->hi);
  }
  return 1;
}
#endif
