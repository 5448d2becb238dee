#include "../kernels.h"
#include "../../runtime/fixedpoint.h"

void esdk_fc_i8_scalar(const esdk_fc_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  int64_t r, m, k;
  for (r = 0; r < a->B; r++)
    for (m = a->m0; m < a->m1; m++) {
      const int8_t *xr = x + r * a->K, *wm = w + m * a->K;
      uint32_t acc = b ? (uint32_t)b[m] : 0u;
      for (k = 0; k < a->K; k++) acc += (uint32_t)((xr[k] - a->zx) * wm[k]);
      y[r * a->M + m] = esdk_requant((int32_t)acc, a->mult[m * a->qstride], a->shift[m * a->qstride], a->zy, a->qmin,
                                     a->qmax);
    }
}
