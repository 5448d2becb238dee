/* QUANTIZE float32 -> int8 and DEQUANTIZE int8 -> float32, 8 lanes, AVX2. Bit-exact with
   quant-scalar.c (same IEEE operations in the same order: true division by scale, floor of
   |v| + 0.5f, sign restored, + (float)zp, NaN -> 0, clamp to [-128, 127]); see
   avx512/quantize-f32-16-avx512.c. Tails (< 8 elements) run the scalar expression. */
#include "avx2.h"
#if defined(__x86_64__) || defined(_M_X64)
#include "../../runtime/fixedpoint.h"

/* 8 quantized values as int32 lanes (already in [-128, 127]) */
static inline T256 __m256i quant8(__m256 x, __m256 s, __m256 zp) {
  const __m256 half = _mm256_set1_ps(0.5f), lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 v = _mm256_div_ps(x, s);
  __m256 r = _mm256_floor_ps(_mm256_add_ps(_mm256_andnot_ps(sign, v), half));
  __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ), q, ok;
  r = _mm256_blendv_ps(r, _mm256_sub_ps(_mm256_setzero_ps(), r), neg);
  q = _mm256_add_ps(r, zp);
  ok = _mm256_cmp_ps(q, q, _CMP_ORD_Q);
  q = _mm256_min_ps(_mm256_max_ps(q, lo), hi);
  return _mm256_and_si256(_mm256_cvttps_epi32(q), _mm256_castps_si256(ok));
}

T256 void esdk_quantize_f32_avx2(const float *x, int8_t *y, int64_t n, float scale, int32_t zp) {
  const __m256 s = _mm256_set1_ps(scale), z = _mm256_set1_ps((float)zp);
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i a = quant8(_mm256_loadu_ps(x + i), s, z), b = quant8(_mm256_loadu_ps(x + i + 8), s, z);
    __m256i c = quant8(_mm256_loadu_ps(x + i + 16), s, z), d = quant8(_mm256_loadu_ps(x + i + 24), s, z);
    __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d); /* lanes interleaved by 128 */
    __m256i r = _mm256_packs_epi16(ab, cd);
    r = _mm256_permutevar8x32_epi32(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)(y + i), r);
  }
  for (; i < n; i++) y[i] = esdk_quantize_f32(x[i], scale, zp);
}

T256 void esdk_dequantize_i8_avx2(const int8_t *x, float *y, int64_t n, float scale, int32_t zp) {
  const __m256 s = _mm256_set1_ps(scale);
  const __m256i z = _mm256_set1_epi32(zp);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i v = _mm256_sub_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x + i))), z);
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_cvtepi32_ps(v), s));
  }
  for (; i < n; i++) y[i] = (float)(x[i] - zp) * scale;
}
#endif
