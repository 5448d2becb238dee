/* Scalar reference of the expert matvec kernels (the order every variant reproduces:
   xmatvec.h). Also the kernel of builds without a faster one. */
#include "xmatvec.h"

static float lanes8(const float *s) { return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7])); }

void esdk_moe_xmatvec_f32_scalar(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y, int32_t rows, int32_t cols) {
  for (int32_t r = 0; r < rows; r++) {
    const float *w = (const float *)(const void *)(q + (size_t)r * rb);
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int32_t i = 0;
    for (; i + 8 <= cols; i += 8)
      for (int j = 0; j < 8; j++) s[j] += w[i + j] * x[i + j];
    float t = lanes8(s);
    for (; i < cols; i++) t += w[i] * x[i];
    y[r] = sc[r] * t;
  }
}

void esdk_moe_xmatvec_i8_scalar(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y, int32_t rows, int32_t cols) {
  for (int32_t r = 0; r < rows; r++) {
    const int8_t *w = (const int8_t *)(q + (size_t)r * rb);
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int32_t i = 0;
    for (; i + 8 <= cols; i += 8)
      for (int j = 0; j < 8; j++) s[j] += (float)w[i + j] * x[i + j];
    float t = lanes8(s);
    for (; i < cols; i++) t += (float)w[i] * x[i];
    y[r] = sc[r] * t;
  }
}

/* two per byte, low nibble first, q = nibble - 8 (cols even) */
void esdk_moe_xmatvec_i4_scalar(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y, int32_t rows, int32_t cols) {
  for (int32_t r = 0; r < rows; r++) {
    const uint8_t *row = q + (size_t)r * rb;
    float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int32_t i = 0;
    for (; i + 8 <= cols; i += 8)
      for (int j = 0; j < 4; j++) {
        uint8_t b = row[(i >> 1) + j];
        s[2 * j] += (float)((int)(b & 15) - 8) * x[i + 2 * j];
        s[2 * j + 1] += (float)((int)(b >> 4) - 8) * x[i + 2 * j + 1];
      }
    float t = lanes8(s);
    for (; i < cols; i += 2) {
      uint8_t b = row[i >> 1];
      t += (float)((int)(b & 15) - 8) * x[i] + (float)((int)(b >> 4) - 8) * x[i + 1];
    }
    y[r] = sc[r] * t;
  }
}
