/* Block-CSR sparse x dense with arbitrary strides: covers 1x1 conv (NCHW) and sparse FC.
   K-chunked weights (a->nch > 1) keep row m's nonzeros in CSR rows c * M + m, one per chunk,
   visited in chunk order: the same products in the same order as the plain layout. */
#include "../kernels.h"
#include "../../runtime/fixedpoint.h"

void esdk_spmm_f32_scalar(const esdk_spmm_args *a, const float *x, const float *v, const float *b, float *y) {
  int64_t rb, r, p, j, c, ch, nbr = a->M / a->br, nch = a->nch > 1 ? a->nch : 1;
  for (rb = a->m0 / a->br; rb < a->m1 / a->br; rb++)
    for (r = 0; r < a->br; r++) {
      int64_t m = rb * a->br + r;
      for (p = 0; p < a->P; p++) {
        float acc = b ? b[m] : 0.0f;
        for (ch = 0; ch < nch; ch++)
          for (j = a->row_ptr[ch * nbr + rb]; j < a->row_ptr[ch * nbr + rb + 1]; j++)
            for (c = 0; c < a->bc; c++)
              acc += v[(j * a->br + r) * a->bc + c] * x[((int64_t)a->col_idx[j] * a->bc + c) * a->xs_k + p * a->xs_p];
        y[m * a->ys_m + p * a->ys_p] = esdk_clampf(acc, a->lo, a->hi);
      }
    }
}
