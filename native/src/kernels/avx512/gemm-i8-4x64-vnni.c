/* int8 GEMM tile for the VNNI conv kernels: 4 output channels x up to 64 pixels (16 zmm
   accumulators), one VPDPBUSD per 4 input channels x 16 pixels. The activations come packed
   (esdk_pack_vnni, or an im2col written in the same layout); weights are read in place from
   the OIHW tensor: w[m][4g..4g+3] is exactly the 32-bit group VPDPBUSD wants, broadcast.
   Bias + MBQM + clamp are fused in the store. */
#include "i8-vnni.h"
#if defined(__x86_64__) || defined(_M_X64)
#include <string.h>

static inline int32_t ld_w32(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* last, partial group of a row: the bytes past K are zero (and never read: they may lie
   past the end of the weight tensor) */
static inline int32_t ld_w32_tail(const int8_t *p, int64_t nb) {
  uint32_t v = 0;
  int64_t i;
  for (i = 0; i < nb; i++) v |= (uint32_t)(uint8_t)p[i] << (8 * i);
  return (int32_t)v;
}

#define TILE(NAME, R, V)                                                                                       \
  static T512 void NAME(const uint8_t *buf, int64_t K, const int8_t *w, int64_t ws, const int32_t *cb,          \
                        __m512i acc_out[R][4]) {                                                                \
    __m512i c[R][V];                                                                                            \
    int64_t g, G = K / 4, gs = 64 * V;                                                                          \
    int r, v;                                                                                                   \
    ESDK_UNROLL for (r = 0; r < R; r++)                                                                                     \
      ESDK_UNROLL for (v = 0; v < V; v++) c[r][v] = _mm512_set1_epi32(cb[r]);                                               \
    for (g = 0; g < G; g++) {                                                                                   \
      __m512i xv[V];                                                                                            \
      ESDK_UNROLL for (v = 0; v < V; v++) xv[v] = _mm512_loadu_si512(buf + g * gs + 64 * v);                                \
      ESDK_UNROLL for (r = 0; r < R; r++) {                                                                                 \
        __m512i wv = _mm512_set1_epi32(ld_w32(w + r * ws + 4 * g));                                             \
        ESDK_UNROLL for (v = 0; v < V; v++) c[r][v] = _mm512_dpbusd_epi32(c[r][v], xv[v], wv);                              \
      }                                                                                                         \
    }                                                                                                           \
    if (K & 3) {                                                                                                \
      __m512i xv[V];                                                                                            \
      ESDK_UNROLL for (v = 0; v < V; v++) xv[v] = _mm512_loadu_si512(buf + G * gs + 64 * v);                                \
      ESDK_UNROLL for (r = 0; r < R; r++) {                                                                                 \
        __m512i wv = _mm512_set1_epi32(ld_w32_tail(w + r * ws + 4 * G, K & 3));                                 \
        ESDK_UNROLL for (v = 0; v < V; v++) c[r][v] = _mm512_dpbusd_epi32(c[r][v], xv[v], wv);                              \
      }                                                                                                         \
    }                                                                                                           \
    ESDK_UNROLL for (r = 0; r < R; r++)                                                                                     \
      ESDK_UNROLL for (v = 0; v < V; v++) acc_out[r][v] = c[r][v];                                                          \
  }

TILE(t4x4, 4, 4)
TILE(t4x3, 4, 3)
TILE(t4x2, 4, 2)
TILE(t4x1, 4, 1)
TILE(t1x4, 1, 4)
TILE(t1x3, 1, 3)
TILE(t1x2, 1, 2)
TILE(t1x1, 1, 1)

typedef void (*t4_fn)(const uint8_t *, int64_t, const int8_t *, int64_t, const int32_t *, __m512i[4][4]);
typedef void (*t1_fn)(const uint8_t *, int64_t, const int8_t *, int64_t, const int32_t *, __m512i[1][4]);
static t4_fn const k_t4[5] = {0, t4x1, t4x2, t4x3, t4x4};
static t1_fn const k_t1[5] = {0, t1x1, t1x2, t1x3, t1x4};

/* q: the call's requantization constants; the row's multiplier and shift are set here */
static T512 void store_row(const __m512i *acc, int nv, int64_t m, const int32_t *mult, const int32_t *shift,
                           int32_t qstride, esdk_rq512 *qp, int8_t *y, int64_t n) {
  int v;
  esdk_rq512_set_ch(qp, mult[m * qstride], shift[m * qstride]);
  if (nv == 4) { /* 64 pixels: the 4 vectors requantized together */
    __mmask64 mk = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
    _mm512_mask_storeu_epi8(y, mk, esdk_rq512_pack4_seq(acc[0], acc[1], acc[2], acc[3], qp));
    return;
  }
  for (v = 0; v < nv; v++) {
    int64_t left = n - 16 * v;
    esdk_rq512_store(acc[v], qp, y + 16 * v, left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1));
  }
}

T512 void esdk_gemm_i8_vnni_tile(const uint8_t *buf, int nv, int64_t K, const int8_t *w, int64_t ws, int64_t m0,
                                 int64_t m1, const int32_t *cb, const int32_t *mult, const int32_t *shift,
                                 int32_t qstride, int32_t zy, int32_t qmin, int32_t qmax, int8_t *Y, int64_t ys,
                                 int64_t n) {
  int64_t m;
  int r;
  esdk_rq512 q;
  if (m0 >= m1) return;
  esdk_rq512_set(&q, mult[m0 * qstride], shift[m0 * qstride], zy, qmin, qmax);
  for (m = m0; m + 4 <= m1; m += 4) {
    __m512i acc[4][4];
    k_t4[nv](buf, K, w + m * ws, ws, cb + (m - m0), acc);
    for (r = 0; r < 4; r++) store_row(acc[r], nv, m + r, mult, shift, qstride, &q, Y + (m + r) * ys, n);
  }
  for (; m < m1; m++) {
    __m512i acc[1][4];
    k_t1[nv](buf, K, w + m * ws, ws, cb + (m - m0), acc);
    store_row(acc[0], nv, m, mult, shift, qstride, &q, Y + m * ys, n);
  }
}
#endif
