#include <math.h>
#include "../kernels.h"
#include "../../runtime/opcodes.h"

void esdk_unary_f32_scalar(int kind, float p0, float p1, const float *x, float *y, int64_t n) {
  int64_t i;
  for (i = 0; i < n; i++) {
    float v = x[i], r;
    switch (kind) {
      case UN_RELU: r = v > 0 ? v : 0.0f; break;
      case UN_CLIP: r = v < p0 ? p0 : (v > p1 ? p1 : v); break;
      case UN_LEAKY: r = v < 0 ? v * p0 : v; break;
      case UN_SIGMOID: r = 1.0f / (1.0f + expf(-v)); break;
      case UN_HARDSIGMOID: r = p0 * v + p1; r = r < 0 ? 0.0f : (r > 1 ? 1.0f : r); break;
      case UN_HARDSWISH: r = v + 3.0f; r = r < 0 ? 0.0f : (r > 6 ? 6.0f : r); r = v * r / 6.0f; break;
      case UN_TANH: r = tanhf(v); break;
      case UN_SQRT: r = sqrtf(v); break;
      case UN_EXP: r = expf(v); break;
      case UN_NEG: r = -v; break;
      default: r = fabsf(v); break;
    }
    y[i] = r;
  }
}
