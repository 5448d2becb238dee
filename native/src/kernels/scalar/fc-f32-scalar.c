#include "../kernels.h"
#include "../../runtime/fixedpoint.h"

void esdk_fc_f32_scalar(const esdk_fc_args *a, const float *x, const float *w, const float *b, float *y) {
  int64_t r, m, k;
  for (r = 0; r < a->B; r++)
    for (m = a->m0; m < a->m1; m++) {
      const float *xr = x + r * a->K, *wm = w + m * a->K;
      float acc = b ? b[m] : 0.0f;
      for (k = 0; k < a->K; k++) acc += xr[k] * wm[k];
      y[r * a->M + m] = esdk_clampf(acc, a->lo, a->hi);
    }
}
