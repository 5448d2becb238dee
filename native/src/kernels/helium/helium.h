/* Shared helpers of the Helium (M-profile Vector Extension) kernels for the Cortex-M55.
   Compiled only with ESDK_ISA_MVE on a core with MVE; elsewhere these files are empty.
   Products are widened to int32 lanes (vldrbq_s32 + vmlaq_n_s32, or vmladavaq_s8 for dot
   products), so accumulation wraps exactly like the scalar reference; requantization is
   the scalar esdk_requant per output because vqrdmulh rounds negative ties differently
   from the TFLite reference (bit-exactness first). */
#ifndef ESDK_HELIUM_H
#define ESDK_HELIUM_H
#include "../kernels.h"
#if defined(ESDK_ISA_MVE) && defined(__ARM_FEATURE_MVE)
#define ESDK_HAVE_MVE 1
#include <arm_mve.h>
#include "../../runtime/fixedpoint.h"

static inline int32_t esdk_mve_wsum(const int8_t *w, int32_t n) {
  int32_t s = 0, i;
  for (i = 0; i < n; i++) s += w[i];
  return s;
}
/* b - zx * sum(w) with wraparound (the zero-point correction of every int8 kernel here) */
static inline int32_t esdk_mve_bias(int32_t b, int32_t zx, int32_t wsum) {
  return (int32_t)((uint32_t)b - (uint32_t)zx * (uint32_t)wsum);
}

int esdk_conv1x1_i8_4x4_helium(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_fc_i8_16_helium(const esdk_fc_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_dwconv_i8_4_helium(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_spmm_i8_16_helium(const esdk_spmm_args *a, const int8_t *x, const int8_t *v, const int32_t *b, int8_t *y);
#endif
#endif
