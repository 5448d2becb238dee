/* int8 fully connected: 2 output channels x 4 K-elements per step. x and the weight rows
   are contiguous along K, so one word load gives 4 int8 that SXTB16 splits into even/odd
   lanes for SMLAD; the weight sums for the zero-point correction ride along with a SMLAD
   against (1, 1). */
#include "cortexm.h"
#ifdef ESDK_HAVE_DSP

int esdk_fc_i8_2x4_dsp(const esdk_fc_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  const int32_t K = a->K, ones = 0x00010001;
  int64_t r;
  int32_t m;
  for (r = 0; r < a->B; r++) {
    const int8_t *xr = x + r * K;
    for (m = a->m0; m < a->m1; m += 2) {
      const int two = m + 1 < a->m1;
      const int8_t *w0 = w + (int64_t)m * K, *w1 = two ? w0 + K : w0;
      int32_t acc0 = 0, acc1 = 0, s0 = 0, s1 = 0, k = 0;
      for (; k + 4 <= K; k += 4) {
        const int32_t xw = esdk_ld32(xr + k), u = esdk_ld32(w0 + k), v = esdk_ld32(w1 + k);
        const int32_t xe = ESDK_SX_EVEN(xw), xo = ESDK_SX_ODD(xw);
        const int32_t ue = ESDK_SX_EVEN(u), uo = ESDK_SX_ODD(u), ve = ESDK_SX_EVEN(v), vo = ESDK_SX_ODD(v);
        acc0 = __smlad(xe, ue, acc0);
        acc0 = __smlad(xo, uo, acc0);
        acc1 = __smlad(xe, ve, acc1);
        acc1 = __smlad(xo, vo, acc1);
        s0 = __smlad(ue, ones, s0);
        s0 = __smlad(uo, ones, s0);
        s1 = __smlad(ve, ones, s1);
        s1 = __smlad(vo, ones, s1);
      }
      for (; k < K; k++) {
        acc0 += xr[k] * w0[k];
        acc1 += xr[k] * w1[k];
        s0 += w0[k];
        s1 += w1[k];
      }
      acc0 = (int32_t)((uint32_t)acc0 + (uint32_t)(b ? b[m] : 0) - (uint32_t)a->zx * (uint32_t)s0);
      y[r * a->M + m] = esdk_requant(acc0, a->mult[m * a->qstride], a->shift[m * a->qstride], a->zy, a->qmin, a->qmax);
      if (two) {
        acc1 = (int32_t)((uint32_t)acc1 + (uint32_t)(b ? b[m + 1] : 0) - (uint32_t)a->zx * (uint32_t)s1);
        y[r * a->M + m + 1] =
            esdk_requant(acc1, a->mult[(m + 1) * a->qstride], a->shift[(m + 1) * a->qstride], a->zy, a->qmin, a->qmax);
      }
    }
  }
  return 1;
}
#else
typedef int esdk_fc_i8_dsp_unused;
#endif
