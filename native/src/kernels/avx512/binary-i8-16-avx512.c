/* int8 BINARY Add and Mul (TFLite integer arithmetic, binary-i8-scalar.c is the reference),
   16 elements per vector along the innermost dimension, whose operand strides must be 1 or 0
   (a broadcast value); the outer dimensions loop as in the scalar kernel. The MBQMs are
   esdk_rq512_mbqm, bit-exact with runtime/fixedpoint.h.

   Add sums two MBQMs in int32 where the scalar kernel sums in int64 and saturates: exact when
   the inputs' MBQMs cannot reach 2^30 in magnitude, i.e. (x - z) << left_shift with
   left_shift <= 22 (|x - z| <= 255) and input multipliers below 1 (shifts <= 0); other
   parameters decline (the scalar kernel runs). Residual Adds from TFLite-style quantization use
   left_shift 20 and input multipliers below 1. */
#include "i8-vnni.h"
#include "../binary-i8-simd.h"
#if defined(__x86_64__) || defined(_M_X64)

static inline T512 __m512i ld16(const int8_t *p, int64_t stride, __mmask16 mk) {
  return stride ? _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mk, p)) : _mm512_set1_epi32(p[0]);
}

T512 int esdk_binary_i8_avx512(const esdk_binary_args *a, const int8_t *A, const int8_t *B, int8_t *Y) {
  int64_t i0, i1, i2, i3, i4, j, n = a->d[5];
  int add = a->kind == BIN_ADD;
  esdk_rq512 qa, qb, qo;
  __m512i za = _mm512_set1_epi32(a->za), zb = _mm512_set1_epi32(a->zb), ls = _mm512_set1_epi32(a->left_shift);
  if (!esdk_binary_i8_simd_ok(a)) return 0;
  esdk_rq512_set(&qo, a->out_mult, a->out_shift, a->zy, a->qmin, a->qmax);
  esdk_rq512_set(&qa, a->a_mult, a->a_shift, 0, -128, 127);
  esdk_rq512_set(&qb, a->b_mult, a->b_shift, 0, -128, 127);
  for (i0 = 0; i0 < a->d[0]; i0++)
    for (i1 = 0; i1 < a->d[1]; i1++)
      for (i2 = 0; i2 < a->d[2]; i2++)
        for (i3 = 0; i3 < a->d[3]; i3++)
          for (i4 = 0; i4 < a->d[4]; i4++) {
            const int8_t *pa = A + i0 * a->sa[0] + i1 * a->sa[1] + i2 * a->sa[2] + i3 * a->sa[3] + i4 * a->sa[4];
            const int8_t *pb = B + i0 * a->sb[0] + i1 * a->sb[1] + i2 * a->sb[2] + i3 * a->sb[3] + i4 * a->sb[4];
            for (j = 0; j < n; j += 16) {
              __mmask16 mk = esdk_mask16(n - j);
              __m512i x = _mm512_sub_epi32(ld16(pa + j * a->sa[5], a->sa[5], mk), za);
              __m512i z = _mm512_sub_epi32(ld16(pb + j * a->sb[5], a->sb[5], mk), zb), s;
              if (add)
                s = _mm512_add_epi32(esdk_rq512_mbqm(_mm512_sllv_epi32(x, ls), &qa),
                                     esdk_rq512_mbqm(_mm512_sllv_epi32(z, ls), &qb));
              else
                s = _mm512_mullo_epi32(x, z);
              esdk_rq512_store(s, &qo, Y + j, mk);
            }
            Y += n;
          }
  return 1;
}
#endif
