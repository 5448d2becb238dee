/* QUANTIZE float32 -> int8 and DEQUANTIZE int8 -> float32, 16 lanes, AVX-512. Bit-exact with
   quant-scalar.c / fixedpoint.h's esdk_quantize_f32: the same IEEE operations in the same
   order (x / scale as a true division, never a reciprocal multiply; floor(|v| + 0.5f) with the
   float add rounding like the scalar; sign copied back; + (float)zp; NaN -> 0, else clamp to
   [-128, 127], which also catches +-inf). Dequantize is (float)(x - zp) * scale, exact in
   both orders of conversion since x - zp fits 24 bits. Tails use masked loads/stores. */
#include "avx512.h"
#if defined(__x86_64__) || defined(_M_X64)

static inline T512 __m128i quant16(__m512 x, __m512 s, __m512 zp) {
  const __m512 half = _mm512_set1_ps(0.5f), lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f);
  const __m512i sign = _mm512_set1_epi32((int32_t)0x80000000u);
  __m512 v = _mm512_div_ps(x, s);
  __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(v)));
  __m512 r = _mm512_roundscale_ps(_mm512_add_ps(a, half), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  __m512 q;
  __mmask16 neg = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), nan;
  r = _mm512_mask_sub_ps(r, neg, _mm512_setzero_ps(), r); /* -r (the scalar's r = -r) */
  q = _mm512_add_ps(r, zp);
  nan = _mm512_cmp_ps_mask(q, q, _CMP_UNORD_Q);
  q = _mm512_min_ps(_mm512_max_ps(q, lo), hi);
  return _mm512_cvtepi32_epi8(_mm512_maskz_cvttps_epi32((__mmask16)~nan, q));
}

T512 void esdk_quantize_f32_avx512(const float *x, int8_t *y, int64_t n, float scale, int32_t zp) {
  const __m512 s = _mm512_set1_ps(scale), z = _mm512_set1_ps((float)zp);
  int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    _mm_storeu_si128((__m128i *)(y + i), quant16(_mm512_loadu_ps(x + i), s, z));
    _mm_storeu_si128((__m128i *)(y + i + 16), quant16(_mm512_loadu_ps(x + i + 16), s, z));
    _mm_storeu_si128((__m128i *)(y + i + 32), quant16(_mm512_loadu_ps(x + i + 32), s, z));
    _mm_storeu_si128((__m128i *)(y + i + 48), quant16(_mm512_loadu_ps(x + i + 48), s, z));
  }
  for (; i < n; i += 16) {
    __mmask16 mk = esdk_mask16(n - i);
    _mm_mask_storeu_epi8(y + i, mk, quant16(_mm512_maskz_loadu_ps(mk, x + i), s, z));
  }
}

T512 void esdk_dequantize_i8_avx512(const int8_t *x, float *y, int64_t n, float scale, int32_t zp) {
  const __m512 s = _mm512_set1_ps(scale);
  const __m512i z = _mm512_set1_epi32(zp);
  int64_t i;
  for (i = 0; i < n; i += 16) {
    __mmask16 mk = esdk_mask16(n - i);
    __m512i v = _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mk, x + i)), z);
    _mm512_mask_storeu_ps(y + i, mk, _mm512_mul_ps(_mm512_cvtepi32_ps(v), s));
  }
}
#endif
