/* int8 block-CSR 1x1 conv over 16-pixel tiles (then 8, then a scalar tail): each output row
   walks its nonzero blocks, widening x - zx to int16 and multiply-accumulating one broadcast
   weight into int32 lanes (SMLAL). The int32 sums equal the scalar kernel's (mod 2^32) and the
   scalar esdk_requant finishes each output: bit-exact with the host. NCHW only (unit pixel
   stride); sparse FC declines to scalar. */
#include "neon.h"
#include "../../runtime/fixedpoint.h"
#if defined(__aarch64__)

/* V = 1 or 2 groups of 8 pixels */
static void row(int V, const esdk_spmm_args *a, int64_t rb, int64_t r, const int8_t *X, const int8_t *v,
                int32_t *acc) {
  int32x4_t c[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
  int16x8_t vzx = vdupq_n_s16((int16_t)a->zx);
  int64_t j, cc;
  int q;
  for (j = a->row_ptr[rb]; j < a->row_ptr[rb + 1]; j++)
    for (cc = 0; cc < a->bc; cc++) {
      int16_t wk = v[(j * a->br + r) * a->bc + cc];
      const int8_t *xk = X + ((int64_t)a->col_idx[j] * a->bc + cc) * a->xs_k;
      for (q = 0; q < V; q++) {
        int16x8_t xv = vsubq_s16(vmovl_s8(vld1_s8(xk + 8 * q)), vzx);
        c[2 * q] = vmlal_n_s16(c[2 * q], vget_low_s16(xv), wk);
        c[2 * q + 1] = vmlal_high_n_s16(c[2 * q + 1], xv, wk);
      }
    }
  for (q = 0; q < 2 * V; q++) vst1q_s32(acc + 4 * q, c[q]);
}

int esdk_spmm_i8_neon(const esdk_spmm_args *a, const int8_t *x, const int8_t *v, const int32_t *b, int8_t *y) {
  int64_t p0, rb, r, j, cc, i;
  int32_t acc[16];
  if (a->xs_p != 1 || a->ys_p != 1) return 0;
  for (p0 = 0; p0 < a->P;) {
    int64_t rem = a->P - p0;
    int V = rem >= 16 ? 2 : rem >= 8 ? 1 : 0, np = V ? 8 * V : 1;
    for (rb = a->m0 / a->br; rb < a->m1 / a->br; rb++)
      for (r = 0; r < a->br; r++) {
        int64_t m = rb * a->br + r;
        int32_t mu = a->mult[m * a->qstride], sh = a->shift[m * a->qstride];
        uint32_t bias = b ? (uint32_t)b[m] : 0u;
        if (V) {
          row(V, a, rb, r, x + p0, v, acc);
        } else {
          uint32_t s = 0;
          for (j = a->row_ptr[rb]; j < a->row_ptr[rb + 1]; j++)
            for (cc = 0; cc < a->bc; cc++)
              s += (uint32_t)(v[(j * a->br + r) * a->bc + cc] *
                              (x[((int64_t)a->col_idx[j] * a->bc + cc) * a->xs_k + p0] - a->zx));
          acc[0] = (int32_t)s;
        }
        for (i = 0; i < np; i++)
          y[m * a->ys_m + p0 + i] = esdk_requant((int32_t)(bias + (uint32_t)acc[i]), mu, sh, a->zy, a->qmin, a->qmax);
      }
    p0 += np;
  }
  return 1;
}
#endif
