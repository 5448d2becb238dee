/* Mean over the masked axes of a rank-6 view (mask bit k marks axis k). Output order is the
   input order minus the reduced axes; double accumulation keeps long reductions accurate. */
#include "../kernels.h"

static double sum_reduced(const float *x, const int64_t rd[6], const int64_t st[6]) {
  int64_t j0, j1, j2, j3, j4, j5;
  double s = 0.0;
  for (j0 = 0; j0 < rd[0]; j0++)
    for (j1 = 0; j1 < rd[1]; j1++)
      for (j2 = 0; j2 < rd[2]; j2++)
        for (j3 = 0; j3 < rd[3]; j3++)
          for (j4 = 0; j4 < rd[4]; j4++)
            for (j5 = 0; j5 < rd[5]; j5++)
              s += x[j0 * st[0] + j1 * st[1] + j2 * st[2] + j3 * st[3] + j4 * st[4] + j5 * st[5]];
  return s;
}

void esdk_reduce_mean_f32_scalar(const float *x, float *y, const int64_t d[6], int mask) {
  int64_t st[6], rd[6], kd[6], t = 1, cnt = 1, k0, k1, k2, k3, k4, k5;
  int k;
  for (k = 5; k >= 0; k--) {
    int red = (mask >> k) & 1;
    st[k] = t;
    t *= d[k];
    kd[k] = red ? 1 : d[k];
    rd[k] = red ? d[k] : 1;
    cnt *= rd[k];
  }
  for (k0 = 0; k0 < kd[0]; k0++)
    for (k1 = 0; k1 < kd[1]; k1++)
      for (k2 = 0; k2 < kd[2]; k2++)
        for (k3 = 0; k3 < kd[3]; k3++)
          for (k4 = 0; k4 < kd[4]; k4++)
            for (k5 = 0; k5 < kd[5]; k5++)
              *y++ = (float)(sum_reduced(x + k0 * st[0] + k1 * st[1] + k2 * st[2] + k3 * st[3] + k4 * st[4] + k5 * st[5],
                                         rd, st) / (double)cnt);
}
