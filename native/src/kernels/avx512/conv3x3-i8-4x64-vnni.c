/* Dense int8 3x3 conv (stride 1 or 2, any padding, dilation 1, one group) over few input
   channels (C <= 8: the first conv of an image model), NCHW, AVX-512 VNNI, 4 output channels x
   64 outputs per register tile. Instead of an im2col per pixel tile, each input channel's band
   of rows is copied once into a padded u8 plane (i8-plane.h, the depthwise layout), and every
   (input channel, kernel row) is one VPDPBUSD per 16 outputs and output channel: 4 plain
   unaligned loads give 64 outputs (interleaved by 4, or 2 for stride 2) and are shared by the 4
   output channels, whose weight dwords (w0, w1, w2, 0) are broadcast. Padding holds zx + 128
   and the (128 + zx) * sum(w) correction is folded into the bias. */
#include "i8-plane.h"
#if defined(__x86_64__) || defined(_M_X64)

#define CMAX 8
#define PMAXC 12288 /* one channel's plane of a band */
#define FMAXC 2048  /* flat outputs of a band */

T512 int esdk_conv3x3_i8_avx512(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b,
                                int8_t *y) {
  int64_t s = a->sh, C = a->C, H = a->H, W = a->W, HW = H * W, OH = a->OH, OW = a->OW, OHW = OH * OW;
  int64_t R, n, o0, m, c, Lh = 0;
  esdk_plane g;
  esdk_rq512 q[4];
  uint8_t U[CMAX][PMAXC + 256] __attribute__((aligned(64)));
  int8_t tb[4][FMAXC] __attribute__((aligned(64)));
  const __m512i p1 = plane_perm_s1(), p2 = plane_perm_s2(), q2 = _mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0);
  if (a->KH != 3 || a->KW != 3 || a->sh != a->sw || (s != 1 && s != 2) || a->dh != 1 || a->dw != 1 ||
      a->group != 1 || C > CMAX || a->m1 - a->m0 < 4)
    return 0;
  g.s = s;
  g.H = H;
  g.W = W;
  g.OW = OW;
  g.pl = a->pl;
  g.OWp = OW + 2 / s;
  if (s * g.OWp < a->pl + W) g.OWp = (a->pl + W + s - 1) / s;
  g.Wp = s * g.OWp;
  g.wmask = W >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << W) - 1);
  g.omask = OW >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << OW) - 1);
  R = (FMAXC - 64) / g.OWp;
  if (R > OH) R = OH;
  while (R > 0 && plane_bytes(R, s, g.OWp, g.Wp, 0) > PMAXC) R--;
  if (R <= 0) return 0;
  for (m = 0; m < 4; m++) esdk_rq512_set(&q[m], 0, 0, a->zy, a->qmin, a->qmax);
  for (n = 0; n < a->N; n++)
    for (o0 = 0; o0 < OH; o0 += R) {
      int64_t rows = OH - o0 < R ? OH - o0 : R, Fp = (rows * g.OWp + 63) / 64 * 64;
      int64_t ext = plane_bytes(rows, s, g.OWp, g.Wp, &Lh);
      g.Lh = Lh;
      for (c = 0; c < C; c++) {
        plane_fill(U[c], ext, (int8_t)(a->zx ^ 0x80));
        plane_put_rows(&g, x + (n * C + c) * HW, o0 * s - a->pt, (rows - 1) * s + 3, U[c]);
      }
      for (m = a->m0; m < a->m1; m += 4) {
        /* the last block overlaps the previous one (M >= 4): recomputing is cheaper than a tail */
        int64_t mb = m + 4 <= a->m1 ? m : a->m1 - 4, f;
        int32_t wd[4][CMAX][3];
        __m512i cb[4];
        int r, kh;
        for (r = 0; r < 4; r++) {
          const int8_t *wm = w + (mb + r) * C * 9;
          int32_t sw = 0;
          for (c = 0; c < C; c++)
            for (kh = 0; kh < 3; kh++) {
              const int8_t *t = wm + c * 9 + kh * 3;
              wd[r][c][kh] = (int32_t)((uint32_t)(uint8_t)t[0] | (uint32_t)(uint8_t)t[1] << 8 | (uint32_t)(uint8_t)t[2] << 16);
              sw += t[0] + t[1] + t[2];
            }
          cb[r] = _mm512_set1_epi32((int32_t)((uint32_t)(b ? b[mb + r] : 0) - (uint32_t)(128 + a->zx) * (uint32_t)sw));
          esdk_rq512_set_ch(&q[r], a->mult[(mb + r) * a->qstride], a->shift[(mb + r) * a->qstride]);
        }
        for (f = 0; f < Fp; f += 64) {
          __m512i acc[4][4];
          int v;
          ESDK_UNROLL for (r = 0; r < 4; r++)
            ESDK_UNROLL for (v = 0; v < 4; v++) acc[r][v] = cb[r];
          for (c = 0; c < C; c++) {
            const uint8_t *Uc = U[c];
            const uint8_t *rb[3];
            rb[0] = Uc;
            rb[1] = s == 1 ? Uc + g.Wp : Uc + Lh;
            rb[2] = s == 1 ? Uc + 2 * g.Wp : Uc + g.Wp;
            ESDK_UNROLL for (kh = 0; kh < 3; kh++) {
              __m512i xv[4];
              if (s == 1) {
                const uint8_t *u = rb[kh] + f;
                ESDK_UNROLL for (v = 0; v < 4; v++) xv[v] = _mm512_loadu_si512(u + v);
              } else {
                const uint8_t *u = rb[kh] + 2 * f;
                xv[0] = _mm512_loadu_si512(u);
                xv[1] = _mm512_loadu_si512(u + 2);
                xv[2] = _mm512_loadu_si512(u + 64);
                xv[3] = _mm512_loadu_si512(u + 66);
              }
              ESDK_UNROLL for (r = 0; r < 4; r++) {
                __m512i wv = _mm512_set1_epi32(wd[r][c][kh]);
                ESDK_UNROLL for (v = 0; v < 4; v++) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], xv[v], wv);
              }
            }
          }
          ESDK_UNROLL for (r = 0; r < 4; r++) {
            __m512i o = esdk_rq512_pack4(acc[r][0], acc[r][1], acc[r][2], acc[r][3], &q[r]);
            o = s == 1 ? _mm512_shuffle_epi8(o, p1) : _mm512_permutexvar_epi64(q2, _mm512_shuffle_epi8(o, p2));
            _mm512_store_si512(tb[r] + f, o);
          }
        }
        for (r = 0; r < 4; r++)
          plane_put_out(&g, tb[r], rows, y + (n * a->M + mb + r) * OHW + o0 * OW);
      }
    }
  return 1;
}
#endif
