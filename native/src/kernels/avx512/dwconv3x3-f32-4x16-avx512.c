/* Depthwise 3x3 straight from the input, no padded plane: stride 1 with rows of 9..112
   outputs, stride 2 with rows of 5..64 (every MobileNet depthwise layer but the 7x7 one). V zmm
   per output row, masked loads (lanes outside the input are the zero padding), so there is no
   border code, copy-in or compaction; rows above or below the input read a zero row. Output
   rows go in blocks of R that walk their input rows once, each input vector feeding the up to
   3 output rows that use it. Stride 1: an input row is V + 1 loads starting at column -pl, the
   kw = 1 / 2 taps shifted in from the next vector (valignd), instead of 3V masked loads at
   offsets kw - pl, most of them split across cache lines. Stride 2: the even / odd lanes of a
   pair of loads (one permute per tap). R x V >= 4 independent FMA chains (one vector alone is
   FMA-latency bound): 1-vector rows in blocks of 7 (14x14 maps and 7-wide stride-2 outputs: no
   partial block), 2-vector rows in blocks of 4, 3-4-vector rows in blocks of 2, 5-7-vector rows
   one at a time (two at a time: 7 x 2 accumulators + 8 input vectors + 9 weights spill; 0.147
   vs 0.124 ms on 32ch 112x112 in the model, same process), stride-2 rows of 3-4 vectors one at a
   time (two at a time measured 0.69x in the model: the four loads
   and three permutes per vector and tap row spill).
   In MobileNetV1 at 90% (this kernel against the previous one, which loaded every tap for every
   output row, in blocks of 4 / 2 / 1 rows for 1 / 2 / 3+ vectors; two builds interleaved in one
   process, medians of 21, load 3.8): stride 1 32ch 112x112 0.148 -> 0.126 ms (2-row blocks), 128ch 56x56
   0.185 -> 0.115, 256ch 28x28 0.067 -> 0.050, 512ch 14x14 0.033 -> 0.027; stride 2 64ch
   112x112 0.125 -> 0.119, 128ch 56x56 0.074 -> 0.057, 256ch 28x28 0.039 -> 0.028, 512ch 14x14
   0.040 -> 0.028. The first version against the padded-plane kernel (C harness, median of 31):
   stride 1 512ch 14x14 57 -> 31 us, 256ch 28x28 91 -> 62, 128ch 56x56 180 -> 145, 32ch 112x112
   186 -> 130; stride 2 64ch 112x112 150 -> 109, 128ch 56x56 79 -> 68, 256ch 28x28 53 -> 37,
   512ch 14x14 47 -> 37. The plane kernel keeps 7-wide maps (one vector per row would be mostly
   empty lanes). */
#include "avx512.h"
#if defined(__x86_64__) || defined(_M_X64)

#define MAXW 112 /* 7 vectors */
static const float zero_row[160] __attribute__((aligned(64)));

/* stride 1, R output rows of V vectors per block: each of the R + 2 input rows is loaded once as
   V + 1 vectors starting at column -pl (aligned to the output vectors), the kw = 1 / 2 taps made
   by shifting lanes in from the next vector (valignd), and fed to the up to 3 output rows that
   use it. mv[j]: lanes of vector j inside the input columns the row needs (the rest, padding
   included, load as zero). */
#define DWALIGN(NAME, V, R)                                                                                      \
  static T512 void NAME(const float *xc, const float *wc, float bias, float *yc, const esdk_conv_args *a,         \
                        const __mmask16 *mv, const __mmask16 *ms, __m512 vlo, __m512 vhi) {                      \
    int64_t OH = a->OH, OW = a->OW, H = a->H, W = a->W, oh;                                                      \
    __m512 wv[9], vb = _mm512_set1_ps(bias);                                                                     \
    int k;                                                                                                       \
    for (k = 0; k < 9; k++) wv[k] = _mm512_set1_ps(wc[k]);                                                       \
    for (oh = 0; oh < OH; oh += R) {                                                                             \
      __m512 acc[R][V];                                                                                          \
      int r, q, i, j, nr = OH - oh < R ? (int)(OH - oh) : R;                                                     \
      ESDK_UNROLL for (r = 0; r < R; r++) ESDK_UNROLL for (q = 0; q < V; q++) acc[r][q] = vb;                    \
      ESDK_UNROLL for (i = 0; i < R + 2; i++) {                                                                  \
        int64_t ih = oh + i - a->pt;                                                                             \
        const float *rp = (ih >= 0 && ih < H ? xc + ih * W : zero_row + 16) - a->pl;                             \
        __m512i v[V + 1];                                                                                        \
        ESDK_UNROLL for (j = 0; j <= V; j++) v[j] = _mm512_castps_si512(_mm512_maskz_loadu_ps(mv[j], rp + 16 * j)); \
        ESDK_UNROLL for (q = 0; q < V; q++) {                                                                    \
          __m512 t0 = _mm512_castsi512_ps(v[q]);                                                                 \
          __m512 t1 = _mm512_castsi512_ps(_mm512_alignr_epi32(v[q + 1], v[q], 1));                               \
          __m512 t2 = _mm512_castsi512_ps(_mm512_alignr_epi32(v[q + 1], v[q], 2));                               \
          ESDK_UNROLL for (r = (i - 2 > 0 ? i - 2 : 0); r <= (i < R - 1 ? i : R - 1); r++)                       \
            acc[r][q] = _mm512_fmadd_ps(wv[(i - r) * 3 + 2], t2,                                                 \
                          _mm512_fmadd_ps(wv[(i - r) * 3 + 1], t1, _mm512_fmadd_ps(wv[(i - r) * 3], t0, acc[r][q]))); \
        }                                                                                                        \
      }                                                                                                          \
      for (r = 0; r < nr; r++) ESDK_UNROLL for (q = 0; q < V; q++)                                               \
        _mm512_mask_storeu_ps(yc + (oh + r) * OW + 16 * q, ms[q], esdk_clamp512(acc[r][q], vlo, vhi));           \
    }                                                                                                            \
  }
DWALIGN(align1x7, 1, 7)
DWALIGN(align2x4, 2, 4)
DWALIGN(align4x2, 4, 2)
DWALIGN(align7x1, 7, 1)

/* stride 2: output lane l of vector q reads input columns 32q + 2l + kw - pl: kw 0 / 1 are the
   even / odd lanes of one pair of loads, kw 2 the even lanes of a pair two columns on; loads
   masked to [0, W) (mk2: [kw' * 16 + q * 2 + half], kw' 0: the pair for kw 0/1, 1: for kw 2) */
#define DWROWS2(NAME, V, R)                                                                                      \
  static T512 void NAME(const float *xc, const float *wc, float bias, float *yc, const esdk_conv_args *a,         \
                        const __mmask16 *mk2, const __mmask16 *ms, __m512 vlo, __m512 vhi) {                     \
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);           \
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);            \
    int64_t OH = a->OH, OW = a->OW, H = a->H, W = a->W, oh;                                                      \
    __m512 wv[9], vb = _mm512_set1_ps(bias);                                                                     \
    int k;                                                                                                       \
    for (k = 0; k < 9; k++) wv[k] = _mm512_set1_ps(wc[k]);                                                       \
    for (oh = 0; oh < OH; oh += R) {                                                                             \
      __m512 acc[R][V];                                                                                          \
      int r, q, i, nr = OH - oh < R ? (int)(OH - oh) : R;                                                        \
      ESDK_UNROLL for (r = 0; r < R; r++) ESDK_UNROLL for (q = 0; q < V; q++) acc[r][q] = vb;                    \
      /* input row i of the block (2 oh + i - pt) feeds output rows r with kh = i - 2r < 3: the row             \
         shared by two output rows is loaded and deinterleaved once */                                           \
      ESDK_UNROLL for (i = 0; i < 2 * R + 1; i++) {                                                              \
        int64_t ih = 2 * oh + i - a->pt;                                                                         \
        const float *rp = (ih >= 0 && ih < H ? xc + ih * W : zero_row + 16) - a->pl;                             \
        ESDK_UNROLL for (q = 0; q < V; q++) {                                                                    \
          __m512 a0 = _mm512_maskz_loadu_ps(mk2[q * 2], rp + 32 * q);                                            \
          __m512 a1 = _mm512_maskz_loadu_ps(mk2[q * 2 + 1], rp + 32 * q + 16);                                   \
          __m512 b0 = _mm512_maskz_loadu_ps(mk2[16 + q * 2], rp + 32 * q + 2);                                   \
          __m512 b1 = _mm512_maskz_loadu_ps(mk2[16 + q * 2 + 1], rp + 32 * q + 18);                              \
          __m512 t0 = _mm512_permutex2var_ps(a0, even, a1), t1 = _mm512_permutex2var_ps(a0, odd, a1);            \
          __m512 t2 = _mm512_permutex2var_ps(b0, even, b1);                                                      \
          for (r = (i - 1) / 2 > 0 ? (i - 1) / 2 : 0; r <= (i / 2 < R - 1 ? i / 2 : R - 1); r++)     \
            acc[r][q] = _mm512_fmadd_ps(wv[(i - 2 * r) * 3 + 2], t2,                                             \
                          _mm512_fmadd_ps(wv[(i - 2 * r) * 3 + 1], t1,                                           \
                            _mm512_fmadd_ps(wv[(i - 2 * r) * 3], t0, acc[r][q])));                               \
        }                                                                                                        \
      }                                                                                                          \
      for (r = 0; r < nr; r++) ESDK_UNROLL for (q = 0; q < V; q++)                                               \
        _mm512_mask_storeu_ps(yc + (oh + r) * OW + 16 * q, ms[q], esdk_clamp512(acc[r][q], vlo, vhi));           \
    }                                                                                                            \
  }
DWROWS2(rows2s1x7, 1, 7)
DWROWS2(rows2s2x4, 2, 4)
DWROWS2(rows2s4x1, 4, 1)

/* stride 2, rows of 5..64 outputs; 0 when not taken */
static T512 int dw_stride2(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y) {
  int64_t OW = a->OW, W = a->W, n, c, q, h, j;
  __m512 vlo = _mm512_set1_ps(a->lo), vhi = _mm512_set1_ps(a->hi);
  __mmask16 mk2[32], ms[4];
  int nv = (int)((OW + 15) / 16);
  if (a->sh != 2 || a->sw != 2 || OW < 5 || OW > 64 || a->pt < 0 || a->pt > 2 || a->pl < 0 || a->pl > 2) return 0;
  for (j = 0; j < 2; j++)
    for (q = 0; q < 4; q++)
      for (h = 0; h < 2; h++) {
        /* lanes of the load at input column 32q + 16h + 2j - pl + lane: inside [0, W) */
        int64_t c0 = 32 * q + 16 * h + 2 * j - a->pl, l0 = -c0, l1 = W - c0;
        l0 = l0 < 0 ? 0 : l0 > 16 ? 16 : l0;
        l1 = l1 < 0 ? 0 : l1 > 16 ? 16 : l1;
        mk2[j * 16 + q * 2 + h] = l1 > l0 ? (__mmask16)(esdk_mask16(l1) & ~esdk_mask16(l0)) : 0;
      }
  for (q = 0; q < 4; q++) ms[q] = esdk_mask16(OW - 16 * q > 0 ? OW - 16 * q : 0);
  for (n = 0; n < a->N; n++)
    for (c = a->m0; c < a->m1; c++) {
      const float *xc = x + (n * a->C + c) * a->H * W;
      float *yc = y + (n * a->M + c) * a->OH * OW;
      (nv == 1 ? rows2s1x7 : nv == 2 ? rows2s2x4 : rows2s4x1)(xc, w + c * 9, b ? b[c] : 0.0f, yc, a, mk2, ms, vlo, vhi);
    }
  return 1;
}

T512 int esdk_dwconv3x3_f32_4x16_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b,
                                          float *y) {
  int64_t OW = a->OW, W = a->W, n, c, q;
  __m512 vlo = _mm512_set1_ps(a->lo), vhi = _mm512_set1_ps(a->hi);
  __mmask16 mv[8], ms[8]; /* loads of the aligned input vectors; stores */
  int nv = (int)((OW + 15) / 16);
  if (dw_stride2(a, x, w, b, y)) return 1;
  if (a->sh != 1 || a->sw != 1 || OW < 9 || OW > MAXW || a->pt < 0 || a->pt > 2 || a->pl < 0 || a->pl > 2) return 0;
  for (q = 0; q < 8; q++) {
    /* lane l of aligned vector q is input column 16q + l - pl: inside [0, W), and below OW + 2 - pl,
       the last column any output reads */
    int64_t l0 = a->pl - 16 * q, l1 = (W < OW + 2 - a->pl ? W : OW + 2 - a->pl) + a->pl - 16 * q;
    l0 = l0 < 0 ? 0 : l0 > 16 ? 16 : l0;
    l1 = l1 < 0 ? 0 : l1 > 16 ? 16 : l1;
    mv[q] = l1 > l0 ? (__mmask16)(esdk_mask16(l1) & ~esdk_mask16(l0)) : 0;
    ms[q] = esdk_mask16(OW - 16 * q > 0 ? OW - 16 * q : 0);
  }
  for (n = 0; n < a->N; n++)
    for (c = a->m0; c < a->m1; c++) {
      const float *xc = x + (n * a->C + c) * a->H * W;
      float *yc = y + (n * a->M + c) * a->OH * OW;
      (nv == 1 ? align1x7 : nv == 2 ? align2x4 : nv <= 4 ? align4x2 : align7x1)(xc, w + c * 9, b ? b[c] : 0.0f, yc, a, mv,
                                                                                 ms, vlo, vhi);
    }
  return 1;
}
#endif
