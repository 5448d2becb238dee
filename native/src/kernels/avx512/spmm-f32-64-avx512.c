/* Block-CSR 1x1 conv (Fast Sparse ConvNets): for a 64-pixel tile of X, each output row walks
   its nonzero blocks, broadcasting one weight and FMA-ing it over 4 zmm of input pixels; the
   X tile stays in L1/L2 across all output rows. Only the NCHW layout (unit pixel stride) is
   vectorised; sparse FC with a single row declines to scalar. */
#include "avx512.h"
#if defined(__x86_64__) || defined(_M_X64)

#define ROW(NAME, V)                                                                                            \
  static T512 void NAME(const esdk_spmm_args *a, int64_t rb, int64_t r, const float *X, const float *v,          \
                        float bias, float *Yrow, __mmask16 ml, __m512 lo, __m512 hi) {                           \
    __m512 c[V];                                                                                                 \
    int64_t j, cc;                                                                                               \
    int q;                                                                                                       \
    for (q = 0; q < V; q++) c[q] = _mm512_set1_ps(bias);                                                         \
    for (j = a->row_ptr[rb]; j < a->row_ptr[rb + 1]; j++)                                                        \
      for (cc = 0; cc < a->bc; cc++) {                                                                           \
        __m512 wv = _mm512_set1_ps(v[(j * a->br + r) * a->bc + cc]);                                             \
        const float *xk = X + ((int64_t)a->col_idx[j] * a->bc + cc) * a->xs_k;                                   \
        for (q = 0; q < V; q++)                                                                                  \
          c[q] = _mm512_fmadd_ps(wv, q == V - 1 ? _mm512_maskz_loadu_ps(ml, xk + 16 * q) : _mm512_loadu_ps(xk + 16 * q), \
                                 c[q]);                                                                          \
      }                                                                                                          \
    for (q = 0; q < V; q++) {                                                                                    \
      __m512 o = esdk_clamp512(c[q], lo, hi);                                                                    \
      if (q == V - 1) _mm512_mask_storeu_ps(Yrow + 16 * q, ml, o);                                               \
      else _mm512_storeu_ps(Yrow + 16 * q, o);                                                                   \
    }                                                                                                            \
  }

ROW(row4, 4)
ROW(row3, 3)
ROW(row2, 2)
ROW(row1, 1)

typedef void (*row_fn)(const esdk_spmm_args *, int64_t, int64_t, const float *, const float *, float, float *, __mmask16,
                       __m512, __m512);
static row_fn const k_row[5] = {0, row1, row2, row3, row4};

T512 int esdk_spmm_f32_avx512(const esdk_spmm_args *a, const float *x, const float *v, const float *b, float *y) {
  int64_t p0, rb, r;
  __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
  if (a->xs_p != 1 || a->ys_p != 1) return 0;
  for (p0 = 0; p0 < a->P; p0 += 64) {
    int64_t rem = a->P - p0 < 64 ? a->P - p0 : 64;
    int nv = (int)((rem + 15) / 16);
    __mmask16 ml = esdk_mask16(rem - 16 * (nv - 1));
    for (rb = a->m0 / a->br; rb < a->m1 / a->br; rb++)
      for (r = 0; r < a->br; r++) {
        int64_t m = rb * a->br + r;
        k_row[nv](a, rb, r, x + p0, v, b ? b[m] : 0.0f, y + m * a->ys_m + p0, ml, lo, hi);
      }
  }
  return 1;
}
#endif
