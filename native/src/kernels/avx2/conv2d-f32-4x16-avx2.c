/* General direct convolution (any KxK, stride, dilation, groups, pads) on NCHW for AVX2:
   blocks of up to 4 output channels of one group x 16 output columns (8 ymm accumulators),
   each input vector loaded once for the 4 channels (see conv2d-f32-4x32-avx512.c for the
   design). Padding is handled by lane masks (masked lanes are never read); stride 1 is a
   masked load, other strides a masked gather. */
#include "avx2.h"
#if defined(__x86_64__) || defined(_M_X64)

#define MAXKW 16

typedef struct {
  const esdk_conv_args *a;
  const float *xg;
  int64_t cg;
  __m256i mk[MAXKW][4]; /* per kw, per vector: lanes whose input column is inside the row */
  int64_t base[MAXKW];
} tile_ctx;

static T256 __m256 load_cols(const tile_ctx *t, const float *row, int kw, int v) {
  int64_t s = t->a->sw, b0 = t->base[kw] + 8 * v * s;
  __m256i idx;
  if (s == 1) return _mm256_maskload_ps(row + b0, t->mk[kw][v]);
  idx = _mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0), _mm256_set1_epi32((int)s));
  idx = _mm256_add_epi32(idx, _mm256_set1_epi32((int)b0));
  return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), row, idx, _mm256_castsi256_ps(t->mk[kw][v]), 4);
}

#define BLOCK(NAME, R, V)                                                                                        \
  static T256 void NAME(const tile_ctx *t, const float *w, const float *b, float *y, int64_t ystride, int64_t oh, \
                        __m256i mst, __m256 lo, __m256 hi) {                                                     \
    const esdk_conv_args *a = t->a;                                                                              \
    int64_t KK = (int64_t)a->KH * a->KW, ci, kh;                                                                 \
    __m256 c[R][V];                                                                                              \
    int r, v, kw;                                                                                                \
    ESDK_UNROLL for (r = 0; r < R; r++)                                                                                      \
      ESDK_UNROLL for (v = 0; v < V; v++) c[r][v] = _mm256_set1_ps(b ? b[r] : 0.0f);                                         \
    for (ci = 0; ci < t->cg; ci++)                                                                               \
      for (kh = 0; kh < a->KH; kh++) {                                                                           \
        int64_t ih = oh * a->sh - a->pt + kh * a->dh;                                                            \
        const float *row, *wk = w + ci * KK + kh * a->KW;                                                        \
        if (ih < 0 || ih >= a->H) continue;                                                                      \
        row = t->xg + (ci * a->H + ih) * a->W;                                                                   \
        for (kw = 0; kw < a->KW; kw++) {                                                                         \
          __m256 xv[V];                                                                                          \
          ESDK_UNROLL for (v = 0; v < V; v++) xv[v] = load_cols(t, row, kw, v);                                              \
          ESDK_UNROLL for (r = 0; r < R; r++) {                                                                              \
            __m256 wv = _mm256_set1_ps(wk[r * t->cg * KK + kw]);                                                 \
            ESDK_UNROLL for (v = 0; v < V; v++) c[r][v] = _mm256_fmadd_ps(wv, xv[v], c[r][v]);                               \
          }                                                                                                      \
        }                                                                                                        \
      }                                                                                                          \
    ESDK_UNROLL for (r = 0; r < R; r++)                                                                                      \
      ESDK_UNROLL for (v = 0; v < V; v++) {                                                                                  \
        __m256 o = esdk_clamp256(c[r][v], lo, hi);                                                               \
        if (v == V - 1) _mm256_maskstore_ps(y + r * ystride + 8 * v, mst, o);                                    \
        else _mm256_storeu_ps(y + r * ystride + 8 * v, o);                                                       \
      }                                                                                                          \
  }

BLOCK(b4v2, 4, 2)
BLOCK(b4v1, 4, 1)
BLOCK(b1v4, 1, 4)
BLOCK(b1v3, 1, 3)
BLOCK(b1v2, 1, 2)
BLOCK(b1v1, 1, 1)

typedef void (*blk_fn)(const tile_ctx *, const float *, const float *, float *, int64_t, int64_t, __m256i, __m256,
                       __m256);
static blk_fn const k_r4[3] = {0, b4v1, b4v2};
static blk_fn const k_r1[5] = {0, b1v1, b1v2, b1v3, b1v4};

T256 int esdk_conv2d_f32_avx2(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y) {
  int64_t cg = a->C / a->group, mg = a->M / a->group, KK = (int64_t)a->KH * a->KW, OHW = (int64_t)a->OH * a->OW;
  int64_t n, oh, ow0, m;
  __m256 lo = _mm256_set1_ps(a->lo), hi = _mm256_set1_ps(a->hi);
  tile_ctx t;
  if (a->KW > MAXKW) return 0;
  t.a = a;
  t.cg = cg;
  for (n = 0; n < a->N; n++)
    for (oh = 0; oh < a->OH; oh++) {
      int64_t tw = mg >= 4 ? 16 : 32;
      for (ow0 = 0; ow0 < a->OW; ow0 += tw) {
        int64_t cnt = a->OW - ow0 < tw ? a->OW - ow0 : tw;
        int nv = (int)((cnt + 7) / 8), kw, v;
        __m256i mst = esdk_mask8(cnt - 8 * (nv - 1));
        for (kw = 0; kw < a->KW; kw++) {
          t.base[kw] = ow0 * a->sw - a->pl + (int64_t)kw * a->dw;
          for (v = 0; v < nv; v++) {
            int32_t lanes[8];
            int i;
            for (i = 0; i < 8; i++) {
              int64_t col = t.base[kw] + (8 * v + i) * a->sw;
              lanes[i] = (8 * v + i < cnt && col >= 0 && col < a->W) ? -1 : 0;
            }
            t.mk[kw][v] = _mm256_loadu_si256((const __m256i *)lanes);
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
