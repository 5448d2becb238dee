/* f32 expert matvec, 4 rows x 8 lanes, NEON (vmulq then vaddq, no FMA); bit-exact with
   esdk_moe_xmatvec_f32_scalar. */
#include "xmatvec-neon.h"
#ifdef ESDK_MOE_NEON

static inline float32x4x2_t load8_f32(const uint8_t *p, int32_t i) {
  const float *w = (const float *)(const void *)p + i;
  float32x4x2_t f;
  f.val[0] = vld1q_f32(w);
  f.val[1] = vld1q_f32(w + 4);
  return f;
}
static inline float32x4x4_t load16_f32(const uint8_t *p, int32_t i) {
  return moe_f32x2x2_neon(load8_f32(p, i), load8_f32(p, i + 8));
}

void esdk_moe_xmatvec_f32_4x8_neon(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y,
                                   int32_t rows, int32_t cols) {
  MOE_XMATVEC_NEON_BODY(load8_f32, load16_f32, MOE_TAIL_F32)
}
#endif
