/* Softmax over a strided axis; subtracting the max keeps expf finite. */
#include <math.h>
#include "../kernels.h"

void esdk_softmax_f32_scalar(const float *x, float *y, int64_t outer, int64_t len, int64_t inner) {
  int64_t o, i, k;
  for (o = 0; o < outer; o++)
    for (i = 0; i < inner; i++) {
      const float *xs = x + o * len * inner + i;
      float *ys = y + o * len * inner + i;
      float mx = xs[0], sum = 0.0f;
      for (k = 1; k < len; k++) mx = xs[k * inner] > mx ? xs[k * inner] : mx;
      for (k = 0; k < len; k++) {
        ys[k * inner] = expf(xs[k * inner] - mx);
        sum += ys[k * inner];
      }
      for (k = 0; k < len; k++) ys[k * inner] /= sum;
    }
}
