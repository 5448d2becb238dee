#include "../kernels.h"

void esdk_matmul_f32_scalar(const esdk_matmul_args *a, const float *A, const float *B, float *Y) {
  int64_t i0, i1, i2, i3, i, j, k;
  for (i0 = 0; i0 < a->bd[0]; i0++)
    for (i1 = 0; i1 < a->bd[1]; i1++)
      for (i2 = 0; i2 < a->bd[2]; i2++)
        for (i3 = 0; i3 < a->bd[3]; i3++) {
          const float *Ab = A + i0 * a->sa[0] + i1 * a->sa[1] + i2 * a->sa[2] + i3 * a->sa[3];
          const float *Bb = B + i0 * a->sb[0] + i1 * a->sb[1] + i2 * a->sb[2] + i3 * a->sb[3];
          for (i = 0; i < a->M; i++) {
            for (j = 0; j < a->N; j++) Y[i * a->N + j] = 0.0f;
            for (k = 0; k < a->K; k++) {
              float av = Ab[i * a->K + k];
              for (j = 0; j < a->N; j++) Y[i * a->N + j] += av * Bb[k * a->N + j];
            }
          }
          Y += (int64_t)a->M * a->N;
        }
}
