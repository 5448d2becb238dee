/* int8 BINARY Add and Mul with AVX2, 8 elements per vector along the innermost dimension
   (operand strides 1 or 0); binary-i8-16-avx512.c with 8 lanes, the same exactness conditions
   (Add: left_shift <= 22 and input multipliers below 1, else decline to the scalar kernel). */
#include "i8-avx2.h"
#include "../binary-i8-simd.h"
#if defined(__x86_64__) || defined(_M_X64)
#include <string.h>

static inline T256 __m256i ld8(const int8_t *p, int64_t stride, int64_t n) {
  int8_t t[16];
  if (!stride) return _mm256_set1_epi32(p[0]);
  if (n >= 8) return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p));
  memset(t, 0, sizeof t);
  memcpy(t, p, (size_t)n);
  return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)t));
}

T256 int esdk_binary_i8_avx2(const esdk_binary_args *a, const int8_t *A, const int8_t *B, int8_t *Y) {
  int64_t i0, i1, i2, i3, i4, j, n = a->d[5];
  int add = a->kind == BIN_ADD;
  esdk_rq256 qa, qb, qo;
  const __m256i za = _mm256_set1_epi32(a->za), zb = _mm256_set1_epi32(a->zb), ls = _mm256_set1_epi32(a->left_shift);
  if (!esdk_binary_i8_simd_ok(a)) return 0;
  esdk_rq256_set(&qo, a->out_mult, a->out_shift, a->zy, a->qmin, a->qmax);
  esdk_rq256_set(&qa, a->a_mult, a->a_shift, 0, -128, 127);
  esdk_rq256_set(&qb, a->b_mult, a->b_shift, 0, -128, 127);
  for (i0 = 0; i0 < a->d[0]; i0++)
    for (i1 = 0; i1 < a->d[1]; i1++)
      for (i2 = 0; i2 < a->d[2]; i2++)
        for (i3 = 0; i3 < a->d[3]; i3++)
          for (i4 = 0; i4 < a->d[4]; i4++) {
            const int8_t *pa = A + i0 * a->sa[0] + i1 * a->sa[1] + i2 * a->sa[2] + i3 * a->sa[3] + i4 * a->sa[4];
            const int8_t *pb = B + i0 * a->sb[0] + i1 * a->sb[1] + i2 * a->sb[2] + i3 * a->sb[3] + i4 * a->sb[4];
            for (j = 0; j < n; j += 8) {
              __m256i x = _mm256_sub_epi32(ld8(pa + j * a->sa[5], a->sa[5], n - j), za);
              __m256i z = _mm256_sub_epi32(ld8(pb + j * a->sb[5], a->sb[5], n - j), zb), s;
              __m128i o;
              if (add)
                s = _mm256_add_epi32(esdk_rq256_mbqm(_mm256_sllv_epi32(x, ls), &qa),
                                     esdk_rq256_mbqm(_mm256_sllv_epi32(z, ls), &qb));
              else
                s = _mm256_mullo_epi32(x, z);
              o = esdk_i32x8_to_i8(esdk_rq256_apply(s, &qo));
              if (n - j >= 8) {
                _mm_storel_epi64((__m128i *)(Y + j), o);
              } else {
                int8_t t[16];
                _mm_storeu_si128((__m128i *)t, o);
                memcpy(Y + j, t, (size_t)(n - j));
              }
            }
            Y += n;
          }
  return 1;
}
#endif
