/* int8 block-CSR sparse x dense for the NCHW 1x1 case (x contiguous along pixels): for each
   nonzero weight, 16 pixels of its input row are loaded widened to int32 (4 x vldrbq_s32)
   and multiply-accumulated by the scalar weight, so the index and value loads are shared
   by 16 MACs; pixel tails use predicated 4-lane steps. The fully connected layout
   (x contiguous along K) is declined and runs the scalar kernel. */
#include "helium.h"
#ifdef ESDK_HAVE_MVE

int esdk_spmm_i8_16_helium(const esdk_spmm_args *a, const int8_t *x, const int8_t *v, const int32_t *b, int8_t *y) {
  const int32_t br = a->br, bc = a->bc;
  int32_t rb, r, c;
  uint32_t j;
  if (a->xs_p != 1) return 0;
  for (rb = a->m0 / br; rb < a->m1 / br; rb++) {
    const uint32_t j0 = a->row_ptr[rb], j1 = a->row_ptr[rb + 1];
    for (r = 0; r < br; r++) {
      const int64_t m = (int64_t)rb * br + r;
      const int32_t mu = a->mult[m * a->qstride], sh = a->shift[m * a->qstride];
      int8_t *ym = y + m * a->ys_m;
      int32_t wsum = 0, bias;
      int64_t p = 0;
      for (j = j0; j < j1; j++)
        for (c = 0; c < bc; c++) wsum += v[((int64_t)j * br + r) * bc + c];
      bias = esdk_mve_bias(b ? b[m] : 0, a->zx, wsum);
      for (; p + 16 <= a->P; p += 16) {
        int32x4_t a0 = vdupq_n_s32(bias), a1 = a0, a2 = a0, a3 = a0;
        int32_t out[16];
        int q;
        for (j = j0; j < j1; j++) {
          const int8_t *vj = v + ((int64_t)j * br + r) * bc;
          const int8_t *xj = x + (int64_t)a->col_idx[j] * bc * a->xs_k + p;
          for (c = 0; c < bc; c++, xj += a->xs_k) {
            const int32_t wv = vj[c];
            a0 = vmlaq_n_s32(a0, vldrbq_s32(xj), wv);
            a1 = vmlaq_n_s32(a1, vldrbq_s32(xj + 4), wv);
            a2 = vmlaq_n_s32(a2, vldrbq_s32(xj + 8), wv);
            a3 = vmlaq_n_s32(a3, vldrbq_s32(xj + 12), wv);
          }
        }
        vst1q_s32(out, a0);
        vst1q_s32(out + 4, a1);
        vst1q_s32(out + 8, a2);
        vst1q_s32(out + 12, a3);
        for (q = 0; q < 16; q++) ym[p + q] = esdk_requant(out[q], mu, sh, a->zy, a->qmin, a->qmax);
      }
      for (; p < a->P; p += 4) {
        const int np = a->P - p < 4 ? (int)(a->P - p) : 4;
        const mve_pred16_t pr = vctp32q((uint32_t)np);
        int32x4_t acc = vdupq_n_s32(bias);
        int32_t out[4];
        int q;
        for (j = j0; j < j1; j++) {
          const int8_t *vj = v + ((int64_t)j * br + r) * bc;
          const int8_t *xj = x + (int64_t)a->col_idx[j] * bc * a->xs_k + p;
          for (c = 0; c < bc; c++, xj += a->xs_k) acc = vmlaq_n_s32(acc, vldrbq_z_s32(xj, pr), vj[c]);
        }
        vst1q_s32(out, acc);
        for (q = 0; q < np; q++) ym[p + q] = esdk_requant(out[q], mu, sh, a->zy, a->qmin, a->qmax);
      }
    }
  }
  return 1;
}
#else
typedef int esdk_spmm_i8_helium_unused;
#endif
