/* int8 fully connected with SDOT (dotprod cores): 16 products per instruction along K, and a
   second SDOT against ones gives sum_k w for the zero-point correction (x is used raw:
   sum_k w (x - zx) = sum_k w x - zx sum_k w, exact mod 2^32). The scalar esdk_requant
   finishes each output: bit-exact with the host. */
#include "neon.h"
#include "../../runtime/fixedpoint.h"
#if defined(__aarch64__)

TDOT int esdk_fc_i8_dot_neon(const esdk_fc_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  int64_t K = a->K, rr, m, k;
  int8x16_t ones = vdupq_n_s8(1);
  for (rr = 0; rr < a->B; rr++) {
    const int8_t *xr = x + rr * K;
    for (m = a->m0; m < a->m1; m++) {
      const int8_t *wm = w + m * K;
      int32x4_t c = vdupq_n_s32(0), ws = vdupq_n_s32(0);
      uint32_t s;
      for (k = 0; k + 16 <= K; k += 16) {
        int8x16_t wv = vld1q_s8(wm + k);
        c = vdotq_s32(c, vld1q_s8(xr + k), wv);
        ws = vdotq_s32(ws, ones, wv);
      }
      s = (b ? (uint32_t)b[m] : 0u) + (uint32_t)vaddvq_s32(c) - (uint32_t)a->zx * (uint32_t)vaddvq_s32(ws);
      for (; k < K; k++) s += (uint32_t)((xr[k] - a->zx) * wm[k]);
      y[rr * a->M + m] = esdk_requant((int32_t)s, a->mult[m * a->qstride], a->shift[m * a->qstride], a->zy, a->qmin,
                                      a->qmax);
    }
  }
  return 1;
}
#endif
