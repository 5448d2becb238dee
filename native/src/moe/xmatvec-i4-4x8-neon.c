/* int4 expert matvec, 4 rows x 8 lanes, NEON: the 4 bytes of elements i..i+7 split into low
   and high nibbles, interleaved (zip: low of byte j is element 2j, high is 2j+1), minus 8,
   then as int8; bit-exact with esdk_moe_xmatvec_i4_scalar. */
#include <string.h>
#include "xmatvec-neon.h"
#ifdef ESDK_MOE_NEON

static inline float32x4x2_t load8_i4(const uint8_t *p, int32_t i) {
  uint32_t w;
  memcpy(&w, p + (i >> 1), 4);
  uint8x8_t b = vreinterpret_u8_u32(vdup_n_u32(w));
  uint8x8_t e = vzip1_u8(vand_u8(b, vdup_n_u8(15)), vshr_n_u8(b, 4));
  return moe_i8x8_to_f32_neon(vsub_s8(vreinterpret_s8_u8(e), vdup_n_s8(8)));
}

void esdk_moe_xmatvec_i4_4x8_neon(const uint8_t *q, size_t rb, const float *sc, const float *x, float *y,
                                  int32_t rows, int32_t cols) {
  MOE_XMATVEC_NEON_BODY(load8_i4, MOE_TAIL_I4)
}
#endif
