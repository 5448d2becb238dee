/* General direct convolution (any KxK, stride, dilation, groups, pads) on NCHW, vectorised
   along the output row: blocks of up to 4 output channels of one group x 32 output columns
   (8 zmm accumulators). Each input vector is loaded once and reused by the 4 channels, which
   is what makes the small-C first layer (3x3/s2, C=3) fast without an im2col buffer, so no
   arena scratch is needed. Padding is handled by lane masks (masked-off lanes are never
   read): stride 1 is a masked load, stride 2 two masked loads and one permute, other strides
   a masked gather. */
#include "avx512.h"
#if defined(__x86_64__) || defined(_M_X64)

#define MAXKW 16 /* masks are precomputed per kernel column; wider kernels decline to scalar */

typedef struct {
  const esdk_conv_args *a;
  const float *xg; /* image n, first channel of the group */
  int64_t cg, ow0;
  __mmask16 m1[MAXKW][4];  /* per kw, per vector: valid output lanes (input column in range) */
  __mmask32 m2[MAXKW][4];  /* stride 2: valid input positions of the two source vectors */
  int64_t base[MAXKW];     /* first input column of the tile for kw (may be negative) */
} tile_ctx;

static T512 __m512 load_cols(const tile_ctx *t, const float *row, int kw, int v) {
  const esdk_conv_args *a = t->a;
  int64_t s = a->sw, b0 = t->base[kw] + 16 * v * s;
  if (s == 1) return _mm512_maskz_loadu_ps(t->m1[kw][v], row + b0);
  if (s == 2) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    __mmask32 mm = t->m2[kw][v];
    __m512 p = _mm512_maskz_loadu_ps((__mmask16)(mm & 0xFFFF), row + b0);
    __m512 q = _mm512_maskz_loadu_ps((__mmask16)(mm >> 16), row + b0 + 16);
    return _mm512_permutex2var_ps(p, even, q);
  }
  {
    __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                     _mm512_set1_epi32((int)s));
    idx = _mm512_add_epi32(idx, _mm512_set1_epi32((int)b0));
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), t->m1[kw][v], idx, row, 4);
  }
}

#define BLOCK(NAME, R, V)                                                                                        \
  static T512 void NAME(const tile_ctx *t, const float *w, const float *b, float *y, int64_t ystride, int64_t oh, \
                        __mmask16 mst, __m512 lo, __m512 hi) {                                                   \
    const esdk_conv_args *a = t->a;                                                                              \
    int64_t KK = (int64_t)a->KH * a->KW, ci, kh;                                                                 \
    __m512 c[R][V];                                                                                              \
    int r, v, kw;                                                                                                \
    ESDK_UNROLL for (r = 0; r < R; r++)                                                                                      \
      ESDK_UNROLL for (v = 0; v < V; v++) c[r][v] = _mm512_set1_ps(b ? b[r] : 0.0f);                                         \
    for (ci = 0; ci < t->cg; ci++)                                                                               \
      for (kh = 0; kh < a->KH; kh++) {                                                                           \
        int64_t ih = oh * a->sh - a->pt + kh * a->dh;                                                            \
        const float *row, *wk = w + ci * KK + kh * a->KW;                                                        \
        if (ih < 0 || ih >= a->H) continue;                                                                      \
        row = t->xg + (ci * a->H + ih) * a->W;                                                                   \
        for (kw = 0; kw < a->KW; kw++) {                                                                         \
          __m512 xv[V];                                                                                          \
          ESDK_UNROLL for (v = 0; v < V; v++) xv[v] = load_cols(t, row, kw, v);                                              \
          ESDK_UNROLL for (r = 0; r < R; r++) {                                                                              \
            __m512 wv = _mm512_set1_ps(wk[r * t->cg * KK + kw]);                                                 \
            ESDK_UNROLL for (v = 0; v < V; v++) c[r][v] = _mm512_fmadd_ps(wv, xv[v], c[r][v]);                               \
          }                                                                                                      \
        }                                                                                                        \
      }                                                                                                          \
    ESDK_UNROLL for (r = 0; r < R; r++)                                                                                      \
      ESDK_UNROLL for (v = 0; v < V; v++) {                                                                                  \
        __m512 o = esdk_clamp512(c[r][v], lo, hi);                                                               \
        if (v == V - 1) _mm512_mask_storeu_ps(y + r * ystride + 16 * v, mst, o);                                 \
        else _mm512_storeu_ps(y + r * ystride + 16 * v, o);                                                      \
      }                                                                                                          \
  }

BLOCK(b4v2, 4, 2)
BLOCK(b4v1, 4, 1)
BLOCK(b1v4, 1, 4)
BLOCK(b1v3, 1, 3)
BLOCK(b1v2, 1, 2)
BLOCK(b1v1, 1, 1)

typedef void (*blk_fn)(const tile_ctx *, const float *, const float *, float *, int64_t, int64_t, __mmask16, __m512,
                       __m512);
static blk_fn const k_r4[3] = {0, b4v1, b4v2};
static blk_fn const k_r1[5] = {0, b1v1, b1v2, b1v3, b1v4};

T512 int esdk_conv2d_f32_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y) {
  int64_t cg = a->C / a->group, mg = a->M / a->group, KK = (int64_t)a->KH * a->KW, OHW = (int64_t)a->OH * a->OW;
  int64_t n, oh, ow0, m;
  __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
  tile_ctx t;
  /* short reductions (first layer): gather a patch once, then a small register-tiled GEMM */
  if (esdk_conv2d_f32_patch_avx512(a, x, w, b, y)) return 1;
  if (a->KW > MAXKW) return 0;
  t.a = a;
  t.cg = cg;
  for (n = 0; n < a->N; n++)
    for (oh = 0; oh < a->OH; oh++) {
      /* 4 output channels share input vectors; depthwise (mg == 1) has no reuse, so it takes
         up to 64 columns per block instead to keep 4 independent FMA chains */
      int64_t tw = mg >= 4 ? 32 : 64;
      for (ow0 = 0; ow0 < a->OW; ow0 += tw) {
        int64_t cnt = a->OW - ow0 < tw ? a->OW - ow0 : tw;
        int nv = (int)((cnt + 15) / 16), kw, v;
        __mmask16 mst = esdk_mask16(cnt - 16 * (nv - 1));
        t.ow0 = ow0;
        for (kw = 0; kw < a->KW; kw++) {
          t.base[kw] = ow0 * a->sw - a->pl + (int64_t)kw * a->dw;
          for (v = 0; v < nv; v++) {
            __mmask16 mk = 0;
            __mmask32 m2 = 0;
            int i;
            for (i = 0; i < 16 && 16 * v + i < cnt; i++) {
              int64_t col = t.base[kw] + (16 * v + i) * a->sw;
              if (col >= 0 && col < a->W) {
                mk |= (__mmask16)(1u << i);
                m2 |= (__mmask32)1u << (2 * i);
              }
            }
            t.m1[kw][v] = mk;
            t.m2[kw][v] = m2;
          }
        }
        for (m = a->m0; m < a->m1;) {
          int64_t g = m / mg, gend = (g + 1) * mg, end = gend < a->m1 ? gend : a->m1;
          float *yp = y + (n * a->M + m) * OHW + oh * a->OW + ow0;
          t.xg = x + (n * a->C + g * cg) * a->H * a->W;
          if (end - m >= 4 && nv <= 2) {
            k_r4[nv](&t, w + m * cg * KK, b ? b + m : 0, yp, OHW, oh, mst, lo, hi);
            m += 4;
          } else {
            k_r1[nv](&t, w + m * cg * KK, b ? b + m : 0, yp, OHW, oh, mst, lo, hi);
            m += 1;
          }
        }
      }
    }
  return 1;
}
#endif
