/* int8 fully connected: 16 K-elements per step with vmladavaq_s8 (a 16-lane int8 dot
   product into a 32-bit scalar), the tail predicated with vctp8q; the weight sum for the
   zero-point correction comes from vaddvaq_s8 in the same pass. */
#include "helium.h"
#ifdef ESDK_HAVE_MVE

int esdk_fc_i8_16_helium(const esdk_fc_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  const int32_t K = a->K;
  int64_t r;
  int32_t m, k;
  for (r = 0; r < a->B; r++) {
    const int8_t *xr = x + r * K;
    for (m = a->m0; m < a->m1; m++) {
      const int8_t *wm = w + (int64_t)m * K;
      int32_t acc = 0, s = 0;
      for (k = 0; k < K; k += 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)(K - k));
        const int8x16_t xv = vld1q_z_s8(xr + k, pr), wv = vld1q_z_s8(wm + k, pr);
        acc = vmladavaq_s8(acc, xv, wv);
        s = vaddvaq_s8(s, wv);
      }
      acc = (int32_t)((uint32_t)acc + (uint32_t)esdk_mve_bias(b ? b[m] : 0, a->zx, s));
      y[r * a->M + m] = esdk_requant(acc, a->mult[m * a->qstride], a->shift[m * a->qstride], a->zy, a->qmin, a->qmax);
    }
  }
  return 1;
}
#else
typedef int esdk_fc_i8_helium_unused;
#endif
