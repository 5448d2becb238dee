/* Block-CSR 1x1 conv (Fast Sparse ConvNets) over 16-pixel tiles: each output row walks its
   nonzero blocks, broadcasting one weight and FMA-ing it into 4 q-register accumulators along
   HW. NCHW layout (unit pixel stride) only; sparse FC (pixel stride K) declines to scalar.
   The last HW % 4 pixels run a scalar loop: no masked loads on NEON. K-chunked weights are
   walked chunk after chunk within each row. */
#include "neon.h"
#if defined(__aarch64__)

#define ROW(NAME, V)                                                                                      \
  static void NAME(const esdk_spmm_args *a, int64_t rb, int64_t r, const float *X, const float *v,       \
                   float bias, float *Yrow, float32x4_t lo, float32x4_t hi) {                             \
    float32x4_t c[V];                                                                                     \
    int64_t j, cc, ch, nch = a->nch > 1 ? a->nch : 1, nbr = a->M / a->br;                                 \
    int q;                                                                                                \
    for (q = 0; q < V; q++) c[q] = vdupq_n_f32(bias);                                                     \
    for (ch = 0; ch < nch; ch++) /* K-chunked weights: the row's list in each chunk */                   \
    for (j = a->row_ptr[ch * nbr + rb]; j < a->row_ptr[ch * nbr + rb + 1]; j++)                           \
      for (cc = 0; cc < a->bc; cc++) {                                                                    \
        float32x4_t wv = vdupq_n_f32(v[(j * a->br + r) * a->bc + cc]);                                    \
        const float *xk = X + ((int64_t)a->col_idx[j] * a->bc + cc) * a->xs_k;                            \
        for (q = 0; q < V; q++) c[q] = vfmaq_f32(c[q], vld1q_f32(xk + 4 * q), wv);                        \
      }                                                                                                   \
    for (q = 0; q < V; q++) vst1q_f32(Yrow + 4 * q, esdk_clampq(c[q], lo, hi));                           \
  }

ROW(row4, 4)
ROW(row3, 3)
ROW(row2, 2)
ROW(row1, 1)

typedef void (*row_fn)(const esdk_spmm_args *, int64_t, int64_t, const float *, const float *, float, float *,
                       float32x4_t, float32x4_t);
static row_fn const k_row[5] = {0, row1, row2, row3, row4};

int esdk_spmm_f32_neon(const esdk_spmm_args *a, const float *x, const float *v, const float *b, float *y) {
  int64_t p0, rb, r, j, cc, ch, vec_end = a->P & ~(int64_t)3, nch = a->nch > 1 ? a->nch : 1, nbr = a->M / a->br;
  float32x4_t lo = vdupq_n_f32(a->lo), hi = vdupq_n_f32(a->hi);
  if (a->xs_p != 1 || a->ys_p != 1) return 0;
  for (p0 = 0; p0 < vec_end; p0 += 16) {
    int nv = (int)((vec_end - p0 < 16 ? vec_end - p0 : 16) / 4);
    for (rb = a->m0 / a->br; rb < a->m1 / a->br; rb++)
      for (r = 0; r < a->br; r++) {
        int64_t m = rb * a->br + r;
        k_row[nv](a, rb, r, x + p0, v, b ? b[m] : 0.0f, y + m * a->ys_m + p0, lo, hi);
      }
  }
  for (p0 = vec_end; p0 < a->P; p0++)
    for (rb = a->m0 / a->br; rb < a->m1 / a->br; rb++)
      for (r = 0; r < a->br; r++) {
        int64_t m = rb * a->br + r;
        float acc = b ? b[m] : 0.0f, o;
        for (ch = 0; ch < nch; ch++)
          for (j = a->row_ptr[ch * nbr + rb]; j < a->row_ptr[ch * nbr + rb + 1]; j++)
            for (cc = 0; cc < a->bc; cc++)
              acc += v[(j * a->br + r) * a->bc + cc] * x[((int64_t)a->col_idx[j] * a->bc + cc) * a->xs_k + p0];
        o = acc < a->lo ? a->lo : acc;
        y[m * a->ys_m + p0] = o > a->hi ? a->hi : o;
      }
  return 1;
}
#endif
