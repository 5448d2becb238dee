/* int8 depthwise 3x3 conv (stride 1 or 2, any padding, dilation 1), NCHW, AVX-512 VNNI: 16
   output pixels of a row per zmm in int32, 2 taps per VPDPWSSD. Each input row is widened once
   into a zero-padded int16 line P (x - zx, so padding contributes exactly 0 as in the scalar
   kernel; |x - zx| <= 255 and |w| <= 128 fit int16 pairs, and VPDPWSSD wraps like the scalar
   uint32 sum). Stride 1 builds Q[j] = (P[j], P[j+1]) so lane ow sees taps (kw0, kw1) in one
   dword and kw2 from Q[ow + 2] against the weight pair (w2, 0). Stride 2 needs no shuffle at all:
   P read as dwords is (P[2i], P[2i+1]). Lines live in a ring of 3 on the stack. */
#include "i8-vnni.h"
#if defined(__x86_64__) || defined(_M_X64)

#define LMAX 4096

/* int16 padded line P[0..L) */
static T512 void build_p16(const int8_t *xr, int64_t W, int64_t pl, int64_t L, int32_t zx, int16_t *p) {
  const __m512i z = _mm512_set1_epi16((int16_t)zx);
  int64_t j;
  for (j = 0; j < L; j += 32) _mm512_storeu_si512(p + j, _mm512_setzero_si512());
  for (j = 0; j < W; j += 32) {
    int64_t left = W - j;
    __mmask32 mk = left >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << left) - 1);
    __m512i v = _mm512_sub_epi16(_mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mk, xr + j)), z);
    _mm512_mask_storeu_epi16(p + pl + j, mk, v);
  }
}

/* Q[j] = P[j] | P[j+1] << 16 for j < L - 16 (P must hold L + 16 values) */
static T512 void build_q(const int16_t *p, int64_t L, int32_t *q) {
  int64_t j;
  for (j = 0; j < L; j += 16) {
    __m512i lo = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p + j)));
    __m512i hi = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p + j + 1)));
    _mm512_storeu_si512(q + j, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
  }
}

/* Whole-plane variant (maps whose padded plane fits PMAX values): the zero-padded int16 plane
   of a channel (x - zx at padded row r = ih + pt, column iw + pl, row pitch Wp) is built once,
   and outputs are computed over the flat index f = oh * OWp + ow of a grid with OWp = Wp / s, so
   a vector covers several short rows and there is no per-row setup. Stride 1: tap (kh, kw) of
   output f is P[f + kh * Wp + kw], read through the pair plane Q as in the row kernel. Stride 2
   (Wp even): even and odd padded rows go to two planes E and O (row r at (r >> 1) * Wp), so
   taps are E[2f + kw], O[2f + kw], E[2f + Wp + kw], read as dwords. Lanes with ow >= OW are
   computed and dropped when rows are copied out of the int8 staging line. Small maps (14x14,
   7x7) then cost a few vectors per channel instead of a row setup + a mostly masked vector per
   output row. */
#define PMAX 8192
static T512 int dw_plane(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  int64_t s = a->sh, H = a->H, W = a->W, HW = H * W, OH = a->OH, OW = a->OW, OHW = OH * OW;
  int64_t Wp, OWp, F, Fp, Lp, Lh, n, m, i, f, oh;
  int16_t P[PMAX + 64] __attribute__((aligned(64)));
  int32_t Q[PMAX] __attribute__((aligned(64)));
  int8_t tb[PMAX] __attribute__((aligned(64)));
  const __m512i z0 = _mm512_setzero_si512();
  Wp = a->pl + W;
  if (Wp < (OW - 1) * s + 3) Wp = (OW - 1) * s + 3;
  if (s == 2) Wp += Wp & 1;
  OWp = Wp / s;
  F = OH * OWp;
  Fp = (F + 15) / 16 * 16;
  if (s == 1) {
    /* Q read up to f + 2*Wp + 2 + 15 (f < Fp), built for j < Lp - 32 from P[j + 1 + 15] */
    Lh = Lp = (Fp + 2 * Wp + 48 + 31) / 32 * 32;
    if ((a->pt + H) * Wp > Lp - 32) return 0;
  } else {
    /* E read as dwords up to f + Wp/2 + 1 + 15: int16 index 2*Fp + Wp + 2 */
    Lh = (2 * Fp + Wp + 48 + 31) / 32 * 32;
    Lp = 2 * Lh;
    if ((a->pt + H + 1) / 2 * Wp > Lh) return 0;
  }
  if (Lp > PMAX || Fp > PMAX) return 0;
  for (n = 0; n < a->N; n++)
    for (m = a->m0; m < a->m1; m++) {
      const int8_t *xm = x + (n * a->C + m) * HW;
      int8_t *ym = y + (n * a->M + m) * OHW;
      const int8_t *wm = w + m * 9;
      const __m512i zx = _mm512_set1_epi16((int16_t)a->zx);
      __m512i w01[3], w2[3];
      const int32_t *rb[3];
      esdk_rq512 q;
      __m512i bias = _mm512_set1_epi32(b ? b[m] : 0);
      for (i = 0; i < 3; i++) {
        w01[i] = _mm512_set1_epi32((int32_t)(((uint32_t)(uint16_t)wm[3 * i]) | ((uint32_t)(uint16_t)wm[3 * i + 1] << 16)));
        w2[i] = _mm512_set1_epi32((int32_t)(uint16_t)wm[3 * i + 2]);
      }
      esdk_rq512_set(&q, a->mult[m * a->qstride], a->shift[m * a->qstride], a->zy, a->qmin, a->qmax);
      for (i = 0; i < Lp; i += 32) _mm512_store_si512(P + i, z0);
      for (i = 0; i < H; i++) {
        const int8_t *xr = xm + i * W;
        int64_t r = i + a->pt, j;
        int16_t *pr = s == 1 ? P + r * Wp + a->pl : P + (r & 1) * Lh + (r >> 1) * Wp + a->pl;
        for (j = 0; j < W; j += 32) {
          int64_t left = W - j;
          __mmask32 mk = left >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << left) - 1);
          _mm512_mask_storeu_epi16(pr + j, mk, _mm512_sub_epi16(_mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mk, xr + j)), zx));
        }
      }
      if (s == 1) {
        build_q(P, Lp - 32, Q);
        rb[0] = Q;
        rb[1] = Q + Wp;
        rb[2] = Q + 2 * Wp;
      } else {
        rb[0] = (const int32_t *)P;
        rb[1] = (const int32_t *)(P + Lh);
        rb[2] = (const int32_t *)P + Wp / 2;
      }
      for (f = 0; f < Fp; f += 16) {
        __m512i acc = bias;
        int kh;
        for (kh = 0; kh < 3; kh++) {
          acc = _mm512_dpwssd_epi32(acc, _mm512_loadu_si512(rb[kh] + f), w01[kh]);
          /* kw2: s1 Q[f + 2] = (P[f + 2], .); s2 P32[f + 1] = (P[2f + 2], .) */
          acc = _mm512_dpwssd_epi32(acc, _mm512_loadu_si512(rb[kh] + f + 3 - s), w2[kh]);
        }
        _mm_store_si128((__m128i *)(tb + f), _mm512_cvtepi32_epi8(esdk_rq512_apply(acc, &q)));
      }
      for (oh = 0; oh < OH; oh++) {
        const int8_t *src = tb + oh * OWp;
        int8_t *dst = ym + oh * OW;
        int64_t j;
        for (j = 0; j < OW; j += 64) {
          int64_t left = OW - j;
          __mmask64 mk = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
          _mm512_mask_storeu_epi8(dst + j, mk, _mm512_maskz_loadu_epi8(mk, src + j));
        }
      }
    }
  return 1;
}

T512 int esdk_dwconv3x3_i8_avx512(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b,
                                  int8_t *y) {
  int64_t s = a->sh, n, m, oh, ow, L, H = a->H, W = a->W, HW = H * W, OHW = (int64_t)a->OH * a->OW;
  int16_t p16[LMAX + 64] __attribute__((aligned(64)));
  int32_t lines[3][LMAX] __attribute__((aligned(64))); /* s1: Q lines; s2: P lines (int16 pairs) */
  if (a->KH != 3 || a->KW != 3 || a->sh != a->sw || (s != 1 && s != 2) || a->dh != 1 || a->dw != 1) return 0;
  /* dwords read per line: s1 up to Q[16*ceil(OW/16) + 2 + 15]; s2 up to P32[16*ceil(OW/16) + 16] */
  L = 16 * ((a->OW + 15) / 16) + 32;
  if (s == 1 && L < a->pl + W) L = a->pl + W;
  if (s == 2 && 2 * L < a->pl + W) L = (a->pl + W + 1) / 2;
  L = (L + 31) / 32 * 32;
  if (L > LMAX) return 0;
  if (dw_plane(a, x, w, b, y)) return 1;
  for (n = 0; n < a->N; n++)
    for (m = a->m0; m < a->m1; m++) {
      const int8_t *xm = x + (n * a->C + m) * HW;
      int8_t *ym = y + (n * a->M + m) * OHW;
      int64_t have[3] = {-1, -1, -1};
      const int8_t *wm = w + m * 9;
      __m512i w01[3], w2[3];
      esdk_rq512 q;
      int32_t bias = b ? b[m] : 0;
      int i;
      for (i = 0; i < 3; i++) {
        w01[i] = _mm512_set1_epi32((int32_t)(((uint32_t)(uint16_t)wm[3 * i]) | ((uint32_t)(uint16_t)wm[3 * i + 1] << 16)));
        w2[i] = _mm512_set1_epi32((int32_t)(uint16_t)wm[3 * i + 2]);
      }
      esdk_rq512_set(&q, a->mult[m * a->qstride], a->shift[m * a->qstride], a->zy, a->qmin, a->qmax);
      for (oh = 0; oh < a->OH; oh++) {
        const int32_t *rows[3];
        int kh;
        for (kh = 0; kh < 3; kh++) {
          int64_t ih = oh * s - a->pt + kh;
          rows[kh] = 0;
          if (ih < 0 || ih >= H) continue;
          if (have[ih % 3] != ih) {
            if (s == 1) {
              build_p16(xm + ih * W, W, a->pl, L + 32, a->zx, p16);
              build_q(p16, L, lines[ih % 3]);
            } else {
              build_p16(xm + ih * W, W, a->pl, 2 * L, a->zx, (int16_t *)lines[ih % 3]);
            }
            have[ih % 3] = ih;
          }
          rows[kh] = lines[ih % 3];
        }
        for (ow = 0; ow < a->OW; ow += 16) {
          int64_t left = a->OW - ow;
          __m512i acc = _mm512_set1_epi32(bias);
          for (kh = 0; kh < 3; kh++) {
            const int32_t *r = rows[kh];
            if (!r) continue;
            acc = _mm512_dpwssd_epi32(acc, _mm512_loadu_si512(r + ow), w01[kh]);
            /* kw2: s1 Q[ow + 2] = (P[ow + 2], .); s2 P32[ow + 1] = (P[2ow + 2], .) */
            acc = _mm512_dpwssd_epi32(acc, _mm512_loadu_si512(r + ow + 3 - s), w2[kh]);
          }
          esdk_rq512_store(acc, &q, ym + oh * a->OW + ow,
                           left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1));
        }
      }
    }
  return 1;
}
#endif
