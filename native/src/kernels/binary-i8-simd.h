/* Which int8 BINARY ops the vector kernels (binary-i8-8-avx2.c, binary-i8-16-avx512.c) take;
   the others decline and the scalar reference runs them. Add and Mul only, with innermost
   operand strides of 1 or 0 (a broadcast value); Add only where summing the two MBQMs in int32
   is exact: (x - z) << left_shift with left_shift <= 22 and input multipliers below 1. */
#ifndef ESDK_BINARY_I8_SIMD_H
#define ESDK_BINARY_I8_SIMD_H
#include "kernels.h"
#include "../runtime/opcodes.h"

static inline int esdk_binary_i8_simd_ok(const esdk_binary_args *a) {
  if ((a->kind != BIN_ADD && a->kind != BIN_MUL) || (a->sa[5] != 0 && a->sa[5] != 1) ||
      (a->sb[5] != 0 && a->sb[5] != 1))
    return 0;
  return !(a->kind == BIN_ADD && (a->left_shift > 22 || a->a_shift > 0 || a->b_shift > 0));
}
#endif
