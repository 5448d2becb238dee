#include "../kernels.h"
#include "../../runtime/fixedpoint.h"

void esdk_spmm_i8_scalar(const esdk_spmm_args *a, const int8_t *x, const int8_t *v, const int32_t *b, int8_t *y) {
  int64_t rb, r, p, j, c;
  for (rb = a->m0 / a->br; rb < a->m1 / a->br; rb++)
    for (r = 0; r < a->br; r++) {
      int64_t m = rb * a->br + r;
      int32_t mu = a->mult[m * a->qstride], sh = a->shift[m * a->qstride];
      for (p = 0; p < a->P; p++) {
        uint32_t acc = b ? (uint32_t)b[m] : 0u;
        for (j = a->row_ptr[rb]; j < a->row_ptr[rb + 1]; j++)
          for (c = 0; c < a->bc; c++)
            acc += (uint32_t)(v[(j * a->br + r) * a->bc + c] *
                              (x[((int64_t)a->col_idx[j] * a->bc + c) * a->xs_k + p * a->xs_p] - a->zx));
        y[m * a->ys_m + p * a->ys_p] = esdk_requant((int32_t)acc, mu, sh, a->zy, a->qmin, a->qmax);
      }
    }
}
