/* int8 1x1 convolution, NCHW: Y[M][HW] = W[M][C] X[C][HW] in tiles of 4 output channels x
   4 pixels. Per input channel one widening byte load (vldrbq_s32) of 4 pixels feeds 4
   vector multiply-accumulates by the channels' scalar weights. Pixel tails are predicated
   (vctp32q), so nothing past the tensor is read. */
#include "helium.h"
#ifdef ESDK_HAVE_MVE

int esdk_conv1x1_i8_4x4_helium(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b,
                               int8_t *y) {
  const int32_t C = a->C, P = a->H * a->W;
  int32_t n, m, p, c, i;
  for (n = 0; n < a->N; n++) {
    const int8_t *xn = x + (int64_t)n * C * P;
    int8_t *yn = y + (int64_t)n * a->M * P;
    for (m = a->m0; m < a->m1; m += 4) {
      const int nm = a->m1 - m < 4 ? a->m1 - m : 4;
      const int8_t *wr[4];
      int32_t bias[4], mu[4], sh[4];
      for (i = 0; i < 4; i++) { /* a short tile repeats its last channel and drops it */
        const int32_t mi = m + (i < nm ? i : nm - 1);
        wr[i] = w + (int64_t)mi * C;
        bias[i] = esdk_mve_bias(b ? b[mi] : 0, a->zx, esdk_mve_wsum(wr[i], C));
        mu[i] = a->mult[mi * a->qstride];
        sh[i] = a->shift[mi * a->qstride];
      }
      for (p = 0; p < P; p += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)(P - p));
        const int np = P - p < 4 ? P - p : 4;
        int32x4_t acc0 = vdupq_n_s32(bias[0]), acc1 = vdupq_n_s32(bias[1]);
        int32x4_t acc2 = vdupq_n_s32(bias[2]), acc3 = vdupq_n_s32(bias[3]);
        const int8_t *xp = xn + p;
        int32_t out[4][4];
        for (c = 0; c < C; c++, xp += P) {
          const int32x4_t xv = vldrbq_z_s32(xp, pr);
          acc0 = vmlaq_n_s32(acc0, xv, wr[0][c]);
          acc1 = vmlaq_n_s32(acc1, xv, wr[1][c]);
          acc2 = vmlaq_n_s32(acc2, xv, wr[2][c]);
          acc3 = vmlaq_n_s32(acc3, xv, wr[3][c]);
        }
        vst1q_s32(out[0], acc0);
        vst1q_s32(out[1], acc1);
        vst1q_s32(out[2], acc2);
        vst1q_s32(out[3], acc3);
        for (i = 0; i < nm; i++) {
          int8_t *yo = yn + (int64_t)(m + i) * P + p;
          int q;
          for (q = 0; q < np; q++) yo[q] = esdk_requant(out[i][q], mu[i], sh[i], a->zy, a->qmin, a->qmax);
        }
      }
    }
  }
  return 1;
}
#else
typedef int esdk_conv1x1_i8_helium_unused;
#endif
