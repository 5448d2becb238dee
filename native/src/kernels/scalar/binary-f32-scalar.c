/* numpy-broadcast elementwise ops over a rank-6 view; the innermost loop carries the strides. */
#include <math.h>
#include "../kernels.h"
#include "../../runtime/fixedpoint.h"
#include "../../runtime/opcodes.h"

static float apply(int kind, float p, float q) {
  switch (kind) {
    case BIN_ADD: return p + q;
    case BIN_SUB: return p - q;
    case BIN_MUL: return p * q;
    case BIN_DIV: return p / q;
    case BIN_POW: return powf(p, q);
    case BIN_MAX: return p > q || p != p ? p : q;
    case BIN_MIN: return p < q || p != p ? p : q;
    default: return p < 0 ? p * q : p; /* PRelu */
  }
}

void esdk_binary_f32_scalar(const esdk_binary_args *a, const float *A, const float *B, float *Y) {
  int64_t i0, i1, i2, i3, i4, i5;
  for (i0 = 0; i0 < a->d[0]; i0++)
    for (i1 = 0; i1 < a->d[1]; i1++)
      for (i2 = 0; i2 < a->d[2]; i2++)
        for (i3 = 0; i3 < a->d[3]; i3++)
          for (i4 = 0; i4 < a->d[4]; i4++) {
            const float *pa = A + i0 * a->sa[0] + i1 * a->sa[1] + i2 * a->sa[2] + i3 * a->sa[3] + i4 * a->sa[4];
            const float *pb = B + i0 * a->sb[0] + i1 * a->sb[1] + i2 * a->sb[2] + i3 * a->sb[3] + i4 * a->sb[4];
            for (i5 = 0; i5 < a->d[5]; i5++)
              *Y++ = esdk_clampf(apply(a->kind, pa[i5 * a->sa[5]], pb[i5 * a->sb[5]]), a->lo, a->hi);
          }
}
