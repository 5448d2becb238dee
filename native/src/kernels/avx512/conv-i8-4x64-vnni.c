/* General int8 conv (any kernel size, stride, padding, dilation, group; e.g. the 3x3 stride-2
   first conv on 3 channels) with AVX-512 VNNI: im2col of a tile of up to 64 output pixels,
   written straight into the VPDPBUSD layout (K' = C/group*KH*KW values per pixel, 4 per lane),
   then the shared 4x64 GEMM tile. Padded taps hold the input zero point, so (x - zx) = 0
   exactly as in the scalar kernel. Depthwise-like shapes (fewer than 4 outputs per group)
   decline: one channel per im2col is slower than the scalar loop. */
#include "i8-vnni.h"
#if defined(__x86_64__) || defined(_M_X64)

#define MCH 512

static T512 void im2col_vnni(const esdk_conv_args *a, const int8_t *xg, int64_t cg, int64_t p0, int64_t n, int nv,
                             uint8_t *buf) {
  int64_t KK = (int64_t)a->KH * a->KW, Kp = cg * KK, gs = 64 * nv, k, i;
  int32_t ihb[64], iwb[64];
  uint8_t pad = (uint8_t)((int8_t)a->zx) ^ 0x80u;
  for (i = 0; i < n; i++) {
    int64_t p = p0 + i;
    ihb[i] = (int32_t)((p / a->OW) * a->sh - a->pt);
    iwb[i] = (int32_t)((p % a->OW) * a->sw - a->pl);
  }
  for (k = 0; k < Kp; k++) {
    int64_t c = k / KK, kh = (k / a->KW) % a->KH, kw = k % a->KW;
    const int8_t *xc = xg + c * a->H * a->W;
    uint8_t *o = buf + (k >> 2) * gs + (k & 3);
    int32_t dh = (int32_t)(kh * a->dh), dw = (int32_t)(kw * a->dw);
    for (i = 0; i < n; i++) {
      int32_t ih = ihb[i] + dh, iw = iwb[i] + dw;
      o[4 * i] = ((uint32_t)ih < (uint32_t)a->H && (uint32_t)iw < (uint32_t)a->W)
                     ? (uint8_t)((uint8_t)xc[(int64_t)ih * a->W + iw] ^ 0x80u)
                     : pad;
    }
  }
  for (; k & 3; k++) /* bytes of the last group past K' (their weights are zero too) */
    for (i = 0; i < 16 * nv; i++) buf[(k >> 2) * gs + 4 * i + (k & 3)] = 0;
}

/* Row-segment im2col for horizontal strides 1 and 2 (e.g. the first conv): rows t[k][0..n) of
   raw int8 (padding = zx), then esdk_pack_vnni. A tile's pixels split into runs inside one
   output row; per run and tap, one masked store of zx and one masked load (+ VPMOVWB keeping
   the even bytes for stride 2) of the in-bounds part instead of a bounds-checked byte gather. */
#define TMAX 16384
static inline T512 __mmask64 bmask(int64_t n) { return n >= 64 ? ~(__mmask64)0 : n <= 0 ? 0 : (((__mmask64)1 << n) - 1); }

static T512 void im2col_rows(const esdk_conv_args *a, const int8_t *xg, int64_t cg, int64_t p0, int64_t n, int8_t *t) {
  int64_t KK = (int64_t)a->KH * a->KW, Kp = cg * KK, i = 0, k, sw = a->sw;
  const __m512i zx = _mm512_set1_epi8((int8_t)a->zx);
  while (i < n) {
    int64_t oh = (p0 + i) / a->OW, ow0 = (p0 + i) % a->OW, len = a->OW - ow0;
    if (len > n - i) len = n - i;
    for (k = 0; k < Kp; k++) {
      int64_t c = k / KK, kh = (k / a->KW) % a->KH, kw = k % a->KW;
      int64_t ih = oh * a->sh - a->pt + kh * a->dh, off = kw * a->dw - a->pl; /* iw = ow * sw + off */
      int8_t *o = t + k * 64 + i;
      int64_t lo, hi, cnt;
      _mm512_mask_storeu_epi8(o, bmask(len), zx);
      if (ih < 0 || ih >= a->H) continue;
      /* in-bounds ow: ow*sw + off in [0, W) */
      lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
      hi = a->W - 1 - off < 0 ? -1 : (a->W - 1 - off) / sw; /* last valid ow */
      if (lo < ow0) lo = ow0;
      if (hi > ow0 + len - 1) hi = ow0 + len - 1;
      cnt = hi - lo + 1;
      if (cnt <= 0) continue;
      {
        const int8_t *src = xg + (c * a->H + ih) * a->W + lo * sw + off;
        int8_t *dst = o + (lo - ow0);
        if (sw == 1) {
          _mm512_mask_storeu_epi8(dst, bmask(cnt), _mm512_maskz_loadu_epi8(bmask(cnt), src));
        } else {
          int64_t j;
          for (j = 0; j < cnt; j += 32) {
            int64_t m = cnt - j < 32 ? cnt - j : 32;
            __m256i e = _mm512_cvtepi16_epi8(_mm512_maskz_loadu_epi8(bmask(2 * m - 1), src + 2 * j));
            _mm256_mask_storeu_epi8(dst + j, (__mmask32)bmask(m), e);
          }
        }
      }
    }
    i += len;
  }
}

T512 int esdk_conv_i8_avx512(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  int64_t cg = a->C / a->group, mg = a->M / a->group, Kp = cg * a->KH * a->KW, OHW = (int64_t)a->OH * a->OW;
  int64_t pt, n, p0, mc, m;
  uint8_t buf[65536] __attribute__((aligned(64)));
  int8_t t[TMAX] __attribute__((aligned(64)));
  int32_t cb[MCH];
  int rows_ok = (a->sw == 1 || a->sw == 2) && Kp * 64 <= TMAX;
  pt = Kp <= 1024 ? 64 : Kp <= 2048 ? 32 : Kp <= 4096 ? 16 : 0;
  if (!pt || mg < 4) return 0;
  if (esdk_conv3x3_i8_avx512(a, x, w, b, y)) return 1; /* 3x3 over few channels: padded planes */
  for (mc = a->m0; mc < a->m1;) {
    /* a chunk stays inside one group */
    int64_t g = mc / mg, ge = (g + 1) * mg, me = mc + MCH;
    if (me > ge) me = ge;
    if (me > a->m1) me = a->m1;
    for (m = mc; m < me; m++)
      cb[m - mc] = (int32_t)((uint32_t)(b ? b[m] : 0) -
                             (uint32_t)(128 + a->zx) * (uint32_t)esdk_sum_i8_512(w + m * Kp, Kp));
    for (n = 0; n < a->N; n++) {
      const int8_t *xg = x + (n * a->C + g * cg) * a->H * a->W;
      int8_t *Y = y + n * a->M * OHW;
      for (p0 = 0; p0 < OHW; p0 += pt) {
        int64_t rem = OHW - p0 < pt ? OHW - p0 : pt;
        int nv = (int)((rem + 15) / 16);
        if (rows_ok) {
          im2col_rows(a, xg, cg, p0, rem, t);
          esdk_pack_vnni(t, 64, Kp, rem, nv, buf);
        } else {
          im2col_vnni(a, xg, cg, p0, rem, nv, buf);
        }
        esdk_gemm_i8_vnni_tile(buf, nv, Kp, w, Kp, mc, me, cb, a->mult, a->shift, a->qstride, a->zy, a->qmin,
                               a->qmax, Y + p0, OHW, rem);
      }
    }
    mc = me;
  }
  return 1;
}
#endif
