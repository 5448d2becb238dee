/* Expert matrix-vector kernels: y[r] = scale[r] * dot(row r, x) over one matrix of an
 * expert record (docs/moe.md: rows of int8, int4 or f32, `row_bytes` apart). Every variant
 * accumulates in the order of the scalar reference (xmatvec-scalar.c): eight partial sums,
 * element i into lane i % 8, each product rounded then added (no FMA), the lanes summed
 * ((0+1)+(2+3))+((4+5)+(6+7)), then the tail in order; so every ISA gives the same bits and
 * a streamed run equals a resident one on any machine. */
#ifndef ESDK_MOE_XMATVEC_H
#define ESDK_MOE_XMATVEC_H
#include <stddef.h>
#include <stdint.h>

typedef void (*moe_xmatvec_fn)(const uint8_t *q, size_t row_bytes, const float *scale, const float *x, float *y,
                               int32_t rows, int32_t cols);

void esdk_moe_xmatvec_f32_scalar(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y, int32_t rows, int32_t cols);
void esdk_moe_xmatvec_i8_scalar(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y, int32_t rows, int32_t cols);
void esdk_moe_xmatvec_i4_scalar(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y, int32_t rows, int32_t cols);

#if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__)
#define ESDK_MOE_X86 1
void esdk_moe_xmatvec_f32_4x8_avx2(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y, int32_t rows, int32_t cols);
void esdk_moe_xmatvec_i8_4x8_avx2(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y, int32_t rows, int32_t cols);
void esdk_moe_xmatvec_i4_4x8_avx2(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y, int32_t rows, int32_t cols);
#endif

#if defined(__aarch64__)
#define ESDK_MOE_NEON 1 /* Advanced SIMD is part of the armv8-a baseline: no detection needed */
void esdk_moe_xmatvec_f32_4x8_neon(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y, int32_t rows, int32_t cols);
void esdk_moe_xmatvec_i8_4x8_neon(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y, int32_t rows, int32_t cols);
void esdk_moe_xmatvec_i4_4x8_neon(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y, int32_t rows, int32_t cols);
#endif

/* The tail of a row in a SIMD kernel (elements c8..cols-1 added to t in order, as the scalar
   kernels do), for bodies that define c8, cols and x. */
#define MOE_TAIL_F32(t, p) \
  for (int32_t i = c8; i < cols; i++) t += ((const float *)(const void *)(p))[i] * x[i]
#define MOE_TAIL_I8(t, p) \
  for (int32_t i = c8; i < cols; i++) t += (float)((const int8_t *)(p))[i] * x[i]
#define MOE_TAIL_I4(t, p)                                                               \
  for (int32_t i = c8; i < cols; i += 2) {                                              \
    uint8_t b = (p)[i >> 1];                                                            \
    t += (float)((int)(b & 15) - 8) * x[i] + (float)((int)(b >> 4) - 8) * x[i + 1];     \
  }
#endif
