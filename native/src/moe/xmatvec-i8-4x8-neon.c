/* int8 expert matvec, 4 rows x 8 lanes, NEON: 8 weights sign-extended to int32, converted
   (exact), multiplied by x, added; bit-exact with esdk_moe_xmatvec_i8_scalar. */
#include "xmatvec-neon.h"
#ifdef ESDK_MOE_NEON

static inline float32x4x2_t load8_i8(const uint8_t *p, int32_t i) {
  return moe_i8x8_to_f32_neon(vld1_s8((const int8_t *)(p + i)));
}

void esdk_moe_xmatvec_i8_4x8_neon(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y,
                                  int32_t rows, int32_t cols) {
  MOE_XMATVEC_NEON_BODY(load8_i8, MOE_TAIL_I8)
}
#endif
