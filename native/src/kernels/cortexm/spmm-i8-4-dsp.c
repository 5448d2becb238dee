/* int8 block-CSR sparse x dense (SPARSE_CONV1X1 / SPARSE_FULLY_CONNECTED). For the NCHW
   1x1 case (x contiguous along pixels) 4 pixels are computed together: the row's nonzeros
   are consumed in pairs, each pair's two input rows repacked into (x[ka][p], x[kb][p])
   lanes for SMLAD against (va, vb), as in conv1x1-i8-2x4-dsp.c. Remaining pixels and the
   fully connected layout take a plain int32 loop. */
#include "cortexm.h"
#ifdef ESDK_HAVE_DSP

int esdk_spmm_i8_4_dsp(const esdk_spmm_args *a, const int8_t *x, const int8_t *v, const int32_t *b, int8_t *y) {
  const int32_t br = a->br, bc = a->bc;
  int32_t rb, r, c;
  uint32_t j;
  for (rb = a->m0 / br; rb < a->m1 / br; rb++) {
    const uint32_t j0 = a->row_ptr[rb], j1 = a->row_ptr[rb + 1];
    for (r = 0; r < br; r++) {
      const int64_t m = (int64_t)rb * br + r;
      const int32_t mu = a->mult[m * a->qstride], sh = a->shift[m * a->qstride];
      uint32_t wsum = 0;
      int32_t bias;
      int64_t p = 0;
      for (j = j0; j < j1; j++)
        for (c = 0; c < bc; c++) wsum += (uint32_t)v[((int64_t)j * br + r) * bc + c];
      bias = (int32_t)((uint32_t)(b ? b[m] : 0) - (uint32_t)a->zx * wsum);
      if (a->xs_p == 1)
        for (; p + 4 <= a->P; p += 4) {
          int32_t a0 = bias, a1 = bias, a2 = bias, a3 = bias, pw = 0;
          const int8_t *px = 0;
          for (j = j0; j < j1; j++) {
            const int8_t *vj = v + ((int64_t)j * br + r) * bc;
            const int8_t *xj = x + (int64_t)a->col_idx[j] * bc * a->xs_k + p;
            for (c = 0; c < bc; c++, xj += a->xs_k) {
              if (!px) { /* first of a pair: wait for its partner */
                px = xj;
                pw = vj[c];
                continue;
              }
              {
                const int32_t xa = esdk_ld32(px), xb = esdk_ld32(xj);
                const int32_t ae = ESDK_SX_EVEN(xa), ao = ESDK_SX_ODD(xa), be = ESDK_SX_EVEN(xb), bo = ESDK_SX_ODD(xb);
                const int32_t vv = ESDK_PAIR(pw, vj[c]);
                a0 = __smlad(ESDK_PK_LO(ae, be), vv, a0);
                a1 = __smlad(ESDK_PK_LO(ao, bo), vv, a1);
                a2 = __smlad(ESDK_PK_HI(ae, be), vv, a2);
                a3 = __smlad(ESDK_PK_HI(ao, bo), vv, a3);
              }
              px = 0;
            }
          }
          if (px) a0 += px[0] * pw, a1 += px[1] * pw, a2 += px[2] * pw, a3 += px[3] * pw;
          y[m * a->ys_m + p] = esdk_requant(a0, mu, sh, a->zy, a->qmin, a->qmax);
          y[m * a->ys_m + p + 1] = esdk_requant(a1, mu, sh, a->zy, a->qmin, a->qmax);
          y[m * a->ys_m + p + 2] = esdk_requant(a2, mu, sh, a->zy, a->qmin, a->qmax);
          y[m * a->ys_m + p + 3] = esdk_requant(a3, mu, sh, a->zy, a->qmin, a->qmax);
        }
      for (; p < a->P; p++) {
        uint32_t acc = (uint32_t)bias;
        for (j = j0; j < j1; j++) {
          const int8_t *vj = v + ((int64_t)j * br + r) * bc;
          const int8_t *xj = x + (int64_t)a->col_idx[j] * bc * a->xs_k + p * a->xs_p;
          for (c = 0; c < bc; c++) acc += (uint32_t)(vj[c] * xj[c * a->xs_k]);
        }
        y[m * a->ys_m + p * a->ys_p] = esdk_requant((int32_t)acc, mu, sh, a->zy, a->qmin, a->qmax);
      }
    }
  }
  return 1;
}
#else
typedef int esdk_spmm_i8_dsp_unused;
#endif
