/* int8 expert matvec, 4 rows x 8 lanes, NEON: weights sign-extended to int32, converted
   (exact), multiplied by x, added; bit-exact with esdk_moe_xmatvec_i8_scalar. */
#include "xmatvec-neon.h"
#ifdef ESDK_MOE_NEON

static inline float32x4x2_t load8_i8(const uint8_t *p, int32_t i) {
  return moe_s16x8_to_f32_neon(vmovl_s8(vld1_s8((const int8_t *)(p + i))));
}
static inline float32x4x4_t load16_i8(const uint8_t *p, int32_t i) {
  int8x16_t v = vld1q_s8((const int8_t *)(p + i));
  return moe_f32x2x2_neon(moe_s16x8_to_f32_neon(vmovl_s8(vget_low_s8(v))), moe_s16x8_to_f32_neon(vmovl_high_s8(v)));
}

void esdk_moe_xmatvec_i8_4x8_neon(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y,
                                  int32_t rows, int32_t cols) {
  MOE_XMATVEC_NEON_BODY(load8_i8, load16_i8, MOE_TAIL_I8)
}
#endif
