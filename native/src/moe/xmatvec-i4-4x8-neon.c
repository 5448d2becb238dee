/* int4 expert matvec, 4 rows x 8 lanes, NEON: the bytes of elements i.. split into low and
   high nibbles, interleaved (zip: the low nibble of byte j is element 2j, the high one 2j+1),
   widened minus 8 in one usubl (n - 8 modulo 2^16 read as int16 is n - 8), then as int8;
   bit-exact with esdk_moe_xmatvec_i4_scalar. */
#include <string.h>
#include "xmatvec-neon.h"
#ifdef ESDK_MOE_NEON

static inline float32x4x2_t nibbles_to_f32(uint8x8_t e) {
  return moe_s16x8_to_f32_neon(vreinterpretq_s16_u16(vsubl_u8(e, vdup_n_u8(8))));
}
static inline float32x4x2_t load8_i4(const uint8_t *p, int32_t i) {
  uint32_t w;
  memcpy(&w, p + (i >> 1), 4);
  uint8x8_t b = vcreate_u8((uint64_t)w);
  return nibbles_to_f32(vzip1_u8(vand_u8(b, vdup_n_u8(15)), vshr_n_u8(b, 4)));
}
static inline float32x4x4_t load16_i4(const uint8_t *p, int32_t i) {
  uint8x8_t b = vld1_u8(p + (i >> 1));
  uint8x8_t lo = vand_u8(b, vdup_n_u8(15)), hi = vshr_n_u8(b, 4);
  return moe_f32x2x2_neon(nibbles_to_f32(vzip1_u8(lo, hi)), nibbles_to_f32(vzip2_u8(lo, hi)));
}

void esdk_moe_xmatvec_i4_4x8_neon(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y,
                                  int32_t rows, int32_t cols) {
  MOE_XMATVEC_NEON_BODY(load8_i4, load16_i4, MOE_TAIL_I4)
}
#endif
