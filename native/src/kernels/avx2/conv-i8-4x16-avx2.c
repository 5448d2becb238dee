/* General int8 conv (any kernel size, stride, padding, dilation, group; e.g. the 3x3 stride-2
   first conv on 3 channels) with AVX2: an im2col of a 16-pixel tile written straight into the
   int16 pair layout of conv1x1-i8-4x16-avx2.c (padded taps and pairs past K' are 0 = x - zx
   of the scalar kernel's skipped taps), then the shared 4-channel x 16-pixel VPMADDWD tile. */
#include "i8-avx2.h"
#if defined(__x86_64__) || defined(_M_X64)
#include <string.h>

#define WBYTES 65536
#define XBYTES 32768

/* dword slot of pixel i in a packed 16-pixel pair row: pixels 0-3, 8-11, 4-7, 12-15 */
static inline int slot(int i) { return (i & 3) | ((i & 4) << 1) | ((i & 8) >> 1); }

static T256 void im2col_pairs(const esdk_conv_args *a, const int8_t *xg, int64_t cg, int64_t p0, int64_t n,
                              int16_t *buf) {
  int64_t KK = (int64_t)a->KH * a->KW, Kp = cg * KK, k;
  int32_t ihb[16], iwb[16];
  int i;
  memset(buf, 0, (size_t)((Kp + 1) / 2) * 64);
  for (i = 0; i < n; i++) {
    int64_t p = p0 + i;
    ihb[i] = (int32_t)((p / a->OW) * a->sh - a->pt);
    iwb[i] = (int32_t)((p % a->OW) * a->sw - a->pl);
  }
  for (k = 0; k < Kp; k++) {
    int64_t c = k / KK, kh = (k / a->KW) % a->KH, kw = k % a->KW;
    const int8_t *xc = xg + c * a->H * a->W;
    int16_t *o = buf + (k >> 1) * 32 + (k & 1);
    int32_t dh = (int32_t)(kh * a->dh), dw = (int32_t)(kw * a->dw);
    for (i = 0; i < n; i++) {
      int32_t ih = ihb[i] + dh, iw = iwb[i] + dw;
      if ((uint32_t)ih < (uint32_t)a->H && (uint32_t)iw < (uint32_t)a->W)
        o[2 * slot(i)] = (int16_t)(xc[(int64_t)ih * a->W + iw] - a->zx);
    }
  }
}

T256 int esdk_conv_i8_avx2(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  int64_t cg = a->C / a->group, mg = a->M / a->group, Kp = cg * a->KH * a->KW, G = (Kp + 1) / 2, Kw = 2 * G;
  int64_t OHW = (int64_t)a->OH * a->OW, chunk, mc, n, p0, m;
  int16_t wb[WBYTES / 2] __attribute__((aligned(32)));
  int16_t xb[XBYTES / 2] __attribute__((aligned(32)));
  esdk_rq256 q;
  if (G * 64 > XBYTES || Kw * 2 * 4 > WBYTES) return 0;
  chunk = WBYTES / (Kw * 2) / 4 * 4;
  esdk_rq256_set(&q, 0, 0, a->zy, a->qmin, a->qmax);
  for (mc = a->m0; mc < a->m1;) {
    int64_t g = mc / mg, me = mc + chunk; /* a chunk stays inside one group */
    if (me > (g + 1) * mg) me = (g + 1) * mg;
    if (me > a->m1) me = a->m1;
    for (m = mc; m < me; m++) esdk_widen_w(w + m * Kp, Kp, wb + (m - mc) * Kw);
    for (n = 0; n < a->N; n++) {
      const int8_t *xg = x + (n * a->C + g * cg) * a->H * a->W;
      int8_t *Y = y + n * a->M * OHW;
      for (p0 = 0; p0 < OHW; p0 += 16) {
        int64_t np = OHW - p0 < 16 ? OHW - p0 : 16;
        im2col_pairs(a, xg, cg, p0, np, xb);
        esdk_gemm_i8_avx2_rows(xb, G, wb, Kw, mc, me, mc, b, a->mult, a->shift, a->qstride, &q, Y + p0, OHW, np);
      }
    }
    mc = me;
  }
  return 1;
}
#endif
