/* Depthwise 3x3, stride 1, rows narrower than 16 outputs (DS-CNN's 25x5 maps, MobileNet's 7x7)
   and at most 512 outputs per channel: the channel's output map is taken as one flat vector of
   OH*OW pixels. With OW == W (stride 1, left + right pad 2), output pixel q = oh*W + ow reads
   input q + (kh - pt)*W + (kw - pl) for tap (kh, kw), so every tap is one masked load of the
   flat input, the mask holding the lanes whose tap lies inside the map (the rest is the zero
   padding; masked-off lanes are never read, so loads before or past the channel are safe).
   The masks depend only on the shape: built once per call, shared by every channel. Up to 8
   vectors (128 pixels) per step, 8 independent FMA chains.
   The row kernel (4x16) declines rows under 9 outputs and the padded-plane kernel spends most
   of a 5-wide channel copying it in and out with masked row stores: 64ch 25x5 took 8.7 us
   there, for 72k MACs. */
#include "avx512.h"
#if defined(__x86_64__) || defined(_M_X64)

#define MAXV 32 /* 512 outputs per channel: 288 masks on the stack */

/* Loads instead of shifting lanes of loaded vectors (valignd / vpermt2ps): in a C harness (64ch
   25x5, interleaved, medians of 301) 9 masked loads per output vector 4.7 us, one load per vector
   and 8 two-source permutes 5.2 us, 6 loads + 2 permutes 5.2 us; the FMAs alone (no loads, no
   masks) 2.0 us. Two channels per step share each mask (one k-register load for two loads and
   FMAs): 4.9 -> 4.0 us; full vectors stored unmasked. NC channels (1 or 2) of V vectors. */
#define FLAT(NAME, V, NC)                                                                                        \
  static T512 void NAME(const float *xc, int64_t xs, const int64_t *d, const __mmask16 *mk, const float *wc,     \
                        const float *bc, float *yc, int64_t ys, int64_t left, __m512 vlo, __m512 vhi) {          \
    __m512 acc[NC][V];                                                                                           \
    int k, q, i;                                                                                                 \
    ESDK_UNROLL for (i = 0; i < NC; i++) ESDK_UNROLL for (q = 0; q < V; q++)                                     \
      acc[i][q] = _mm512_set1_ps(bc ? bc[i] : 0.0f);                                                             \
    ESDK_UNROLL for (k = 0; k < 9; k++) {                                                                        \
      __m512 wk[NC];                                                                                             \
      ESDK_UNROLL for (i = 0; i < NC; i++) wk[i] = _mm512_set1_ps(wc[9 * i + k]);                                \
      ESDK_UNROLL for (q = 0; q < V; q++) {                                                                      \
        __mmask16 m = mk[q * 9 + k];                                                                             \
        ESDK_UNROLL for (i = 0; i < NC; i++)                                                                     \
          acc[i][q] = _mm512_fmadd_ps(wk[i], _mm512_maskz_loadu_ps(m, xc + i * xs + 16 * q + d[k]), acc[i][q]);  \
      }                                                                                                          \
    }                                                                                                            \
    ESDK_UNROLL for (i = 0; i < NC; i++) ESDK_UNROLL for (q = 0; q < V; q++) {                                   \
      __m512 v = esdk_clamp512(acc[i][q], vlo, vhi);                                                             \
      if (left - 16 * q >= 16)                                                                                   \
        _mm512_storeu_ps(yc + i * ys + 16 * q, v);                                                               \
      else                                                                                                       \
        _mm512_mask_storeu_ps(yc + i * ys + 16 * q, esdk_mask16(left - 16 * q), v);                              \
    }                                                                                                            \
  }
FLAT(flat1, 1, 1)
FLAT(flat2, 2, 1)
FLAT(flat3, 3, 1)
FLAT(flat4, 4, 1)
FLAT(flat5, 5, 1)
FLAT(flat6, 6, 1)
FLAT(flat7, 7, 1)
FLAT(flat8, 8, 1)
FLAT(pair1, 1, 2)
FLAT(pair2, 2, 2)
FLAT(pair3, 3, 2)
FLAT(pair4, 4, 2)
FLAT(pair5, 5, 2)
FLAT(pair6, 6, 2)
FLAT(pair7, 7, 2)
FLAT(pair8, 8, 2)
typedef void (*flat_fn)(const float *, int64_t, const int64_t *, const __mmask16 *, const float *, const float *,
                        float *, int64_t, int64_t, __m512, __m512);
static flat_fn const k_flat[2][9] = {{0, flat1, flat2, flat3, flat4, flat5, flat6, flat7, flat8},
                                     {0, pair1, pair2, pair3, pair4, pair5, pair6, pair7, pair8}};

T512 int esdk_dwconv3x3_f32_flat_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b,
                                         float *y) {
  const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  int64_t H = a->H, W = a->W, P = (int64_t)a->OH * a->OW, nv = (P + 15) / 16, n, c, j, j0;
  __mmask16 mk[MAXV * 9];
  int64_t d[9];
  __m512 vlo = _mm512_set1_ps(a->lo), vhi = _mm512_set1_ps(a->hi);
  int k;
  if (a->sh != 1 || a->sw != 1 || a->dh != 1 || a->dw != 1 || a->OW != W || W >= 16 || P < 1 || nv > MAXV ||
      a->pt < 0 || a->pt > 2 || a->pl < 0 || a->pl > 2)
    return 0;
  for (k = 0; k < 9; k++) d[k] = (k / 3 - a->pt) * W + (k % 3 - a->pl);
  for (j = 0; j < nv; j++) {
    /* row and column of each lane's output pixel: (q + 0.5) / W is at least 0.5 / W from an
       integer and q < 512, so the float quotient truncates to the exact row */
    __m512i q = _mm512_add_epi32(iota, _mm512_set1_epi32((int)(16 * j)));
    __m512i oh = _mm512_cvttps_epi32(_mm512_div_ps(_mm512_add_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(0.5f)),
                                                   _mm512_set1_ps((float)W)));
    __m512i ow = _mm512_sub_epi32(q, _mm512_mullo_epi32(oh, _mm512_set1_epi32((int)W)));
    __mmask16 in = _mm512_cmplt_epi32_mask(q, _mm512_set1_epi32((int)P)), rok[3], cok[3];
    for (k = 0; k < 3; k++) {
      __m512i ih = _mm512_add_epi32(oh, _mm512_set1_epi32(k - a->pt)), iw = _mm512_add_epi32(ow, _mm512_set1_epi32(k - a->pl));
      rok[k] = _mm512_cmpge_epi32_mask(ih, _mm512_setzero_si512()) & _mm512_cmplt_epi32_mask(ih, _mm512_set1_epi32((int)H));
      cok[k] = _mm512_cmpge_epi32_mask(iw, _mm512_setzero_si512()) & _mm512_cmplt_epi32_mask(iw, _mm512_set1_epi32((int)W));
    }
    for (k = 0; k < 9; k++) mk[j * 9 + k] = in & rok[k / 3] & cok[k % 3];
  }
  for (n = 0; n < a->N; n++)
    for (c = a->m0; c < a->m1; c += 2) {
      int two = c + 1 < a->m1;
      const float *xc = x + (n * a->C + c) * H * W;
      float *yc = y + (n * a->M + c) * P;
      for (j0 = 0; j0 < nv; j0 += 8) {
        int64_t cnt = nv - j0 < 8 ? nv - j0 : 8;
        k_flat[two][cnt](xc + 16 * j0, H * W, d, mk + j0 * 9, w + c * 9, b ? b + c : 0, yc + 16 * j0, P, P - 16 * j0,
                         vlo, vhi);
      }
    }
  return 1;
}
#endif
