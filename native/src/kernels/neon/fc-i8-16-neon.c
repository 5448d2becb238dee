/* int8 fully connected for cores without dotprod: 16 int8 products per step with SMULL
   (int8 x int8 fits int16) pairwise-added into int32 lanes (SADALP). x is used raw and the
   zero point comes out as zx * sum_k w, exact in int32 (mod 2^32) like the scalar kernel;
   the scalar esdk_requant finishes each output, so results are bit-exact with the host. */
#include "neon.h"
#include "../../runtime/fixedpoint.h"
#if defined(__aarch64__)

int esdk_fc_i8_neon(const esdk_fc_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y) {
  int64_t K = a->K, rr, m, k;
  for (rr = 0; rr < a->B; rr++) {
    const int8_t *xr = x + rr * K;
    for (m = a->m0; m < a->m1; m++) {
      const int8_t *wm = w + m * K;
      int32x4_t c = vdupq_n_s32(0), ws = vdupq_n_s32(0);
      uint32_t s;
      for (k = 0; k + 16 <= K; k += 16) {
        int8x16_t xv = vld1q_s8(xr + k), wv = vld1q_s8(wm + k);
        c = vpadalq_s16(c, vmull_s8(vget_low_s8(xv), vget_low_s8(wv)));
        c = vpadalq_s16(c, vmull_high_s8(xv, wv));
        ws = vpadalq_s16(ws, vpaddlq_s8(wv));
      }
      s = (b ? (uint32_t)b[m] : 0u) + (uint32_t)vaddvq_s32(c) - (uint32_t)a->zx * (uint32_t)vaddvq_s32(ws);
      for (; k < K; k++) s += (uint32_t)((xr[k] - a->zx) * wm[k]);
      y[rr * a->M + m] = esdk_requant((int32_t)s, a->mult[m * a->qstride], a->shift[m * a->qstride], a->zy, a->qmin,
                                      a->qmax);
    }
  }
  return 1;
}
#endif
