/* Shared pieces of the int8 AVX-512 VNNI kernels: vectorised requantization (bit-exact with
   runtime/fixedpoint.h), the activation packing that VPDPBUSD needs, and the dense GEMM tile.

   Why the +128 trick: VPDPBUSD multiplies unsigned bytes by signed bytes, in groups of 4
   consecutive bytes per 32-bit lane. Activations are int8, so they are stored as u = x + 128
   (x ^ 0x80), and the kernels use sum((x - zx) * w) = sum(u * w) - (128 + zx) * sum(w): the
   per-output-channel correction is folded into the bias once per call ("corrected bias").
   All sums are exact modulo 2^32 (VPDPBUSD without the S suffix wraps), which is exactly the
   scalar kernels' uint32 accumulation, so results match bit for bit even on overflow. */
#ifndef ESDK_I8_VNNI_H
#define ESDK_I8_VNNI_H
#include "avx512.h"
#if defined(__x86_64__) || defined(_M_X64)

/* Broadcast requantization constants of one output channel. */
typedef struct {
  __m512i mult, left, maxs, mins, right, rmask, rhalf, lo, hi, zy;
  int has_left; /* shift > 0: the saturating left shift is needed (rare: multipliers >= 1) */
} esdk_rq512;

static inline T512 void esdk_rq512_set(esdk_rq512 *q, int32_t mult, int32_t shift, int32_t zy, int32_t qmin,
                                       int32_t qmax) {
  int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  if (left > 31) left = 31; /* same guards as esdk_mbqm64; the loader bounds shifts anyway */
  if (right > 31) right = 31;
  q->has_left = left > 0;
  q->mult = _mm512_set1_epi32(mult);
  q->left = _mm512_set1_epi32(left);
  q->maxs = _mm512_set1_epi32(INT32_MAX >> left);
  q->mins = _mm512_set1_epi32(INT32_MIN >> left);
  q->right = _mm512_set1_epi32(right);
  q->rmask = _mm512_set1_epi32((int32_t)(((int64_t)1 << right) - 1));
  q->rhalf = _mm512_set1_epi32((int32_t)((((int64_t)1 << right) - 1) >> 1));
  /* clamp before adding zy: zy, qmin, qmax are all within int8 range (loader), no overflow */
  q->lo = _mm512_set1_epi32(qmin - zy);
  q->hi = _mm512_set1_epi32(qmax - zy);
  q->zy = _mm512_set1_epi32(zy);
}

/* MBQM(acc) + zy clamped to [qmin, qmax], 16 int32 lanes.
   SRDHM: (a*b + nudge) / 2^31 with C division equals (a*b + 2^30) >> 31 (arithmetic) for every
   product: for ab < 0, trunc((ab + 1 - 2^30) / 2^31) = floor((ab + 1 - 2^30 + 2^31 - 1) / 2^31).
   The only saturating case a == b == INT32_MIN cannot occur: the loader requires mult >= 0.
   The 64-bit products come from VPMULDQ on the even and (shifted) odd lanes; the result fits
   in 32 bits, so a logical 64-bit shift gives the same low dword as an arithmetic one. */
static inline T512 __m512i esdk_rq512_apply(__m512i acc, const esdk_rq512 *q) {
  const __m512i nudge = _mm512_set1_epi64((int64_t)1 << 30);
  __m512i v = acc, pe, po, r, rem, thr;
  if (q->has_left) {
    __mmask16 ov = _mm512_cmpgt_epi32_mask(acc, q->maxs), un = _mm512_cmplt_epi32_mask(acc, q->mins);
    v = _mm512_sllv_epi32(acc, q->left);
    v = _mm512_mask_mov_epi32(v, ov, _mm512_set1_epi32(INT32_MAX)); /* saturating acc << left */
    v = _mm512_mask_mov_epi32(v, un, _mm512_set1_epi32(INT32_MIN));
  }
  /* q->mult is a broadcast dword, so it is also the odd lanes' multiplier in place */
  pe = _mm512_add_epi64(_mm512_mul_epi32(v, q->mult), nudge);
  po = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(v, 32), q->mult), nudge);
  r = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe, 31), _mm512_slli_epi64(po, 1));
  /* RDBPOT: (r >> e) + ((r & mask) > (mask >> 1) + (r < 0)) */
  rem = _mm512_and_si512(r, q->rmask);
  thr = _mm512_add_epi32(q->rhalf, _mm512_srli_epi32(r, 31));
  v = _mm512_srav_epi32(r, q->right);
  v = _mm512_mask_sub_epi32(v, _mm512_cmpgt_epi32_mask(rem, thr), v, _mm512_set1_epi32(-1));
  v = _mm512_min_epi32(_mm512_max_epi32(v, q->lo), q->hi);
  return _mm512_add_epi32(v, q->zy);
}

static inline T512 void esdk_rq512_store(__m512i acc, const esdk_rq512 *q, int8_t *dst, __mmask16 mk) {
  _mm_mask_storeu_epi8(dst, mk, _mm512_cvtepi32_epi8(esdk_rq512_apply(acc, q)));
}

/* Pack n <= 16*nv pixels of K rows of X (row stride xs, int8) into the VPDPBUSD layout
   buf[g][p][4] = u8(x[4g + i][p]) + 128 for g < ceil(K/4), p < 16*nv (group stride 64*nv).
   Rows past K pack as u8 0 so they contribute nothing whatever the weight byte. */
static inline T512 void esdk_pack_vnni(const int8_t *X, int64_t xs, int64_t K, int64_t n, int nv, uint8_t *buf) {
  const __m128i m128 = _mm_set1_epi8(-128);
  int64_t g, G = (K + 3) / 4, gs = 64 * nv;
  int q;
  for (g = 0; g < G; g++) {
    uint8_t *o = buf + g * gs;
    for (q = 0; q < nv; q++) {
      int64_t left = n - 16 * q;
      __mmask16 mk = left >= 16 ? (__mmask16)0xFFFF : (left <= 0 ? 0 : (__mmask16)((1u << left) - 1));
      __m128i r[4], a, b, c, d;
      int i;
      for (i = 0; i < 4; i++) {
        int64_t k = 4 * g + i;
        r[i] = k < K ? _mm_mask_loadu_epi8(m128, mk, X + k * xs + 16 * q) : m128;
      }
      a = _mm_unpacklo_epi8(r[0], r[1]);
      b = _mm_unpackhi_epi8(r[0], r[1]);
      c = _mm_unpacklo_epi8(r[2], r[3]);
      d = _mm_unpackhi_epi8(r[2], r[3]);
      _mm_storeu_si128((__m128i *)(o + 64 * q), _mm_xor_si128(_mm_unpacklo_epi16(a, c), m128));
      _mm_storeu_si128((__m128i *)(o + 64 * q + 16), _mm_xor_si128(_mm_unpackhi_epi16(a, c), m128));
      _mm_storeu_si128((__m128i *)(o + 64 * q + 32), _mm_xor_si128(_mm_unpacklo_epi16(b, d), m128));
      _mm_storeu_si128((__m128i *)(o + 64 * q + 48), _mm_xor_si128(_mm_unpackhi_epi16(b, d), m128));
    }
  }
}

/* sum of n int8 weights (wrapping int32, like the scalar accumulation) */
static inline T512 int32_t esdk_sum_i8_512(const int8_t *w, int64_t n) {
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i s = _mm512_setzero_si512();
  int64_t k;
  for (k = 0; k + 64 <= n; k += 64) s = _mm512_dpbusd_epi32(s, ones, _mm512_loadu_si512(w + k));
  if (k < n) s = _mm512_dpbusd_epi32(s, ones, _mm512_maskz_loadu_epi8(((__mmask64)-1) >> (64 - (n - k)), w + k));
  return _mm512_reduce_add_epi32(s);
}

/* Dense tile: Y[m][0..n) for m in [m0, m1) from the packed buffer (K values, nv vectors of 16
   pixels, ceil(K/4) groups), weights w[m][K] (row stride ws), corrected biases cb[m - m0]. */
void esdk_gemm_i8_vnni_tile(const uint8_t *buf, int nv, int64_t K, const int8_t *w, int64_t ws, int64_t m0,
                            int64_t m1, const int32_t *cb, const int32_t *mult, const int32_t *shift,
                            int32_t qstride, int32_t zy, int32_t qmin, int32_t qmax, int8_t *Y, int64_t ys,
                            int64_t n);
#endif
#endif
