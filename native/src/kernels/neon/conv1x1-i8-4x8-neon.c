/* int8 1x1 conv on NCHW (GEMM along HW) for cores without dotprod (Cortex-A72): blocks of 4
   output channels x 8 pixels. x - zx is widened to int16 (range [-255, 255]) and multiplied by
   a broadcast int8 weight into int32 lanes (SMLAL), exactly the scalar kernel's integer sum
   (mod 2^32); requantization then runs the scalar esdk_requant per output, so results are
   bit-exact with the host. The last HW % 8 pixels go through a scalar loop. */
#include "neon.h"
#include "../../runtime/fixedpoint.h"
#if defined(__aarch64__)

static void blk(int R, const int8_t *w, int64_t K, const int8_t *X, int64_t HW, int32_t zx, int32_t *acc) {
  int32x4_t c[4][2];
  int16x8_t vzx = vdupq_n_s16((int16_t)zx);
  int64_t k;
  int r;
  for (r = 0; r < 4; r++) c[r][0] = c[r][1] = vdupq_n_s32(0);
  for (k = 0; k < K; k++) {
    int16x8_t xv = vsubq_s16(vmovl_s8(vld1_s8(X + k * HW)), vzx);
    for (r = 0; r < R; r++) {
      int16_t wk = w[r * K + k];
      c[r][0] = vmlal_n_s16(c[r][0], vget_low_s16(xv), wk);
      c[r][1] = vmlal_high_n_s16(c[r][1], xv, wk);
    }
  }
  for (r = 0; r < R; r++) {
    vst1q_s32(acc + 8 * r, c[r][0]);
    vst1q_s32(acc + 8 * r + 4, c[r][1]);
  }
}

int esdk_conv1x1_i8_neon(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  int64_t HW = (int64_t)a->H * a->W, K = a->C, M = a->M, n, p0, m, k, vec_end = HW & ~(int64_t)7;
  int32_t acc[32];
  for (n = 0; n < a->N; n++) {
    const int8_t *X = x + n * K * HW;
    int8_t *Y = y + n * M * HW;
    for (p0 = 0; p0 < vec_end; p0 += 8)
      for (m = a->m0; m < a->m1; m += 4) {
        int R = a->m1 - m < 4 ? (int)(a->m1 - m) : 4, r, i;
        blk(R, w + m * K, K, X + p0, HW, a->zx, acc);
        for (r = 0; r < R; r++) {
          int64_t mm = m + r;
          uint32_t bias = b ? (uint32_t)b[mm] : 0u;
          for (i = 0; i < 8; i++)
            Y[mm * HW + p0 + i] = esdk_requant((int32_t)(bias + (uint32_t)acc[8 * r + i]), a->mult[mm * a->qstride],
                                               a->shift[mm * a->qstride], a->zy, a->qmin, a->qmax);
        }
      }
    for (p0 = vec_end; p0 < HW; p0++)
      for (m = a->m0; m < a->m1; m++) {
        uint32_t s = b ? (uint32_t)b[m] : 0u;
        for (k = 0; k < K; k++) s += (uint32_t)((X[k * HW + p0] - a->zx) * w[m * K + k]);
        Y[m * HW + p0] = esdk_requant((int32_t)s, a->mult[m * a->qstride], a->shift[m * a->qstride], a->zy, a->qmin,
                                      a->qmax);
      }
  }
  return 1;
}
#endif
