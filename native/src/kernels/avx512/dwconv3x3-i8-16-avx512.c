/* int8 depthwise 3x3 conv (stride 1 or 2, any padding, dilation 1), NCHW, AVX-512 VNNI: one
   VPDPBUSD per kernel row and 16 outputs (3 taps + a zero weight byte per 32-bit lane).

   Per channel, a band of input rows is copied once into a padded u8 plane U (u = x + 128; the
   padding holds zx + 128, so it contributes exactly what the scalar kernel's skipped taps do
   once the (128 + zx) * sum(w) correction is folded into the bias). Outputs are computed over
   the flat index f = oh * OWp + ow of a grid, so one vector covers several short rows (14x14,
   7x7 maps) and a band of a wide map is one long row; lanes with ow >= OW are computed and
   dropped when rows are copied out of the staging buffer. Stride 1: plane row pitch Wp = OWp,
   tap (kh, kw) of output f is U[f + kh * Wp + kw]. Stride 2: even and odd plane rows go to two
   half planes E and O of pitch Wp = 2 OWp, and the taps are E[2f + kw], O[2f + kw],
   E[2f + Wp + kw].

   No byte shuffles feed the MACs: the dword i of an unaligned load at row + f0 + k (stride 1)
   is the 3 taps of output f0 + 4i + k plus one byte that meets the zero weight byte. So 4 loads
   give 64 outputs interleaved by 4 (vector k holds f0 + 4i + k); stride 2 loads at 2 f0 + 0, +2
   (outputs f0 + 2i + k') and +64, +66 (f0 + 32 + 2i + k'). The 4 vectors are requantized
   together (esdk_rq512_pack4) and one in-lane byte shuffle (+ a qword permute for stride 2)
   restores the output order. */
#include "i8-vnni.h"
#if defined(__x86_64__) || defined(_M_X64)
#include <string.h>

#define UMAX 24576 /* padded u8 plane of one band */
#define FMAX 8192  /* flat outputs of one band (staging) */

/* byte b = 4t + k of lane L comes from packed byte 4k + t (stride 1) */
static T512 __m512i perm_s1(void) {
  int8_t t[64];
  int L, b;
  for (L = 0; L < 4; L++)
    for (b = 0; b < 16; b++) t[16 * L + b] = (int8_t)(4 * (b & 3) + (b >> 2));
  return _mm512_loadu_si512(t);
}

/* stride 2: packed lane L = [a: f0+8L+2t][b: f0+8L+2t+1][c: f0+32+8L+2t][d: f0+33+8L+2t];
   in-lane order to [f0+8L .. +7][f0+32+8L .. +7], then qwords (2L, 2L+1) go to (L, 4 + L) */
static T512 __m512i perm_s2(void) {
  int8_t t[64];
  int L, b;
  for (L = 0; L < 4; L++)
    for (b = 0; b < 16; b++) {
      int h = b >> 3, o = b & 7; /* half h, output 2t + k within it */
      t[16 * L + b] = (int8_t)(8 * h + 4 * (o & 1) + (o >> 1));
    }
  return _mm512_loadu_si512(t);
}

/* bytes of U a band of R output rows uses; half: the offset of O (stride 2) */
static int64_t plane_bytes(int64_t R, int64_t s, int64_t OWp, int64_t Wp, int64_t *half) {
  int64_t Fp = (R * OWp + 63) / 64 * 64, pr = (R - 1) * s + 3, e;
  if (s == 1) {
    e = Fp + 2 * Wp + 64; /* last group reads up to f0 + 2 Wp + 3 + 63 */
    return e > pr * Wp ? (e + 63) / 64 * 64 : (pr * Wp + 63) / 64 * 64;
  }
  e = (2 * Fp + Wp + 64 + 63) / 64 * 64; /* E read up to 2 f0 + Wp + 66 + 63; rows (pr + 1) / 2 */
  if (e < (pr + 1) / 2 * Wp) e = ((pr + 1) / 2 * Wp + 63) / 64 * 64;
  if (half) *half = e;
  return 2 * e;
}

T512 int esdk_dwconv3x3_i8_avx512(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b,
                                  int8_t *y) {
  int64_t s = a->sh, H = a->H, W = a->W, HW = H * W, OH = a->OH, OW = a->OW, OHW = OH * OW;
  int64_t Wp, OWp, R, n, m, o0;
  uint8_t U[UMAX + 256] __attribute__((aligned(64)));
  int8_t tb[FMAX] __attribute__((aligned(64)));
  const __m512i m80 = _mm512_set1_epi8(-128);
  const __m512i p1 = perm_s1(), p2 = perm_s2(), q2 = _mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0);
  if (a->KH != 3 || a->KW != 3 || a->sh != a->sw || (s != 1 && s != 2) || a->dh != 1 || a->dw != 1) return 0;
  OWp = OW + 2 / s;                         /* s1: OW + 2 columns; s2: OW + 1 (Wp = 2 OW + 2) */
  if (s * OWp < a->pl + W) OWp = (a->pl + W + s - 1) / s; /* the data must fit a row */
  Wp = s * OWp;
  /* output rows per band: the plane holds (R - 1) s + 3 rows and the reads' extent */
  R = (FMAX - 64) / OWp;
  if (R > OH) R = OH;
  while (R > 0 && plane_bytes(R, s, OWp, Wp, 0) > UMAX) R--;
  if (R <= 0) return 0;
  for (n = 0; n < a->N; n++)
    for (m = a->m0; m < a->m1; m++) {
      const int8_t *xm = x + (n * a->C + m) * HW;
      int8_t *ym = y + (n * a->M + m) * OHW;
      const int8_t *wm = w + m * 9;
      const __m512i pad = _mm512_set1_epi8((int8_t)(a->zx ^ 0x80));
      __m512i wk[3];
      esdk_rq512 q;
      int32_t sw = 0;
      int i;
      for (i = 0; i < 3; i++) {
        wk[i] = _mm512_set1_epi32((int32_t)((uint32_t)(uint8_t)wm[3 * i] | (uint32_t)(uint8_t)wm[3 * i + 1] << 8 |
                                            (uint32_t)(uint8_t)wm[3 * i + 2] << 16));
        sw += wm[3 * i] + wm[3 * i + 1] + wm[3 * i + 2];
      }
      esdk_rq512_set(&q, a->mult[m * a->qstride], a->shift[m * a->qstride], a->zy, a->qmin, a->qmax);
      for (o0 = 0; o0 < OH; o0 += R) {
        int64_t rows = OH - o0 < R ? OH - o0 : R, F = rows * OWp, Fp = (F + 63) / 64 * 64;
        int64_t r0 = o0 * s - a->pt, pr = (rows - 1) * s + 3, Lh = 0, ext = plane_bytes(rows, s, OWp, Wp, &Lh), r, f, oh;
        const uint8_t *rb0 = U, *rb1 = s == 1 ? U + Wp : U + Lh, *rb2 = s == 1 ? U + 2 * Wp : U + Wp;
        const __m512i cb = _mm512_set1_epi32((int32_t)((uint32_t)(b ? b[m] : 0) - (uint32_t)(128 + a->zx) * (uint32_t)sw));
        for (f = 0; f < ext; f += 64) _mm512_store_si512(U + f, pad);
        for (r = 0; r < pr; r++) { /* input row r0 + r of the band at plane row r */
          int64_t ih = r0 + r, j;
          if (ih < 0 || ih >= H) continue;
          for (j = 0; j < W; j += 64) {
            int64_t left = W - j;
            __mmask64 mk = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
            _mm512_mask_storeu_epi8((s == 1 ? U + r * Wp : U + (r & 1) * Lh + (r >> 1) * Wp) + a->pl + j, mk,
                                    _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk, xm + ih * W + j), m80));
          }
        }
        for (f = 0; f < Fp; f += 64) {
          __m512i c0 = cb, c1 = cb, c2 = cb, c3 = cb, out;
          int kh;
          if (s == 1) {
            ESDK_UNROLL for (kh = 0; kh < 3; kh++) {
              const uint8_t *u = (kh == 0 ? rb0 : kh == 1 ? rb1 : rb2) + f;
              c0 = _mm512_dpbusd_epi32(c0, _mm512_loadu_si512(u), wk[kh]);
              c1 = _mm512_dpbusd_epi32(c1, _mm512_loadu_si512(u + 1), wk[kh]);
              c2 = _mm512_dpbusd_epi32(c2, _mm512_loadu_si512(u + 2), wk[kh]);
              c3 = _mm512_dpbusd_epi32(c3, _mm512_loadu_si512(u + 3), wk[kh]);
            }
            out = _mm512_shuffle_epi8(esdk_rq512_pack4(c0, c1, c2, c3, &q), p1);
          } else {
            ESDK_UNROLL for (kh = 0; kh < 3; kh++) {
              const uint8_t *u = (kh == 0 ? rb0 : kh == 1 ? rb1 : rb2) + 2 * f;
              c0 = _mm512_dpbusd_epi32(c0, _mm512_loadu_si512(u), wk[kh]);
              c1 = _mm512_dpbusd_epi32(c1, _mm512_loadu_si512(u + 2), wk[kh]);
              c2 = _mm512_dpbusd_epi32(c2, _mm512_loadu_si512(u + 64), wk[kh]);
              c3 = _mm512_dpbusd_epi32(c3, _mm512_loadu_si512(u + 66), wk[kh]);
            }
            out = _mm512_permutexvar_epi64(q2, _mm512_shuffle_epi8(esdk_rq512_pack4(c0, c1, c2, c3, &q), p2));
          }
          _mm512_store_si512(tb + f, out);
        }
        for (oh = 0; oh < rows; oh++) {
          const int8_t *src = tb + oh * OWp;
          int8_t *dst = ym + (o0 + oh) * OW;
          int64_t j;
          for (j = 0; j < OW; j += 64) {
            int64_t left = OW - j;
            __mmask64 mk = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
            _mm512_mask_storeu_epi8(dst + j, mk, _mm512_maskz_loadu_epi8(mk, src + j));
          }
        }
      }
    }
  return 1;
}
#endif
