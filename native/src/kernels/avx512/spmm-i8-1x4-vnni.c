/* Block-CSR int8 1x1 conv (NCHW) for 1x4 blocks with AVX-512 VNNI: the shape the host exporter
   stores every sparse int8 1x1 conv in (unstructured weights re-encoded, or block:1x4 pruning).
   A 1x4 block is exactly one VPDPBUSD lane group: its 4 bytes are one dword broadcast against
   the packed activations X[K/4][tile][4] (esdk_pack_vnni, u8 = x + 128).

   Compared with the general kernel (spmm-i8-64-vnni.c, 64-pixel tiles) the pixel tile is wide:
   the map is split evenly into tiles of up to 8 vectors of 16 pixels, or up to 13 when that
   makes the map one tile (14x14 = 196 pixels), so a row's index loads, broadcasts and
   requantization setup are paid once per 128-208 pixels instead of once per 64, and no tile is
   a short remainder (196 = 64 + 64 + 64 + 4 cost four row passes). Tiles of 1-4 vectors use two
   accumulator sets (even / odd blocks) so that enough VPDPBUSD chains are in flight.
   Requantization: 4 vectors at a time through esdk_rq512_pack4_seq. */
#include "i8-vnni.h"
#if defined(__x86_64__) || defined(_M_X64)
#include <string.h>

#define BUFB 131072 /* packed tile: ceil(K/4) * 64 * nv bytes */
#define MCB 2048    /* rows whose corrected bias is computed once per call */

static inline T512 __m512i bcast_w(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

/* output row: Y[0..n) = requant(cb + sum_j w_j . X[col_j]) over the row's blocks [j0, j1) */
#define ROW(NAME, V, TL)                                                                                       \
  static T512 void NAME(const uint8_t *buf, const uint32_t *ci, const int8_t *wv, int64_t j0, int64_t j1,       \
                        int32_t cb, const esdk_rq512 *q, int8_t *Y, int64_t n) {                                \
    enum { D = V <= 4 };                                                                                       \
    __m512i c[V], d[V];                                                                                        \
    __m128i ct = _mm_set1_epi32(cb), dt = _mm_setzero_si128();                                                 \
    int64_t j, gs = 64 * (V + TL), u;                                                                          \
    ESDK_UNROLL for (u = 0; u < V; u++) {                                                                      \
      c[u] = _mm512_set1_epi32(cb);                                                                            \
      d[u] = _mm512_setzero_si512();                                                                           \
    }                                                                                                          \
    j = j0;                                                                                                    \
    if (D)                                                                                                     \
      for (; j + 2 <= j1; j += 2) {                                                                            \
        const uint8_t *x0 = buf + (int64_t)ci[j] * gs, *x1 = buf + (int64_t)ci[j + 1] * gs;                    \
        __m512i w0 = bcast_w(wv + 4 * j), w1 = bcast_w(wv + 4 * j + 4);                                        \
        ESDK_UNROLL for (u = 0; u < V; u++) {                                                                  \
          c[u] = _mm512_dpbusd_epi32(c[u], _mm512_loadu_si512(x0 + 64 * u), w0);                               \
          d[u] = _mm512_dpbusd_epi32(d[u], _mm512_loadu_si512(x1 + 64 * u), w1);                               \
        }                                                                                                      \
        if (TL) {                                                                                              \
          ct = _mm_dpbusd_epi32(ct, _mm_loadu_si128((const __m128i *)(x0 + 64 * V)), _mm512_castsi512_si128(w0)); \
          dt = _mm_dpbusd_epi32(dt, _mm_loadu_si128((const __m128i *)(x1 + 64 * V)), _mm512_castsi512_si128(w1)); \
        }                                                                                                      \
      }                                                                                                        \
    for (; j < j1; j++) {                                                                                      \
      const uint8_t *x0 = buf + (int64_t)ci[j] * gs;                                                           \
      __m512i w0 = bcast_w(wv + 4 * j);                                                                        \
      ESDK_UNROLL for (u = 0; u < V; u++) c[u] = _mm512_dpbusd_epi32(c[u], _mm512_loadu_si512(x0 + 64 * u), w0); \
      if (TL) ct = _mm_dpbusd_epi32(ct, _mm_loadu_si128((const __m128i *)(x0 + 64 * V)), _mm512_castsi512_si128(w0)); \
    }                                                                                                          \
    if (D) ESDK_UNROLL for (u = 0; u < V; u++) c[u] = _mm512_add_epi32(c[u], d[u]);                            \
    if (TL) { /* pixels 16 V .. n - 1 (at most 4) */                                                           \
      __m128i o = esdk_rq128_apply(_mm_add_epi32(ct, dt), q);                                                  \
      _mm_mask_storeu_epi8(Y + 16 * V, (__mmask16)((1u << (n - 16 * V)) - 1), _mm_cvtepi32_epi8(o));           \
    }                                                                                                          \
    ESDK_UNROLL for (u = 0; u + 4 <= V; u += 4) {                                                              \
      int64_t left = n - 16 * u;                                                                               \
      __mmask64 mk = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);                               \
      _mm512_mask_storeu_epi8(Y + 16 * u, mk, esdk_rq512_pack4_seq(c[u], c[u + 1], c[u + 2], c[u + 3], q));   \
    }                                                                                                          \
    ESDK_UNROLL for (u = V / 4 * 4; u < V; u++) {                                                              \
      int64_t left = n - 16 * u;                                                                               \
      esdk_rq512_store(c[u], q, Y + 16 * u, left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1));   \
    }                                                                                                          \
  }

ROW(v1, 1, 0)
ROW(v2, 2, 0)
ROW(v3, 3, 0)
ROW(v4, 4, 0)
ROW(v5, 5, 0)
ROW(v6, 6, 0)
ROW(v7, 7, 0)
ROW(v8, 8, 0)
ROW(v9, 9, 0)
ROW(v10, 10, 0)
ROW(v11, 11, 0)
ROW(v12, 12, 0)
ROW(v13, 13, 0)
/* V whole vectors and a tail of 1-4 pixels in one 128-bit lane (7x7: 48 + 1, 14x14: 192 + 4) */
ROW(t1, 1, 1)
ROW(t2, 2, 1)
ROW(t3, 3, 1)
ROW(t4, 4, 1)
ROW(t5, 5, 1)
ROW(t6, 6, 1)
ROW(t7, 7, 1)
ROW(t8, 8, 1)
ROW(t9, 9, 1)
ROW(t10, 10, 1)
ROW(t11, 11, 1)
ROW(t12, 12, 1)

/* bias - (128 + zx) * sum of the row's weights (the u8 = x + 128 correction), wrapping */
static T512 int32_t corrected_bias(const esdk_spmm_args *a, const int8_t *v, const int32_t *b, int64_t m) {
  int64_t j0 = a->row_ptr[m], j1 = a->row_ptr[m + 1];
  uint32_t s = (uint32_t)esdk_sum_i8_512(v + 4 * j0, 4 * (j1 - j0));
  return (int32_t)((uint32_t)(b ? b[m] : 0) - (uint32_t)(128 + a->zx) * s);
}

typedef void (*row_fn)(const uint8_t *, const uint32_t *, const int8_t *, int64_t, int64_t, int32_t,
                       const esdk_rq512 *, int8_t *, int64_t);
static row_fn const k_row[14] = {0, v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12, v13};
static row_fn const k_rowt[13] = {0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12};

/* Declines (returns 0) other block shapes, strided layouts and K too large for one vector of
   pixels in the buffer; the general kernel takes those. */
T512 int esdk_spmm_i8_1x4_avx512(const esdk_spmm_args *a, const int8_t *x, const int8_t *v, const int32_t *b,
                                 int8_t *y) {
  uint8_t buf[BUFB] __attribute__((aligned(64)));
  int64_t K = a->K, P = a->P, G = (K + 3) / 4, maxv, ntile, tile, p0, m;
  int32_t cb[MCB];
  esdk_rq512 q;
  if (a->br != 1 || a->bc != 4 || a->xs_p != 1 || a->ys_p != 1 || P <= 0) return 0;
  maxv = P <= 208 ? 13 : 8;
  while (maxv > 0 && G * 64 * maxv > BUFB) maxv--;
  if (maxv == 0) return 0;
  ntile = (P + 16 * maxv - 1) / (16 * maxv);
  tile = ((P + ntile - 1) / ntile + 15) / 16 * 16; /* even split, whole vectors */
  esdk_rq512_set(&q, a->mult[a->m0 * a->qstride], a->shift[a->m0 * a->qstride], a->zy, a->qmin, a->qmax);
  for (m = a->m0; m < a->m1 && m - a->m0 < MCB; m++) cb[m - a->m0] = corrected_bias(a, v, b, m);
  for (p0 = 0; p0 < P; p0 += tile) {
    int64_t n = P - p0 < tile ? P - p0 : tile;
    int nv = (int)((n + 15) / 16);
    row_fn f = nv >= 2 && n - 16 * (nv - 1) <= 4 ? k_rowt[nv - 1] : k_row[nv];
    esdk_pack_vnni(x + p0, a->xs_k, K, n, nv, buf);
    for (m = a->m0; m < a->m1; m++) {
      int64_t j0 = a->row_ptr[m], j1 = a->row_ptr[m + 1];
      int32_t c = m - a->m0 < MCB ? cb[m - a->m0] : corrected_bias(a, v, b, m);
      esdk_rq512_set_ch(&q, a->mult[m * a->qstride], a->shift[m * a->qstride]);
      if (j0 == j1) { /* empty row (frequent for small K): one requantized value for every pixel */
        const __m512i o = _mm512_broadcastb_epi8(_mm512_cvtepi32_epi8(esdk_rq512_apply(_mm512_set1_epi32(c), &q)));
        int8_t *yr = y + m * a->ys_m + p0;
        int64_t i;
        for (i = 0; i < n; i += 64)
          _mm512_mask_storeu_epi8(yr + i, n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1), o);
        continue;
      }
      f(buf, a->col_idx, v, j0, j1, c, &q, y + m * a->ys_m + p0, n);
    }
  }
  return 1;
}
#endif
