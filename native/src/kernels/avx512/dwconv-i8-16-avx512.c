/* int8 depthwise conv of any kernel size with stride 1 along the width (any stride / dilation
   along the height, any width dilation), NCHW, AVX-512 VNNI: 16 outputs of one row per vector.

   Covers what the 3x3 VPDPBUSD kernel declines: 5x5 depthwise (MobileNetV3, PP-OCR), and 3x3
   with unequal strides such as (2, 1). Per channel the input is copied once into a padded int16
   plane holding x - zx (0 in the padding, which contributes exactly what the scalar kernel's
   skipped taps do), so tap (kh, kw) of outputs ow..ow+15 is one unaligned 16-lane load at
   row (oh sh + kh dh), column ow + kw dw. Each tap is one VPDPWSSD with the weight in the low
   int16 of every dword and 0 in the high one (the sign-extended high half of the data meets
   0). Sums wrap modulo 2^32 like the scalar kernel's uint32 accumulation: bit-exact. */
#include "i8-vnni.h"
#if defined(__x86_64__) || defined(_M_X64)

#define PMAX 16384 /* int16 plane of one channel (32 KB) */
#define TMAX 64    /* kernel taps */

static T512 void put_plane(const esdk_conv_args *a, const int8_t *xc, int64_t Hp, int64_t Wp, int16_t *P) {
  const __m512i zx = _mm512_set1_epi16((int16_t)a->zx);
  int64_t r, W = a->W, w0;
  for (r = 0; r < Hp; r++) {
    int64_t ih = r - a->pt, n = W < Wp - a->pl ? W : Wp - a->pl;
    int16_t *row = P + r * Wp + a->pl;
    if (ih < 0 || ih >= a->H) continue;
    for (w0 = 0; w0 < n; w0 += 32) {
      int64_t k = n - w0 < 32 ? n - w0 : 32;
      __mmask32 mk = k >= 32 ? ~(__mmask32)0 : (((__mmask32)1 << k) - 1);
      __m512i v = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mk, xc + ih * W + w0));
      _mm512_mask_storeu_epi16(row + w0, mk, _mm512_sub_epi16(v, zx));
    }
  }
}

T512 int esdk_dwconv_i8_16_avx512(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b,
                                  int8_t *y) {
  int64_t KH = a->KH, KW = a->KW, T = KH * KW, OH = a->OH, OW = a->OW, HW = (int64_t)a->H * a->W;
  int64_t OWr = (OW + 15) / 16 * 16, Wp = OWr + (KW - 1) * a->dw, Hp = (OH - 1) * a->sh + (KH - 1) * a->dh + 1;
  int64_t n, m, oh, ow, t, i;
  const __mmask16 tail = OW % 16 ? (__mmask16)((1u << (OW % 16)) - 1) : (__mmask16)0xFFFF;
  int16_t P[PMAX + 32] __attribute__((aligned(64)));
  __m512i wv[TMAX];
  int64_t off[TMAX];
  esdk_rq512 q;
  if (a->sw != 1 || T > TMAX || Hp * Wp > PMAX || OH <= 0 || OW <= 0) return 0;
  for (i = 0; i < Hp * Wp; i++) P[i] = 0; /* padding: written once, data rows overwrite the rest */
  for (t = 0; t < T; t++) off[t] = (t / KW) * a->dh * Wp + (t % KW) * a->dw;
  esdk_rq512_set(&q, a->mult[a->m0 * a->qstride], a->shift[a->m0 * a->qstride], a->zy, a->qmin, a->qmax);
  for (n = 0; n < a->N; n++)
    for (m = a->m0; m < a->m1; m++) {
      const int8_t *wm = w + m * T;
      int8_t *ym = y + (n * a->M + m) * OH * OW;
      const __m512i bias = _mm512_set1_epi32(b ? b[m] : 0);
      put_plane(a, x + (n * a->C + m) * HW, Hp, Wp, P);
      for (t = 0; t < T; t++) wv[t] = _mm512_set1_epi32((int32_t)(uint16_t)(int16_t)wm[t]);
      esdk_rq512_set_ch(&q, a->mult[m * a->qstride], a->shift[m * a->qstride]);
      for (oh = 0; oh < OH; oh++) {
        const int16_t *pr = P + oh * a->sh * Wp;
        for (ow = 0; ow < OWr; ow += 16) {
          __m512i acc = bias;
          for (t = 0; t < T; t++)
            acc = _mm512_dpwssd_epi32(acc, _mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)(pr + off[t] + ow))),
                                      wv[t]);
          esdk_rq512_store(acc, &q, ym + oh * OW + ow, ow + 16 <= OW ? (__mmask16)0xFFFF : tail);
        }
      }
    }
  return 1;
}

/* the AVX-512 depthwise entry: the 3x3 VPDPBUSD kernel where it applies, else the one above */
T512 int esdk_dwconv_i8_avx512(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b,
                               int8_t *y) {
  return esdk_dwconv3x3_i8_avx512(a, x, w, b, y) || esdk_dwconv_i8_16_avx512(a, x, w, b, y);
}
#endif
