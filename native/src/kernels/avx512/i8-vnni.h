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
  __m512i mult, left, maxs, mins, k64, corr64, sh64, lo, hi, zy;
  __m512i sh64o; /* e - 1: the odd lanes' shift, which leaves their result in the high dword */
  __m512i zy16, lo8, hi8; /* for esdk_rq512_pack4: zy as int16 lanes, qmin / qmax as int8 lanes */
  int has_left; /* shift > 0: the saturating left shift is needed (rare: multipliers >= 1) */
  int general;  /* has_left or e = 0: the permute form of esdk_rq512_mbqm (see there) */
  int nosign;   /* qmin == zy (fused ReLU / ReLU6): the [p < 0] term can be left out (see there) */
} esdk_rq512;

/* the output channel's multiplier and shift (the rest of q stays as esdk_rq512_set left it) */
static inline T512 void esdk_rq512_set_ch(esdk_rq512 *q, int32_t mult, int32_t shift) {
  int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  if (left > 31) left = 31; /* same guards as esdk_mbqm64; the loader bounds shifts anyway */
  if (right > 31) right = 31;
  q->has_left = left > 0;
  q->mult = _mm512_set1_epi32(mult);
  if (left) {
    q->left = _mm512_set1_epi32(left);
    q->maxs = _mm512_set1_epi32(INT32_MAX >> left);
    q->mins = _mm512_set1_epi32(INT32_MIN >> left);
  }
  /* see esdk_rq512_mbqm */
  q->k64 = _mm512_set1_epi64(((int64_t)1 << 30) + (right ? ((int64_t)1 << (30 + right)) : 0));
  q->corr64 = _mm512_set1_epi64(right ? (int64_t)1 << 31 : 0);
  q->sh64 = _mm512_set1_epi64(31 + right);
  q->sh64o = _mm512_set1_epi64(right ? right - 1 : 0);
  q->general = left > 0 || right == 0;
}

static inline T512 void esdk_rq512_set(esdk_rq512 *q, int32_t mult, int32_t shift, int32_t zy, int32_t qmin,
                                       int32_t qmax) {
  q->left = q->maxs = q->mins = _mm512_setzero_si512(); /* read only when has_left */
  q->nosign = qmin == zy;
  esdk_rq512_set_ch(q, mult, shift);
  /* clamp before adding zy: zy, qmin, qmax are all within int8 range (loader), no overflow */
  q->lo = _mm512_set1_epi32(qmin - zy);
  q->hi = _mm512_set1_epi32(qmax - zy);
  q->zy = _mm512_set1_epi32(zy);
  q->zy16 = _mm512_set1_epi16((int16_t)zy);
  q->lo8 = _mm512_set1_epi8((int8_t)qmin);
  q->hi8 = _mm512_set1_epi8((int8_t)qmax);
}

/* MBQM(acc) (runtime/fixedpoint.h, no zero point, no clamp), 16 int32 lanes, in one rounding.
   With p = v * mult (64-bit, v = acc or its saturated left shift) and e the right shift:
   SRDHM is floor((p + 2^30) / 2^31) for every p (the only saturating case, a == b == INT32_MIN,
   cannot occur: the loader requires mult >= 0), and RDBPOT(r, e >= 1) is
   floor((r + 2^(e-1) - [r < 0]) / 2^e). Nested floors compose, so
   MBQM = floor((p + 2^30 + 2^(30+e) - [p < 0] * 2^31) / 2^(31+e)) for e >= 1 and
   floor((p + 2^30) / 2^31) for e = 0. [r < 0] is [p < -2^30]; using [p < 0] instead only
   differs for -2^30 <= p < 0, where both give 0 (the numerator stays in [0, 2^(31+e))).
   Checked exhaustively on ties and random values against fixedpoint.py; the kernel tests
   compare bit for bit. The 64-bit products come from VPMULDQ on the even and (shifted) odd
   lanes; each result fits in 32 bits and VPERMT2D gathers the low dwords. */
static inline T512 __m512i esdk_rq512_mbqm(__m512i acc, const esdk_rq512 *q) {
  const __m512i z = _mm512_setzero_si512();
  const __m512i idx = _mm512_set_epi32(30, 14, 28, 12, 26, 10, 24, 8, 22, 6, 20, 4, 18, 2, 16, 0);
  __m512i v = acc, pe, po;
  if (!q->general) {
    /* e >= 1, no left shift (every MobileNet layer): the same rounding with cheaper operations
       (measured ~1.4x faster alone on Zen 4). The odd lanes are sign-extended by one arithmetic
       shift; [p < 0] * 2^31 is (v & 2^31) on the qword whose low dword is v (mult >= 0, so p and
       v have the same sign, and p = 0 needs no correction); the odd lanes shift by e - 1 only, which
       puts floor(X / 2^(31+e)) in their high dword (nested floors), so one blend gathers. */
    const __m512i s31 = _mm512_set1_epi64((int64_t)1 << 31);
    __m512i vo = _mm512_srai_epi64(acc, 32);
    if (q->nosign) {
      /* Fused ReLU (qmin == zy): for p < 0 both forms, with and without the [p < 0] term, give
         a result <= 0 (e >= 1: the numerator stays below 2^(31+e)), and clamp(zy + r) with
         r <= 0 is qmin for both; for p >= 0 the term is 0. So the term is dropped: 8
         instructions per 16 outputs instead of 12, same bytes after the clamp. Only for
         callers that clamp (esdk_rq512_apply, esdk_rq512_pack4): set with qmin == zy. */
      pe = _mm512_add_epi64(_mm512_mul_epi32(acc, q->mult), q->k64);
      po = _mm512_add_epi64(_mm512_mul_epi32(vo, q->mult), q->k64);
      return _mm512_mask_blend_epi32(0xAAAA, _mm512_srav_epi64(pe, q->sh64), _mm512_srav_epi64(po, q->sh64o));
    }
    pe = _mm512_sub_epi64(_mm512_add_epi64(_mm512_mul_epi32(acc, q->mult), q->k64), _mm512_and_si512(acc, s31));
    po = _mm512_sub_epi64(_mm512_add_epi64(_mm512_mul_epi32(vo, q->mult), q->k64), _mm512_and_si512(vo, s31));
    return _mm512_mask_blend_epi32(0xAAAA, _mm512_srav_epi64(pe, q->sh64), _mm512_srav_epi64(po, q->sh64o));
  }
  if (q->has_left) {
    __mmask16 ov = _mm512_cmpgt_epi32_mask(acc, q->maxs), un = _mm512_cmplt_epi32_mask(acc, q->mins);
    v = _mm512_sllv_epi32(acc, q->left);
    v = _mm512_mask_mov_epi32(v, ov, _mm512_set1_epi32(INT32_MAX)); /* saturating acc << left */
    v = _mm512_mask_mov_epi32(v, un, _mm512_set1_epi32(INT32_MIN));
  }
  /* q->mult is a broadcast dword, so it is also the odd lanes' multiplier in place */
  pe = _mm512_mul_epi32(v, q->mult);
  po = _mm512_mul_epi32(_mm512_srli_epi64(v, 32), q->mult);
  pe = _mm512_mask_sub_epi64(_mm512_add_epi64(pe, q->k64), _mm512_cmplt_epi64_mask(pe, z), _mm512_add_epi64(pe, q->k64),
                             q->corr64);
  po = _mm512_mask_sub_epi64(_mm512_add_epi64(po, q->k64), _mm512_cmplt_epi64_mask(po, z), _mm512_add_epi64(po, q->k64),
                             q->corr64);
  return _mm512_permutex2var_epi32(_mm512_srav_epi64(pe, q->sh64), idx, _mm512_srav_epi64(po, q->sh64));
}

/* MBQM(acc) + zy clamped to [qmin, qmax], 16 int32 lanes. */
static inline T512 __m512i esdk_rq512_apply(__m512i acc, const esdk_rq512 *q) {
  __m512i v = esdk_rq512_mbqm(acc, q);
  v = _mm512_min_epi32(_mm512_max_epi32(v, q->lo), q->hi);
  return _mm512_add_epi32(v, q->zy);
}

static inline T512 void esdk_rq512_store(__m512i acc, const esdk_rq512 *q, int8_t *dst, __mmask16 mk) {
  _mm_mask_storeu_epi8(dst, mk, _mm512_cvtepi32_epi8(esdk_rq512_apply(acc, q)));
}

/* esdk_rq512_apply on 4 int32 lanes (tails of a pixel tile), same arithmetic */
static inline T512 __m128i esdk_rq128_apply(__m128i acc, const esdk_rq512 *q) {
  const __m128i z = _mm_setzero_si128(), idx = _mm_set_epi32(6, 2, 4, 0);
  const __m128i mult = _mm512_castsi512_si128(q->mult), k64 = _mm512_castsi512_si128(q->k64);
  const __m128i corr = _mm512_castsi512_si128(q->corr64), sh = _mm512_castsi512_si128(q->sh64);
  __m128i v = acc, pe, po;
  if (!q->general) { /* as in esdk_rq512_mbqm */
    const __m128i s31 = _mm_set1_epi64x((int64_t)1 << 31), vo = _mm_srai_epi64(acc, 32);
    pe = _mm_add_epi64(_mm_mul_epi32(acc, mult), k64);
    po = _mm_add_epi64(_mm_mul_epi32(vo, mult), k64);
    if (!q->nosign) {
      pe = _mm_sub_epi64(pe, _mm_and_si128(acc, s31));
      po = _mm_sub_epi64(po, _mm_and_si128(vo, s31));
    }
    v = _mm_mask_blend_epi32(0xA, _mm_srav_epi64(pe, sh), _mm_srav_epi64(po, _mm512_castsi512_si128(q->sh64o)));
    v = _mm_min_epi32(_mm_max_epi32(v, _mm512_castsi512_si128(q->lo)), _mm512_castsi512_si128(q->hi));
    return _mm_add_epi32(v, _mm512_castsi512_si128(q->zy));
  }
  if (q->has_left) {
    __mmask8 ov = _mm_cmpgt_epi32_mask(acc, _mm512_castsi512_si128(q->maxs));
    __mmask8 un = _mm_cmplt_epi32_mask(acc, _mm512_castsi512_si128(q->mins));
    v = _mm_sllv_epi32(acc, _mm512_castsi512_si128(q->left));
    v = _mm_mask_mov_epi32(v, ov, _mm_set1_epi32(INT32_MAX));
    v = _mm_mask_mov_epi32(v, un, _mm_set1_epi32(INT32_MIN));
  }
  pe = _mm_mul_epi32(v, mult);
  po = _mm_mul_epi32(_mm_srli_epi64(v, 32), mult);
  pe = _mm_mask_sub_epi64(_mm_add_epi64(pe, k64), _mm_cmplt_epi64_mask(pe, z), _mm_add_epi64(pe, k64), corr);
  po = _mm_mask_sub_epi64(_mm_add_epi64(po, k64), _mm_cmplt_epi64_mask(po, z), _mm_add_epi64(po, k64), corr);
  v = _mm_permutex2var_epi32(_mm_srav_epi64(pe, sh), idx, _mm_srav_epi64(po, sh));
  v = _mm_min_epi32(_mm_max_epi32(v, _mm512_castsi512_si128(q->lo)), _mm512_castsi512_si128(q->hi));
  return _mm_add_epi32(v, _mm512_castsi512_si128(q->zy));
}

/* Requantize 4 accumulator vectors into 64 int8 bytes, lane-interleaved as the saturating packs
   leave them: 128-bit lane L holds dwords 4L..4L+3 of a, then of b, c, d (4 bytes each). The
   caller reorders with one shuffle. Saturating to int16, adding zy with int16 saturation, then
   to int8 and clamping to [qmin, qmax] equals clamp(MBQM + zy): a value saturated at +-32767
   stays beyond every int8 bound after adding |zy| <= 128. */
static inline T512 __m512i esdk_rq512_pack4(__m512i a, __m512i b, __m512i c, __m512i d, const esdk_rq512 *q) {
  __m512i ab = _mm512_adds_epi16(_mm512_packs_epi32(esdk_rq512_mbqm(a, q), esdk_rq512_mbqm(b, q)), q->zy16);
  __m512i cd = _mm512_adds_epi16(_mm512_packs_epi32(esdk_rq512_mbqm(c, q), esdk_rq512_mbqm(d, q)), q->zy16);
  __m512i r = _mm512_packs_epi16(ab, cd);
  return _mm512_min_epi8(_mm512_max_epi8(r, q->lo8), q->hi8);
}

/* pack4 of 4 vectors holding 64 consecutive outputs (a = 0..15, b = 16..31, ...), in order */
static inline T512 __m512i esdk_rq512_pack4_seq(__m512i a, __m512i b, __m512i c, __m512i d, const esdk_rq512 *q) {
  const __m512i idx = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
  return _mm512_permutexvar_epi32(idx, esdk_rq512_pack4(a, b, c, d, q));
}

/* Pack n <= 16*nv pixels of K rows of X (row stride xs, int8) into the VPDPBUSD layout
   buf[g][p][4] = u8(x[4g + i][p]) + 128 for g < ceil(K/4), p < 16*nv (group stride 64*nv).
   Rows past K pack as u8 0 so they contribute nothing whatever the weight byte. */
static inline T512 void esdk_pack_vnni(const int8_t *X, int64_t xs, int64_t K, int64_t n, int nv, uint8_t *buf) {
  const __m128i m128 = _mm_set1_epi8(-128);
  const __m512i m512 = _mm512_set1_epi8(-128);
  int64_t g, G = (K + 3) / 4, gs = 64 * nv;
  int q;
  for (g = 0; g < G; g++) {
    uint8_t *o = buf + g * gs;
    /* 64 pixels at a time: in-lane byte / word interleaves leave the dwords of pixels
       16L + 4j .. 16L + 4j + 3 in lane L of e[j]; a 4x4 transpose of 128-bit lanes puts
       pixels 16L .. 16L + 15 in out vector L */
    for (q = 0; q + 4 <= nv; q += 4) {
      int64_t left = n - 16 * q;
      __mmask64 mk = left >= 64 ? ~(__mmask64)0 : (left <= 0 ? 0 : (((__mmask64)1 << left) - 1));
      __m512i r[4], a, b, c, d, e0, e1, e2, e3, t0, t1, t2, t3;
      int i;
      for (i = 0; i < 4; i++) {
        int64_t k = 4 * g + i;
        r[i] = k < K ? _mm512_xor_si512(_mm512_mask_loadu_epi8(m512, mk, X + k * xs + 16 * q), m512)
                     : _mm512_setzero_si512();
      }
      a = _mm512_unpacklo_epi8(r[0], r[1]);
      b = _mm512_unpackhi_epi8(r[0], r[1]);
      c = _mm512_unpacklo_epi8(r[2], r[3]);
      d = _mm512_unpackhi_epi8(r[2], r[3]);
      e0 = _mm512_unpacklo_epi16(a, c);
      e1 = _mm512_unpackhi_epi16(a, c);
      e2 = _mm512_unpacklo_epi16(b, d);
      e3 = _mm512_unpackhi_epi16(b, d);
      t0 = _mm512_shuffle_i64x2(e0, e1, 0x44);
      t1 = _mm512_shuffle_i64x2(e0, e1, 0xEE);
      t2 = _mm512_shuffle_i64x2(e2, e3, 0x44);
      t3 = _mm512_shuffle_i64x2(e2, e3, 0xEE);
      _mm512_storeu_si512(o + 64 * q, _mm512_shuffle_i64x2(t0, t2, 0x88));
      _mm512_storeu_si512(o + 64 * q + 64, _mm512_shuffle_i64x2(t0, t2, 0xDD));
      _mm512_storeu_si512(o + 64 * q + 128, _mm512_shuffle_i64x2(t1, t3, 0x88));
      _mm512_storeu_si512(o + 64 * q + 192, _mm512_shuffle_i64x2(t1, t3, 0xDD));
    }
    for (; q < nv; q++) {
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
