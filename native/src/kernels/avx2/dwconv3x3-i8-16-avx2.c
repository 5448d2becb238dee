/* int8 depthwise 3x3 conv (stride 1 or 2, any padding, dilation 1), NCHW, AVX2 (no VNNI).
   The layout of the AVX-512 kernel (dwconv3x3-i8-16-avx512.c) with int16 instead of u8: each
   channel's band of rows is copied once into a zero-padded int16 plane of x - zx (padding 0 is
   exactly the scalar kernel's skipped taps), outputs run over the flat index f = oh * OWp + ow
   (stride 1: row pitch Wp = OWp; stride 2: even / odd rows in two half planes of pitch 2 OWp)
   and VPMADDWD takes 2 taps per lane: the dword i of an unaligned load at int16 offset o is
   (P[o + 2i], P[o + 2i + 1]). Stride 2: loads at 2f and 2f + 2 against the weight pairs
   (w0, w1) and (w2, 0) give 8 outputs. Stride 1: loads at f, f + 1 (taps 0-1) and f + 2, f + 3
   (tap 2) give the even and the odd outputs of f .. f + 15. */
#include "i8-avx2.h"
#if defined(__x86_64__) || defined(_M_X64)
#include <string.h>

#define PMAX 16384 /* int16 values of one band's plane */
#define FMAX 4096  /* flat outputs of one band */

static int64_t plane_len(int64_t R, int64_t s, int64_t OWp, int64_t Wp, int64_t *half) {
  int64_t Fp = (R * OWp + 15) / 16 * 16, pr = (R - 1) * s + 3, e;
  if (s == 1) { /* reads up to f0 + 2 Wp + 3 + 15 */
    e = Fp + 2 * Wp + 32;
    return e > pr * Wp ? e : pr * Wp;
  }
  e = 2 * Fp + Wp + 32; /* E read up to 2 f0 + Wp + 2 + 15 */
  if (e < (pr + 1) / 2 * Wp) e = (pr + 1) / 2 * Wp;
  *half = e;
  return 2 * e;
}

static inline T256 __m256i ldw(const int16_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

T256 int esdk_dwconv3x3_i8_avx2(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b,
                                int8_t *y) {
  int64_t s = a->sh, H = a->H, W = a->W, HW = H * W, OH = a->OH, OW = a->OW, OHW = OH * OW;
  int64_t OWp, Wp, R, n, m, o0, Lh = 0;
  int16_t P[PMAX + 64] __attribute__((aligned(32)));
  int8_t tb[FMAX + 16];
  esdk_rq256 q;
  if (a->KH != 3 || a->KW != 3 || a->sh != a->sw || (s != 1 && s != 2) || a->dh != 1 || a->dw != 1) return 0;
  OWp = OW + 2 / s;
  if (s * OWp < a->pl + W) OWp = (a->pl + W + s - 1) / s;
  Wp = s * OWp;
  R = (FMAX - 16) / OWp;
  if (R > OH) R = OH;
  while (R > 0 && plane_len(R, s, OWp, Wp, &Lh) > PMAX) R--;
  if (R <= 0) return 0;
  esdk_rq256_set(&q, 0, 0, a->zy, a->qmin, a->qmax);
  for (n = 0; n < a->N; n++)
    for (m = a->m0; m < a->m1; m++) {
      const int8_t *xm = x + (n * a->C + m) * HW, *wm = w + m * 9;
      int8_t *ym = y + (n * a->M + m) * OHW;
      __m256i w01[3], w2[3];
      const __m256i z = _mm256_set1_epi16((int16_t)a->zx);
      int i;
      for (i = 0; i < 3; i++) {
        w01[i] = _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)wm[3 * i] | (uint32_t)(uint16_t)wm[3 * i + 1] << 16));
        w2[i] = _mm256_set1_epi32((int32_t)(uint16_t)wm[3 * i + 2]);
      }
      esdk_rq256_set_ch(&q, a->mult[m * a->qstride], a->shift[m * a->qstride]);
      for (o0 = 0; o0 < OH; o0 += R) {
        int64_t rows = OH - o0 < R ? OH - o0 : R, F = rows * OWp, Fp = (F + 15) / 16 * 16;
        int64_t len = plane_len(rows, s, OWp, Wp, &Lh), r0 = o0 * s - a->pt, pr = (rows - 1) * s + 3, r, f, oh;
        const int16_t *rb[3];
        __m256i bias = _mm256_set1_epi32(b ? b[m] : 0);
        memset(P, 0, (size_t)(len + 16) * sizeof(int16_t));
        for (r = 0; r < pr; r++) {
          int64_t ih = r0 + r, j;
          int16_t *pr16 = (s == 1 ? P + r * Wp : P + (r & 1) * Lh + (r >> 1) * Wp) + a->pl;
          if (ih < 0 || ih >= H) continue;
          for (j = 0; j + 16 <= W; j += 16)
            _mm256_storeu_si256((__m256i *)(pr16 + j),
                                _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(xm + ih * W + j))), z));
          for (; j < W; j++) pr16[j] = (int16_t)(xm[ih * W + j] - a->zx);
        }
        rb[0] = P;
        rb[1] = s == 1 ? P + Wp : P + Lh;
        rb[2] = s == 1 ? P + 2 * Wp : P + Wp;
        for (f = 0; f < Fp; f += s == 1 ? 16 : 8) {
          int kh;
          if (s == 1) {
            __m256i ce = bias, co = bias, lo, hi, ve, vo;
            for (kh = 0; kh < 3; kh++) {
              const int16_t *u = rb[kh] + f;
              ce = _mm256_add_epi32(ce, _mm256_add_epi32(_mm256_madd_epi16(ldw(u), w01[kh]), _mm256_madd_epi16(ldw(u + 2), w2[kh])));
              co = _mm256_add_epi32(co, _mm256_add_epi32(_mm256_madd_epi16(ldw(u + 1), w01[kh]), _mm256_madd_epi16(ldw(u + 3), w2[kh])));
            }
            ve = esdk_rq256_apply(ce, &q); /* outputs f + 2i */
            vo = esdk_rq256_apply(co, &q); /* outputs f + 2i + 1 */
            lo = _mm256_unpacklo_epi32(ve, vo); /* f + 0..3 | f + 8..11 */
            hi = _mm256_unpackhi_epi32(ve, vo); /* f + 4..7 | f + 12..15 */
            _mm_storel_epi64((__m128i *)(tb + f), esdk_i32x8_to_i8(_mm256_permute2x128_si256(lo, hi, 0x20)));
            _mm_storel_epi64((__m128i *)(tb + f + 8), esdk_i32x8_to_i8(_mm256_permute2x128_si256(lo, hi, 0x31)));
          } else {
            __m256i c = bias;
            for (kh = 0; kh < 3; kh++) {
              const int16_t *u = rb[kh] + 2 * f;
              c = _mm256_add_epi32(c, _mm256_add_epi32(_mm256_madd_epi16(ldw(u), w01[kh]), _mm256_madd_epi16(ldw(u + 2), w2[kh])));
            }
            _mm_storel_epi64((__m128i *)(tb + f), esdk_i32x8_to_i8(esdk_rq256_apply(c, &q)));
          }
        }
        for (oh = 0; oh < rows; oh++) memcpy(ym + (o0 + oh) * OW, tb + oh * OWp, (size_t)OW);
      }
    }
  return 1;
}
#endif
