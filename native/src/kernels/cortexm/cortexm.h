/* Shared helpers of the Cortex-M DSP-extension kernels (M4, M7, M33...). Compiled only for
   firmware built with ESDK_ISA_DSP on a core that has the extension; elsewhere every file
   of this directory is empty. The int8 kernels use the identity
     sum (x - zx) * w = sum x * w - zx * sum w   (mod 2^32)
   so the inner loops multiply raw int8 pairs with SMLAD and stay bit-exact with the scalar
   reference, whose int32 accumulation also wraps. */
#ifndef ESDK_CORTEXM_H
#define ESDK_CORTEXM_H
#include "../kernels.h"
#if defined(ESDK_ISA_DSP) && defined(__ARM_FEATURE_DSP)
#define ESDK_HAVE_DSP 1
#include <arm_acle.h>
#include <string.h>
#include "../../runtime/fixedpoint.h"

/* unaligned 4-byte load (LDR handles unaligned addresses on v7-M; memcpy says so to C) */
static inline int32_t esdk_ld32(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}
/* bytes b0..b3 of w -> 16-bit lanes (b0, b2) and (b1, b3) */
#define ESDK_SX_EVEN(w) __sxtb16(w)
#define ESDK_SX_ODD(w) __sxtb16((int32_t)(((uint32_t)(w) >> 8) | ((uint32_t)(w) << 24))) /* ROR #8 folds in */
/* (lo half of a, lo half of b) and (hi half of a, hi half of b): PKHBT / PKHTB */
#define ESDK_PK_LO(a, b) ((int32_t)(((uint32_t)(a)&0xFFFFu) | ((uint32_t)(b) << 16)))
#define ESDK_PK_HI(a, b) ((int32_t)(((uint32_t)(b)&0xFFFF0000u) | ((uint32_t)(a) >> 16)))
/* two int8 values as a 16-bit lane pair (v0 low) */
#define ESDK_PAIR(v0, v1) ((int32_t)(((uint32_t)(uint16_t)(int16_t)(v0)) | ((uint32_t)(int32_t)(v1) << 16)))

static inline int32_t esdk_wsum(const int8_t *w, int32_t n) {
  int32_t s = 0, i;
  for (i = 0; i < n; i++) s += w[i];
  return s;
}

int esdk_conv1x1_i8_2x4_dsp(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_fc_i8_2x4_dsp(const esdk_fc_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_dwconv_i8_2x1_dsp(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_spmm_i8_4_dsp(const esdk_spmm_args *a, const int8_t *x, const int8_t *v, const int32_t *b, int8_t *y);
#endif
#endif
