/* int8 Add and Mul with TFLite's integer arithmetic (docs/format.md). */
#include "../kernels.h"
#include "../../runtime/fixedpoint.h"
#include "../../runtime/opcodes.h"

static int8_t apply(const esdk_binary_args *a, int32_t p, int32_t q) {
  int64_t r;
  if (a->kind == BIN_MUL) {
    r = esdk_mbqm((p - a->za) * (q - a->zb), a->out_mult, a->out_shift);
  } else {
    int64_t s = (int64_t)esdk_mbqm((p - a->za) * (1 << a->left_shift), a->a_mult, a->a_shift) +
                esdk_mbqm((q - a->zb) * (1 << a->left_shift), a->b_mult, a->b_shift);
    r = esdk_mbqm64(s, a->out_mult, a->out_shift);
  }
  r += a->zy;
  if (r < a->qmin) r = a->qmin;
  if (r > a->qmax) r = a->qmax;
  return (int8_t)r;
}

void esdk_binary_i8_scalar(const esdk_binary_args *a, const int8_t *A, const int8_t *B, int8_t *Y) {
  int64_t i0, i1, i2, i3, i4, i5;
  for (i0 = 0; i0 < a->d[0]; i0++)
    for (i1 = 0; i1 < a->d[1]; i1++)
      for (i2 = 0; i2 < a->d[2]; i2++)
        for (i3 = 0; i3 < a->d[3]; i3++)
          for (i4 = 0; i4 < a->d[4]; i4++) {
            const int8_t *pa = A + i0 * a->sa[0] + i1 * a->sa[1] + i2 * a->sa[2] + i3 * a->sa[3] + i4 * a->sa[4];
            const int8_t *pb = B + i0 * a->sb[0] + i1 * a->sb[1] + i2 * a->sb[2] + i3 * a->sb[3] + i4 * a->sb[4];
            for (i5 = 0; i5 < a->d[5]; i5++) *Y++ = apply(a, pa[i5 * a->sa[5]], pb[i5 * a->sb[5]]);
          }
}
