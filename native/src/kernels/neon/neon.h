/* Shared bits of the aarch64 NEON kernels. Advanced SIMD is part of the armv8-a baseline, so
   these build with the default flags; the SDOT (dotprod) kernels carry a target attribute and
   cpu.c picks them only when HWCAP says the core has asimddp (Cortex-A76 and later), so one
   binary serves a Cortex-A72 (Pi 4) and a Cortex-A76 (Pi 5). Empty on other architectures. */
#ifndef ESDK_NEON_H
#define ESDK_NEON_H
#if defined(__aarch64__)
#include <arm_neon.h>
#include "../kernels.h"
#define TDOT __attribute__((target("arch=armv8.2-a+dotprod")))

static inline float32x4_t esdk_clampq(float32x4_t v, float32x4_t lo, float32x4_t hi) {
  return vminq_f32(vmaxq_f32(v, lo), hi);
}

int esdk_conv1x1_f32_neon(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
int esdk_dwconv3x3_f32_neon(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
int esdk_fc_f32_neon(const esdk_fc_args *a, const float *x, const float *w, const float *b, float *y);
int esdk_spmm_f32_neon(const esdk_spmm_args *a, const float *x, const float *v, const float *b, float *y);
int esdk_conv1x1_i8_neon(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_conv1x1_i8_dot_neon(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_fc_i8_neon(const esdk_fc_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_fc_i8_dot_neon(const esdk_fc_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_spmm_i8_neon(const esdk_spmm_args *a, const int8_t *x, const int8_t *v, const int32_t *b, int8_t *y);
int esdk_dwconv3x3_i8_neon(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
#endif
#endif
