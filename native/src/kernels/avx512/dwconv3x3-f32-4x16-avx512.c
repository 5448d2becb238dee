/* Depthwise 3x3, stride 1, rows of 9..112 outputs (MobileNet's stride-1 layers, 14x14 to
   112x112): V zmm per output row straight from the input, no padded plane. Each tap is a masked
   load of the input row at column offset kw - pl, the mask dropping the lanes past the row or
   outside the input (those are the zero padding), so there is no border code, copy-in or
   compaction. Rows above or below the input read a zero row. R x V >= 4 independent FMA chains
   (4 rows of one vector, 2 rows of two; one vector alone is FMA-latency bound); 3 / 5 / 6
   vectors run the 4 / 7-vector step with the extra vectors fully masked. Measured against the
   padded-plane kernel (C harness, interleaved): 512ch 14x14 79 -> 42 us, 256ch 28x28 124 -> 74,
   128ch 56x56 232 -> 165, 32ch 112x112 230 -> 158; the plane kernel keeps stride 2 and rows
   under 9. */
#include "avx512.h"
#if defined(__x86_64__) || defined(_M_X64)

#define MAXW 112 /* 7 vectors */
static const float zero_row[160] __attribute__((aligned(64)));

#define DWROWS(NAME, V, R)                                                                                       \
  static T512 void NAME(const float *xc, const float *wc, float bias, float *yc, const esdk_conv_args *a,         \
                        const __mmask16 *mk, __m512 vlo, __m512 vhi) {                                           \
    int64_t OH = a->OH, OW = a->OW, H = a->H, W = a->W, oh;                                                      \
    __m512 wv[9], vb = _mm512_set1_ps(bias);                                                                     \
    int k;                                                                                                       \
    for (k = 0; k < 9; k++) wv[k] = _mm512_set1_ps(wc[k]);                                                       \
    for (oh = 0; oh < OH; oh += R) {                                                                             \
      const float *rows[R + 2];                                                                                  \
      __m512 acc[R][V];                                                                                          \
      int r, q, kh, kw, nr = OH - oh < R ? (int)(OH - oh) : R;                                                   \
      for (r = 0; r < R + 2; r++) {                                                                              \
        int64_t ih = oh + r - a->pt;                                                                             \
        rows[r] = (ih >= 0 && ih < H ? xc + ih * W : zero_row + 16) - a->pl;                                     \
      }                                                                                                          \
      ESDK_UNROLL for (r = 0; r < R; r++) ESDK_UNROLL for (q = 0; q < V; q++) acc[r][q] = vb;                    \
      ESDK_UNROLL for (kh = 0; kh < 3; kh++) ESDK_UNROLL for (kw = 0; kw < 3; kw++)                              \
        ESDK_UNROLL for (r = 0; r < R; r++) ESDK_UNROLL for (q = 0; q < V; q++)                                  \
          acc[r][q] = _mm512_fmadd_ps(wv[kh * 3 + kw],                                                           \
                                      _mm512_maskz_loadu_ps(mk[kw * 8 + q], rows[r + kh] + kw + 16 * q), acc[r][q]); \
      for (r = 0; r < nr; r++) ESDK_UNROLL for (q = 0; q < V; q++)                                               \
        _mm512_mask_storeu_ps(yc + (oh + r) * OW + 16 * q, mk[24 + q], esdk_clamp512(acc[r][q], vlo, vhi));       \
    }                                                                                                            \
  }
DWROWS(rows1x4, 1, 4)
DWROWS(rows2x2, 2, 2)
DWROWS(rows4x1, 4, 1)
DWROWS(rows7x1, 7, 1)

T512 int esdk_dwconv3x3_f32_rows16_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b,
                                          float *y) {
  int64_t OW = a->OW, W = a->W, n, c, kw, q;
  __m512 vlo = _mm512_set1_ps(a->lo), vhi = _mm512_set1_ps(a->hi);
  __mmask16 mk[32]; /* [kw * 8 + q]: tap loads of vector q; [24 + q]: stores */
  int nv = (int)((OW + 15) / 16);
  if (a->sh != 1 || a->sw != 1 || OW < 9 || OW > MAXW || a->pt < 0 || a->pt > 2 || a->pl < 0 || a->pl > 2) return 0;
  for (kw = 0; kw < 3; kw++)
    for (q = 0; q < 8; q++) {
      /* lane l of vector q is output column ow = 16q + l, reading input column ow + kw - pl:
         inside [0, W) and ow < OW */
      int64_t l0 = a->pl - kw - 16 * q, l1 = (W + a->pl - kw < OW ? W + a->pl - kw : OW) - 16 * q;
      l0 = l0 < 0 ? 0 : l0 > 16 ? 16 : l0;
      l1 = l1 < 0 ? 0 : l1 > 16 ? 16 : l1;
      mk[kw * 8 + q] = l1 > l0 ? (__mmask16)(esdk_mask16(l1) & ~esdk_mask16(l0)) : 0;
    }
  for (q = 0; q < 8; q++) mk[24 + q] = esdk_mask16(OW - 16 * q > 0 ? OW - 16 * q : 0);
  for (n = 0; n < a->N; n++)
    for (c = a->m0; c < a->m1; c++) {
      const float *xc = x + (n * a->C + c) * a->H * W;
      float *yc = y + (n * a->M + c) * a->OH * OW;
      (nv == 1 ? rows1x4 : nv == 2 ? rows2x2 : nv <= 4 ? rows4x1 : rows7x1)(xc, w + c * 9, b ? b[c] : 0.0f, yc, a, mk, vlo, vhi);
    }
  return 1;
}
#endif
