/* Block-CSR 1x1 conv (Fast Sparse ConvNets) over 32-pixel tiles: each output row walks its
   nonzero blocks, broadcasting a weight and FMA-ing it into 4 ymm accumulators. NCHW layout
   (unit pixel stride) only; other layouts decline to scalar. K-chunked weights are walked
   chunk after chunk within each row (correct, not faster: the chunking pays on AVX-512). */
#include "avx2.h"
#if defined(__x86_64__) || defined(_M_X64)

#define ROW(NAME, V)                                                                                           \
  static T256 void NAME(const esdk_spmm_args *a, int64_t rb, int64_t r, const float *X, const float *v,         \
                        float bias, float *Yrow, __m256i ml, __m256 lo, __m256 hi) {                            \
    __m256 c[V];                                                                                                \
    int64_t j, cc, ch, nch = a->nch > 1 ? a->nch : 1, nbr = a->M / a->br;                                       \
    int q;                                                                                                      \
    ESDK_UNROLL for (q = 0; q < V; q++) c[q] = _mm256_set1_ps(bias);                                                        \
    for (ch = 0; ch < nch; ch++) /* K-chunked weights: the row's list in each chunk */                         \
    for (j = a->row_ptr[ch * nbr + rb]; j < a->row_ptr[ch * nbr + rb + 1]; j++)                                 \
      for (cc = 0; cc < a->bc; cc++) {                                                                          \
        __m256 wv = _mm256_broadcast_ss(v + (j * a->br + r) * a->bc + cc);                                      \
        const float *xk = X + ((int64_t)a->col_idx[j] * a->bc + cc) * a->xs_k;                                  \
        ESDK_UNROLL for (q = 0; q < V; q++)                                                                                 \
          c[q] = _mm256_fmadd_ps(wv, q == V - 1 ? _mm256_maskload_ps(xk + 8 * q, ml) : _mm256_loadu_ps(xk + 8 * q), c[q]); \
      }                                                                                                         \
    ESDK_UNROLL for (q = 0; q < V; q++) {                                                                                   \
      __m256 o = esdk_clamp256(c[q], lo, hi);                                                                   \
      if (q == V - 1) _mm256_maskstore_ps(Yrow + 8 * q, ml, o);                                                 \
      else _mm256_storeu_ps(Yrow + 8 * q, o);                                                                   \
    }                                                                                                           \
  }

ROW(row4, 4)
ROW(row3, 3)
ROW(row2, 2)
ROW(row1, 1)

typedef void (*row_fn)(const esdk_spmm_args *, int64_t, int64_t, const float *, const float *, float, float *, __m256i,
                       __m256, __m256);
static row_fn const k_row[5] = {0, row1, row2, row3, row4};

T256 int esdk_spmm_f32_avx2(const esdk_spmm_args *a, const float *x, const float *v, const float *b, float *y) {
  int64_t p0, rb, r;
  __m256 lo = _mm256_set1_ps(a->lo), hi = _mm256_set1_ps(a->hi);
  if (a->xs_p != 1 || a->ys_p != 1) return 0;
  for (p0 = 0; p0 < a->P; p0 += 32) {
    int64_t rem = a->P - p0 < 32 ? a->P - p0 : 32;
    int nv = (int)((rem + 7) / 8);
    __m256i ml = esdk_mask8(rem - 8 * (nv - 1));
    for (rb = a->m0 / a->br; rb < a->m1 / a->br; rb++)
      for (r = 0; r < a->br; r++) {
        int64_t m = rb * a->br + r;
        k_row[nv](a, rb, r, x + p0, v, b ? b[m] : 0.0f, y + m * a->ys_m + p0, ml, lo, hi);
      }
  }
  return 1;
}
#endif
