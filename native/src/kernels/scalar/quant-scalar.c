#include "../kernels.h"
#include "../../runtime/fixedpoint.h"

void esdk_quantize_f32_scalar(const float *x, int8_t *y, int64_t n, float scale, int32_t zp) {
  int64_t i;
  for (i = 0; i < n; i++) y[i] = esdk_quantize_f32(x[i], scale, zp);
}

void esdk_dequantize_i8_scalar(const int8_t *x, float *y, int64_t n, float scale, int32_t zp) {
  int64_t i;
  for (i = 0; i < n; i++) y[i] = (float)(x[i] - zp) * scale;
}

void esdk_requantize_i8_scalar(const int8_t *x, int8_t *y, int64_t n, int32_t zx, int32_t zy, int32_t mult,
                               int32_t shift) {
  int64_t i;
  for (i = 0; i < n; i++) y[i] = esdk_requant(x[i] - zx, mult, shift, zy, -128, 127);
}
