/* Shared body of the NEON expert matvec kernels (aarch64, where Advanced SIMD is baseline):
   4 rows at a time share each x load; a row's 8 lanes are two float32x4_t (lo = s[0..3],
   hi = s[4..7] of the scalar reference, xmatvec.h), vmulq then vaddq, never vfmaq. These
   files must be compiled with -ffp-contract=off (the aarch64 toolchain, native/CMakeLists.txt
   and the cross-build tests do): GCC's arm_neon.h spells vmulq_f32 / vaddq_f32 as plain vector
   `*` and `+`, which it would otherwise fuse into fmla. The column loop takes 16 elements a
   step (int8 / int4: one 16- / 8-byte load per row), then at most one step of 8, then the
   scalar tail (MOE_TAIL_*, xmatvec.h). */
#ifndef ESDK_MOE_XMATVEC_NEON_H
#define ESDK_MOE_XMATVEC_NEON_H
#include "xmatvec.h"
#ifdef ESDK_MOE_NEON
#include <arm_neon.h>

/* [t0, t1, t2, t3], t_r = ((s0+s1)+(s2+s3))+((s4+s5)+(s6+s7)) of row r: pairwise adds keep
   the scalar order (float addition is commutative bit for bit, so lane order within a pair
   does not matter). */
static inline float32x4_t moe_lanes8x4_neon(float32x4_t a0l, float32x4_t a0h, float32x4_t a1l, float32x4_t a1h,
                                            float32x4_t a2l, float32x4_t a2h, float32x4_t a3l, float32x4_t a3h) {
  float32x4_t q01 = vpaddq_f32(vpaddq_f32(a0l, a0h), vpaddq_f32(a1l, a1h));
  float32x4_t q23 = vpaddq_f32(vpaddq_f32(a2l, a2h), vpaddq_f32(a3l, a3h));
  return vpaddq_f32(q01, q23);
}

static inline float moe_lanes8_neon(float32x4_t lo, float32x4_t hi) {
  float32x4_t p = vpaddq_f32(lo, hi);                              /* 0+1, 2+3, 4+5, 6+7 */
  p = vpaddq_f32(p, p);                                            /* (0+1)+(2+3), (4+5)+(6+7), .. */
  return vgetq_lane_f32(p, 0) + vgetq_lane_f32(p, 1);
}

/* one row's accumulators += 8 (ACC8) or 16 (ACC16) elements: elements i..i+7 into lanes 0..7,
   then i+8..i+15 into lanes 0..7 again, in that order, as the scalar loop does */
#define MOE_NEON_ACC8(LOAD8, alo, ahi, p, i, x0, x1)                                                \
  do {                                                                                              \
    float32x4x2_t w_ = LOAD8(p, i);                                                                 \
    alo = vaddq_f32(alo, vmulq_f32(w_.val[0], x0));                                                 \
    ahi = vaddq_f32(ahi, vmulq_f32(w_.val[1], x1));                                                 \
  } while (0)
#define MOE_NEON_ACC16(LOAD16, alo, ahi, p, i, x0, x1, x2, x3)                                      \
  do {                                                                                              \
    float32x4x4_t w_ = LOAD16(p, i);                                                                \
    alo = vaddq_f32(alo, vmulq_f32(w_.val[0], x0));                                                 \
    ahi = vaddq_f32(ahi, vmulq_f32(w_.val[1], x1));                                                 \
    alo = vaddq_f32(alo, vmulq_f32(w_.val[2], x2));                                                 \
    ahi = vaddq_f32(ahi, vmulq_f32(w_.val[3], x3));                                                 \
  } while (0)

/* LOAD8(p, i) / LOAD16(p, i): the weights of elements i.. of row p as 2 / 4 float32x4_t */
#define MOE_XMATVEC_NEON_BODY(LOAD8, LOAD16, TAIL)                                                  \
  int32_t r = 0, c8 = cols & ~7;                                                                    \
  for (; r + 4 <= rows; r += 4) {                                                                   \
    const uint8_t *p0 = q + (size_t)r * rb, *p1 = p0 + rb, *p2 = p1 + rb, *p3 = p2 + rb;            \
    float32x4_t a0l = vdupq_n_f32(0.0f), a0h = a0l, a1l = a0l, a1h = a0l, a2l = a0l, a2h = a0l,     \
                a3l = a0l, a3h = a0l;                                                               \
    int32_t i = 0;                                                                                  \
    for (; i + 16 <= c8; i += 16) {                                                                 \
      float32x4_t x0 = vld1q_f32(x + i), x1 = vld1q_f32(x + i + 4), x2 = vld1q_f32(x + i + 8),      \
                  x3 = vld1q_f32(x + i + 12);                                                       \
      MOE_NEON_ACC16(LOAD16, a0l, a0h, p0, i, x0, x1, x2, x3);                                      \
      MOE_NEON_ACC16(LOAD16, a1l, a1h, p1, i, x0, x1, x2, x3);                                      \
      MOE_NEON_ACC16(LOAD16, a2l, a2h, p2, i, x0, x1, x2, x3);                                      \
      MOE_NEON_ACC16(LOAD16, a3l, a3h, p3, i, x0, x1, x2, x3);                                      \
    }                                                                                               \
    if (i < c8) {                                                                                   \
      float32x4_t x0 = vld1q_f32(x + i), x1 = vld1q_f32(x + i + 4);                                 \
      MOE_NEON_ACC8(LOAD8, a0l, a0h, p0, i, x0, x1);                                                \
      MOE_NEON_ACC8(LOAD8, a1l, a1h, p1, i, x0, x1);                                                \
      MOE_NEON_ACC8(LOAD8, a2l, a2h, p2, i, x0, x1);                                                \
      MOE_NEON_ACC8(LOAD8, a3l, a3h, p3, i, x0, x1);                                                \
    }                                                                                               \
    float32x4_t t = moe_lanes8x4_neon(a0l, a0h, a1l, a1h, a2l, a2h, a3l, a3h);                      \
    if (c8 == cols) {                                                                               \
      vst1q_f32(y + r, vmulq_f32(vld1q_f32(sc + r), t));                                            \
    } else {                                                                                        \
      float t0 = vgetq_lane_f32(t, 0), t1 = vgetq_lane_f32(t, 1), t2 = vgetq_lane_f32(t, 2),        \
            t3 = vgetq_lane_f32(t, 3);                                                              \
      TAIL(t0, p0); TAIL(t1, p1); TAIL(t2, p2); TAIL(t3, p3);                                       \
      y[r] = sc[r] * t0; y[r + 1] = sc[r + 1] * t1; y[r + 2] = sc[r + 2] * t2;                      \
      y[r + 3] = sc[r + 3] * t3;                                                                    \
    }                                                                                               \
  }                                                                                                 \
  for (; r < rows; r++) {                                                                           \
    const uint8_t *p0 = q + (size_t)r * rb;                                                         \
    float32x4_t a0l = vdupq_n_f32(0.0f), a0h = a0l;                                                 \
    int32_t i = 0;                                                                                  \
    for (; i + 16 <= c8; i += 16)                                                                   \
      MOE_NEON_ACC16(LOAD16, a0l, a0h, p0, i, vld1q_f32(x + i), vld1q_f32(x + i + 4),               \
                     vld1q_f32(x + i + 8), vld1q_f32(x + i + 12));                                  \
    if (i < c8) MOE_NEON_ACC8(LOAD8, a0l, a0h, p0, i, vld1q_f32(x + i), vld1q_f32(x + i + 4));      \
    float t0 = moe_lanes8_neon(a0l, a0h);                                                           \
    TAIL(t0, p0);                                                                                   \
    y[r] = sc[r] * t0;                                                                              \
  }

/* 8 int16 weights -> two float32x4_t (sign-extended, converted exactly) */
static inline float32x4x2_t moe_s16x8_to_f32_neon(int16x8_t w) {
  float32x4x2_t f;
  f.val[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(w)));
  f.val[1] = vcvtq_f32_s32(vmovl_high_s16(w));
  return f;
}

static inline float32x4x4_t moe_f32x2x2_neon(float32x4x2_t a, float32x4x2_t b) {
  float32x4x4_t f;
  f.val[0] = a.val[0];
  f.val[1] = a.val[1];
  f.val[2] = b.val[0];
  f.val[3] = b.val[1];
  return f;
}
#endif
#endif
