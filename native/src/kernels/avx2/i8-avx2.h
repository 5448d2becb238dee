/* Shared pieces of the int8 AVX2 kernels: requantization of 8 int32 lanes, bit-exact with
   runtime/fixedpoint.h, as in avx512/i8-vnni.h (one 64-bit rounding:
   floor((p + 2^30 + 2^(30+e) - [p < 0] 2^31) / 2^(31+e)) with p = acc * mult, e the right
   shift; e = 0 drops the last two terms). AVX2 has no 64-bit arithmetic shift: the sum is
   offset by 2^63 (folded into the rounding constant), shifted logically, and 2^(63 - 31 - e)
   subtracted, which is exact since 2^63 is a multiple of 2^(31+e). */
#ifndef ESDK_I8_AVX2_H
#define ESDK_I8_AVX2_H
#include "avx2.h"
#if defined(__x86_64__) || defined(_M_X64)

typedef struct {
  __m256i mult, left, maxs, mins, k64, corr64, sh64, off64, lo, hi, zy;
  int has_left; /* shift > 0: the saturating left shift is needed (rare: multipliers >= 1) */
} esdk_rq256;

static inline T256 void esdk_rq256_set_ch(esdk_rq256 *q, int32_t mult, int32_t shift) {
  int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  if (left > 31) left = 31; /* same guards as esdk_mbqm64; the loader bounds shifts anyway */
  if (right > 31) right = 31;
  q->has_left = left > 0;
  q->mult = _mm256_set1_epi32(mult);
  q->left = _mm256_set1_epi32(left);
  q->maxs = _mm256_set1_epi32(INT32_MAX >> left);
  q->mins = _mm256_set1_epi32(INT32_MIN >> left);
  q->k64 = _mm256_set1_epi64x((int64_t)((((uint64_t)1 << 30) + (right ? ((uint64_t)1 << (30 + right)) : 0)) +
                                          ((uint64_t)1 << 63)));
  q->corr64 = _mm256_set1_epi64x(right ? (int64_t)1 << 31 : 0);
  q->sh64 = _mm256_set1_epi64x(31 + right);
  q->off64 = _mm256_set1_epi64x((int64_t)1 << (32 - right)); /* 2^63 >> (31 + right) */
}

static inline T256 void esdk_rq256_set(esdk_rq256 *q, int32_t mult, int32_t shift, int32_t zy, int32_t qmin,
                                       int32_t qmax) {
  esdk_rq256_set_ch(q, mult, shift);
  q->lo = _mm256_set1_epi32(qmin - zy); /* clamp before adding zy: no overflow (int8-range values) */
  q->hi = _mm256_set1_epi32(qmax - zy);
  q->zy = _mm256_set1_epi32(zy);
}

/* MBQM(acc), 8 int32 lanes (no zero point, no clamp) */
static inline T256 __m256i esdk_rq256_mbqm(__m256i acc, const esdk_rq256 *q) {
  const __m256i z = _mm256_setzero_si256();
  __m256i v = acc, pe, po;
  if (q->has_left) {
    __m256i ov = _mm256_cmpgt_epi32(acc, q->maxs), un = _mm256_cmpgt_epi32(q->mins, acc);
    v = _mm256_sllv_epi32(acc, q->left);
    v = _mm256_blendv_epi8(v, _mm256_set1_epi32(INT32_MAX), ov); /* saturating acc << left */
    v = _mm256_blendv_epi8(v, _mm256_set1_epi32(INT32_MIN), un);
  }
  pe = _mm256_mul_epi32(v, q->mult);
  po = _mm256_mul_epi32(_mm256_srli_epi64(v, 32), q->mult);
  pe = _mm256_sub_epi64(_mm256_add_epi64(pe, q->k64), _mm256_and_si256(_mm256_cmpgt_epi64(z, pe), q->corr64));
  po = _mm256_sub_epi64(_mm256_add_epi64(po, q->k64), _mm256_and_si256(_mm256_cmpgt_epi64(z, po), q->corr64));
  pe = _mm256_sub_epi64(_mm256_srlv_epi64(pe, q->sh64), q->off64);
  po = _mm256_slli_epi64(_mm256_sub_epi64(_mm256_srlv_epi64(po, q->sh64), q->off64), 32);
  return _mm256_blend_epi32(pe, po, 0xAA);
}

/* MBQM(acc) + zy clamped to [qmin, qmax], 8 int32 lanes */
static inline T256 __m256i esdk_rq256_apply(__m256i acc, const esdk_rq256 *q) {
  __m256i v = esdk_rq256_mbqm(acc, q);
  v = _mm256_min_epi32(_mm256_max_epi32(v, q->lo), q->hi);
  return _mm256_add_epi32(v, q->zy);
}

/* the low byte of each of 8 int32 lanes (values already within int8) as 8 bytes */
static inline T256 __m128i esdk_i32x8_to_i8(__m256i v) {
  __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return _mm_packs_epi16(w, w);
}
/* a weight row widened to int16 (a zero past an odd K, completing the last pair) */
static inline T256 void esdk_widen_w(const int8_t *w, int64_t K, int16_t *o) {
  int64_t k;
  for (k = 0; k + 16 <= K; k += 16)
    _mm256_storeu_si256((__m256i *)(o + k), _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + k))));
  for (; k < K; k++) o[k] = w[k];
  if (K & 1) o[K] = 0;
}

T256 void esdk_gemm_i8_avx2_rows(const int16_t *xb, int64_t G, const int16_t *wb, int64_t Kp, int64_t m0, int64_t m1,
                                 int64_t wm0, const int32_t *b, const int32_t *mult, const int32_t *shift,
                                 int32_t qstride, esdk_rq256 *qp, int8_t *Y, int64_t ys, int64_t np);
#endif
#endif
