/* int8 1x1 convolution, NCHW, as the GEMM Y[M][HW] = W[M][C] X[C][HW]: tiles of 2 output
   channels x 4 pixels. Two input-channel rows are loaded 4 pixels at a time and repacked
   into (x[c][p], x[c+1][p]) lane pairs that SMLAD multiplies by (w[m][c], w[m][c+1]):
   8 multiply-accumulate instructions per 16 MACs. */
#include "cortexm.h"
#ifdef ESDK_HAVE_DSP

int esdk_conv1x1_i8_2x4_dsp(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  const int32_t C = a->C, P = a->H * a->W;
  int32_t n, m;
  for (n = 0; n < a->N; n++) {
    const int8_t *xn = x + (int64_t)n * C * P;
    int8_t *yn = y + (int64_t)n * a->M * P;
    for (m = a->m0; m < a->m1; m += 2) {
      const int two = m + 1 < a->m1;
      const int8_t *w0 = w + (int64_t)m * C, *w1 = two ? w0 + C : w0;
      const int32_t mu0 = a->mult[m * a->qstride], sh0 = a->shift[m * a->qstride];
      const int32_t mu1 = a->mult[(m + two) * a->qstride], sh1 = a->shift[(m + two) * a->qstride];
      const int32_t bias0 = (int32_t)((uint32_t)(b ? b[m] : 0) - (uint32_t)a->zx * (uint32_t)esdk_wsum(w0, C));
      const int32_t bias1 = (int32_t)((uint32_t)(b ? b[m + two] : 0) - (uint32_t)a->zx * (uint32_t)esdk_wsum(w1, C));
      int8_t *y0 = yn + (int64_t)m * P, *y1 = two ? y0 + P : y0;
      int32_t p = 0, c;
      for (; p + 4 <= P; p += 4) {
        int32_t a00 = bias0, a01 = bias0, a02 = bias0, a03 = bias0;
        int32_t a10 = bias1, a11 = bias1, a12 = bias1, a13 = bias1;
        const int8_t *xp = xn + p;
        for (c = 0; c + 2 <= C; c += 2, xp += 2 * P) {
          const int32_t xa = esdk_ld32(xp), xb = esdk_ld32(xp + P);
          const int32_t ae = ESDK_SX_EVEN(xa), ao = ESDK_SX_ODD(xa), be = ESDK_SX_EVEN(xb), bo = ESDK_SX_ODD(xb);
          const int32_t q0 = ESDK_PK_LO(ae, be), q1 = ESDK_PK_LO(ao, bo), q2 = ESDK_PK_HI(ae, be),
                        q3 = ESDK_PK_HI(ao, bo);
          const int32_t v0 = ESDK_PAIR(w0[c], w0[c + 1]), v1 = ESDK_PAIR(w1[c], w1[c + 1]);
          a00 = __smlad(q0, v0, a00);
          a01 = __smlad(q1, v0, a01);
          a02 = __smlad(q2, v0, a02);
          a03 = __smlad(q3, v0, a03);
          a10 = __smlad(q0, v1, a10);
          a11 = __smlad(q1, v1, a11);
          a12 = __smlad(q2, v1, a12);
          a13 = __smlad(q3, v1, a13);
        }
        if (c < C) { /* odd C: last channel */
          a00 += xp[0] * w0[c], a01 += xp[1] * w0[c], a02 += xp[2] * w0[c], a03 += xp[3] * w0[c];
          a10 += xp[0] * w1[c], a11 += xp[1] * w1[c], a12 += xp[2] * w1[c], a13 += xp[3] * w1[c];
        }
        y0[p] = esdk_requant(a00, mu0, sh0, a->zy, a->qmin, a->qmax);
        y0[p + 1] = esdk_requant(a01, mu0, sh0, a->zy, a->qmin, a->qmax);
        y0[p + 2] = esdk_requant(a02, mu0, sh0, a->zy, a->qmin, a->qmax);
        y0[p + 3] = esdk_requant(a03, mu0, sh0, a->zy, a->qmin, a->qmax);
        if (two) {
          y1[p] = esdk_requant(a10, mu1, sh1, a->zy, a->qmin, a->qmax);
          y1[p + 1] = esdk_requant(a11, mu1, sh1, a->zy, a->qmin, a->qmax);
          y1[p + 2] = esdk_requant(a12, mu1, sh1, a->zy, a->qmin, a->qmax);
          y1[p + 3] = esdk_requant(a13, mu1, sh1, a->zy, a->qmin, a->qmax);
        }
      }
      for (; p < P; p++) { /* pixel remainder */
        uint32_t s0 = (uint32_t)bias0, s1 = (uint32_t)bias1;
        for (c = 0; c < C; c++) {
          const int32_t xv = xn[(int64_t)c * P + p];
          s0 += (uint32_t)(xv * w0[c]);
          s1 += (uint32_t)(xv * w1[c]);
        }
        y0[p] = esdk_requant((int32_t)s0, mu0, sh0, a->zy, a->qmin, a->qmax);
        if (two) y1[p] = esdk_requant((int32_t)s1, mu1, sh1, a->zy, a->qmin, a->qmax);
      }
    }
  }
  return 1;
}
#else
typedef int esdk_conv1x1_i8_dsp_unused;
#endif
