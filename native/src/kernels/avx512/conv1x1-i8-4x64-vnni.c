/* Dense int8 1x1 conv on NCHW, Y[M][HW] = W[M][K] X[K][HW], with AVX-512 VNNI.
   VPDPBUSD wants 4 consecutive input channels per 32-bit lane, which NCHW does not have, so a
   tile of up to 64 pixels x K channels is interleaved into X[K/4][64][4] (u8 = x + 128) in a
   stack buffer, once per tile, and reused by every output channel: the packing costs K*64
   bytes of shuffles against M*K*64 MACs. (A persistent int8 NHWC layout would avoid it but
   would change the artifact for every other op; measured packing is a few % of the conv.)
   The (128 + zx) * sum(w) correction is computed here per output channel (M*K byte adds with
   VPDPBUSD against ones, no allocation and no new constant tensor) and folded into the bias. */
#include "i8-vnni.h"
#if defined(__x86_64__) || defined(_M_X64)

#define MCH 512

T512 int esdk_conv1x1_i8_avx512(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b,
                                int8_t *y) {
  int64_t HW = (int64_t)a->H * a->W, K = a->C, M = a->M, pt, n, p0, mc, m;
  uint8_t buf[65536] __attribute__((aligned(64)));
  int32_t cb[MCH];
  /* the packed tile ceil(K/4)*4 x pt bytes must fit the buffer */
  pt = K <= 1024 ? 64 : K <= 2048 ? 32 : K <= 4096 ? 16 : 0;
  if (!pt) return 0;
  for (mc = a->m0; mc < a->m1; mc += MCH) {
    int64_t me = mc + MCH < a->m1 ? mc + MCH : a->m1;
    for (m = mc; m < me; m++)
      cb[m - mc] = (int32_t)((uint32_t)(b ? b[m] : 0) -
                             (uint32_t)(128 + a->zx) * (uint32_t)esdk_sum_i8_512(w + m * K, K));
    for (n = 0; n < a->N; n++) {
      const int8_t *X = x + n * K * HW;
      int8_t *Y = y + n * M * HW;
      for (p0 = 0; p0 < HW; p0 += pt) {
        int64_t rem = HW - p0 < pt ? HW - p0 : pt;
        int nv = (int)((rem + 15) / 16);
        esdk_pack_vnni(X + p0, HW, K, rem, nv, buf);
        esdk_gemm_i8_vnni_tile(buf, nv, K, w, K, mc, me, cb, a->mult, a->shift, a->qstride, a->zy, a->qmin,
                               a->qmax, Y + p0, HW, rem);
      }
    }
  }
  return 1;
}
#endif
