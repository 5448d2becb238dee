/* int8 fully connected (GEMV and small batch) with AVX-512 VNNI: x rows and weight rows are
   both contiguous along K, so VPDPBUSD runs straight on them, 64 MACs per instruction, 4 output
   rows sharing each x load (x ^ 0x80 = x + 128 as u8). Masked loads cover K % 64 (masked-off
   weight bytes are 0, so the x bytes there do not matter). sum(w) per row, for the +128
   correction, is one VPDPBUSD pass against ones, reused across the batch. Requantization is
   scalar per output (M per row: negligible next to M*K). */
#include "i8-vnni.h"
#if defined(__x86_64__) || defined(_M_X64)
#include "../../runtime/fixedpoint.h"

#define ROWSN(NAME, R)                                                                                     \
  static T512 void NAME(const esdk_fc_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y,   \
                        int64_t m) {                                                                        \
    int64_t K = a->K, row, k;                                                                               \
    int32_t cb[R];                                                                                          \
    int r;                                                                                                  \
    ESDK_UNROLL for (r = 0; r < R; r++)                                                                                 \
      cb[r] = (int32_t)((uint32_t)(b ? b[m + r] : 0) -                                                      \
                        (uint32_t)(128 + a->zx) * (uint32_t)esdk_sum_i8_512(w + (m + r) * K, K));           \
    for (row = 0; row < a->B; row++) {                                                                      \
      const int8_t *xr = x + row * K;                                                                       \
      __m512i c[R];                                                                                         \
      const __m512i flip = _mm512_set1_epi8(-128);                                                          \
      ESDK_UNROLL for (r = 0; r < R; r++) c[r] = _mm512_setzero_si512();                                                \
      for (k = 0; k + 64 <= K; k += 64) {                                                                   \
        __m512i xv = _mm512_xor_si512(_mm512_loadu_si512(xr + k), flip);                                    \
        ESDK_UNROLL for (r = 0; r < R; r++) c[r] = _mm512_dpbusd_epi32(c[r], xv, _mm512_loadu_si512(w + (m + r) * K + k)); \
      }                                                                                                     \
      if (k < K) {                                                                                          \
        __mmask64 mk = ((__mmask64)-1) >> (64 - (K - k));                                                   \
        __m512i xv = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk, xr + k), flip);                          \
        ESDK_UNROLL for (r = 0; r < R; r++)                                                                             \
          c[r] = _mm512_dpbusd_epi32(c[r], xv, _mm512_maskz_loadu_epi8(mk, w + (m + r) * K + k));           \
      }                                                                                                     \
      ESDK_UNROLL for (r = 0; r < R; r++) {                                                                             \
        int32_t acc = (int32_t)((uint32_t)cb[r] + (uint32_t)_mm512_reduce_add_epi32(c[r]));                 \
        y[row * a->M + m + r] = esdk_requant(acc, a->mult[(m + r) * a->qstride], a->shift[(m + r) * a->qstride], \
                                             a->zy, a->qmin, a->qmax);                                      \
      }                                                                                                     \
    }                                                                                                       \
  }

ROWSN(rows4, 4)
ROWSN(rows1, 1)

T512 int esdk_fc_i8_avx512(const esdk_fc_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  int64_t m;
  for (m = a->m0; m + 4 <= a->m1; m += 4) rows4(a, x, w, b, y, m);
  for (; m < a->m1; m++) rows1(a, x, w, b, y, m);
  return 1;
}
#endif
