/* int8 1x1 conv on NCHW with SDOT (armv8.2 dotprod: Cortex-A76 / Pi 5, most phones). SDOT
   sums 4 adjacent int8 products per int32 lane, so for each 16-pixel tile the input is first
   packed to [K/4][16 pixels][4 k] (zip of 4 rows); each output channel then broadcasts its 4
   weights for k..k+3 and one SDOT updates 4 pixels. The zero point is taken out afterwards:
   sum_k w (x - zx) = sum_k w x - zx sum_k w, exact in int32 (mod 2^32, like the scalar
   kernel), and requantization runs the scalar esdk_requant: bit-exact with the host.
   K % 4 rows and the HW % 16 pixel tail (zero-padded in the packed tile) are handled without
   reading past the tensor. The packed tile lives on the stack: K is capped at ESDK_DOT_KMAX. */
#include <string.h>
#include "neon.h"
#include "../../runtime/fixedpoint.h"
#if defined(__aarch64__)
#define ESDK_DOT_KMAX 2048

/* rows k..k+3 of a 16-pixel tile (rem valid pixels) -> 64 bytes, 4 pixels x 4 k per vector */
static TDOT void pack4(const int8_t *X, int64_t HW, int64_t rem, int8_t *dst) {
  int8x16_t v[4];
  int i;
  for (i = 0; i < 4; i++) {
    if (rem == 16) {
      v[i] = vld1q_s8(X + i * HW);
    } else {
      int8_t t[16] = {0};
      memcpy(t, X + i * HW, (size_t)rem);
      v[i] = vld1q_s8(t);
    }
  }
  {
    int16x8_t ab0 = vreinterpretq_s16_s8(vzip1q_s8(v[0], v[1])), ab1 = vreinterpretq_s16_s8(vzip2q_s8(v[0], v[1]));
    int16x8_t cd0 = vreinterpretq_s16_s8(vzip1q_s8(v[2], v[3])), cd1 = vreinterpretq_s16_s8(vzip2q_s8(v[2], v[3]));
    vst1q_s8(dst, vreinterpretq_s8_s16(vzip1q_s16(ab0, cd0)));
    vst1q_s8(dst + 16, vreinterpretq_s8_s16(vzip2q_s16(ab0, cd0)));
    vst1q_s8(dst + 32, vreinterpretq_s8_s16(vzip1q_s16(ab1, cd1)));
    vst1q_s8(dst + 48, vreinterpretq_s8_s16(vzip2q_s16(ab1, cd1)));
  }
}

static TDOT int8x16_t wdup(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return vreinterpretq_s8_s32(vdupq_n_s32(v));
}

TDOT int esdk_conv1x1_i8_dot_neon(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b,
                                  int8_t *y) {
  int64_t HW = (int64_t)a->H * a->W, K = a->C, M = a->M, K4 = K & ~(int64_t)3, n, p0, m, k, g;
  int8_t pk[ESDK_DOT_KMAX * 16];
  int32_t acc[4 * 16];
  if (K > ESDK_DOT_KMAX) return 0;
  for (n = 0; n < a->N; n++) {
    const int8_t *X = x + n * K * HW;
    int8_t *Y = y + n * M * HW;
    for (p0 = 0; p0 < HW; p0 += 16) {
      int64_t rem = HW - p0 < 16 ? HW - p0 : 16;
      for (g = 0; g < K4; g += 4) pack4(X + g * HW + p0, HW, rem, pk + g * 16);
      for (m = a->m0; m < a->m1; m += 4) {
        int R = a->m1 - m < 4 ? (int)(a->m1 - m) : 4, r, i;
        int32x4_t c[4][4];
        uint32_t wsum[4] = {0, 0, 0, 0};
        for (r = 0; r < 4; r++) c[r][0] = c[r][1] = c[r][2] = c[r][3] = vdupq_n_s32(0);
        for (g = 0; g < K4; g += 4) {
          const int8_t *pg = pk + g * 16;
          int8x16_t x0 = vld1q_s8(pg), x1 = vld1q_s8(pg + 16), x2 = vld1q_s8(pg + 32), x3 = vld1q_s8(pg + 48);
          for (r = 0; r < R; r++) {
            int8x16_t wv = wdup(w + (m + r) * K + g);
            c[r][0] = vdotq_s32(c[r][0], x0, wv);
            c[r][1] = vdotq_s32(c[r][1], x1, wv);
            c[r][2] = vdotq_s32(c[r][2], x2, wv);
            c[r][3] = vdotq_s32(c[r][3], x3, wv);
          }
        }
        for (r = 0; r < R; r++) {
          const int8_t *wm = w + (m + r) * K;
          for (i = 0; i < 4; i++) vst1q_s32(acc + 16 * r + 4 * i, c[r][i]);
          for (k = 0; k < K; k++) wsum[r] += (uint32_t)wm[k];
        }
        for (r = 0; r < R; r++) {
          int64_t mm = m + r;
          const int8_t *wm = w + mm * K;
          uint32_t base = (b ? (uint32_t)b[mm] : 0u) - (uint32_t)a->zx * wsum[r];
          for (i = 0; i < rem; i++) {
            uint32_t s = base + (uint32_t)acc[16 * r + i];
            for (k = K4; k < K; k++) s += (uint32_t)(X[k * HW + p0 + i] * wm[k]);
            Y[mm * HW + p0 + i] = esdk_requant((int32_t)s, a->mult[mm * a->qstride], a->shift[mm * a->qstride], a->zy,
                                               a->qmin, a->qmax);
          }
        }
      }
    }
  }
  return 1;
}
#endif
