/* Block-CSR int8 1x1 conv (NCHW) with AVX-512 VNNI, every block shape. A tile of up to 64
   pixels of X is packed once into the VPDPBUSD layout X[K/4][64][4] (u8 = x + 128) and each
   output row walks its nonzero blocks: the weights of one 4-channel group (whatever blocks they
   come from: col_idx is increasing, so consecutive 1x1 blocks of a group merge) are assembled
   into one 32-bit broadcast, then one VPDPBUSD per 16 pixels. So 1x4 blocks use all 4 bytes of
   a lane (64 MACs per instruction), 1x1 and 4x1 blocks mostly one byte (16 MACs); block rows
   of 4 or 8 output rows (4x1, 8x1) share each packed X load over 4 rows. The per-row
   correction (128 + zx) * sum(w) is folded into the bias once per call. */
#include "i8-vnni.h"
#if defined(__x86_64__) || defined(_M_X64)
#include <string.h>

#define MCH 1024

/* R rows (r0..r0+R-1 of block row rb) x V vectors of 16 pixels */
#define ROWS(NAME, R, V)                                                                                      \
  static T512 void NAME(const esdk_spmm_args *a, int64_t rb, int64_t r0, const uint8_t *buf, const int8_t *v,    \
                        const int32_t *cb, const esdk_rq512 *q, int8_t *Y, int64_t ys, int64_t n) {              \
    __m512i c[R][V];                                                                                           \
    uint32_t wg[R];                                                                                            \
    int64_t j, gs = 64 * V, cur = -1, br = a->br, bc = a->bc;                                                  \
    int r, u;                                                                                                  \
    ESDK_UNROLL for (r = 0; r < R; r++) {                                                                                  \
      wg[r] = 0;                                                                                               \
      ESDK_UNROLL for (u = 0; u < V; u++) c[r][u] = _mm512_set1_epi32(cb[r]);                                              \
    }                                                                                                          \
    for (j = a->row_ptr[rb]; j < a->row_ptr[rb + 1]; j++) {                                                    \
      int64_t k0 = (int64_t)a->col_idx[j] * bc, cc;                                                            \
      const int8_t *wb = v + (j * br + r0) * bc;                                                               \
      for (cc = 0; cc < bc; cc++) {                                                                            \
        int64_t k = k0 + cc, g = k >> 2;                                                                       \
        if (g != cur) {                                                                                        \
          if (cur >= 0) {                                                                                      \
            const uint8_t *xg = buf + cur * gs;                                                                \
            __m512i xv[V];                                                                                     \
            ESDK_UNROLL for (u = 0; u < V; u++) xv[u] = _mm512_loadu_si512(xg + 64 * u);                                   \
            ESDK_UNROLL for (r = 0; r < R; r++) {                                                                          \
              __m512i wv = _mm512_set1_epi32((int32_t)wg[r]);                                                  \
              ESDK_UNROLL for (u = 0; u < V; u++) c[r][u] = _mm512_dpbusd_epi32(c[r][u], xv[u], wv);                       \
              wg[r] = 0;                                                                                       \
            }                                                                                                  \
          }                                                                                                    \
          cur = g;                                                                                             \
        }                                                                                                      \
        ESDK_UNROLL for (r = 0; r < R; r++) wg[r] |= (uint32_t)(uint8_t)wb[r * bc + cc] << (8 * (k & 3));                  \
      }                                                                                                        \
    }                                                                                                          \
    if (cur >= 0) {                                                                                            \
      const uint8_t *xg = buf + cur * gs;                                                                      \
      __m512i xv[V];                                                                                           \
      ESDK_UNROLL for (u = 0; u < V; u++) xv[u] = _mm512_loadu_si512(xg + 64 * u);                                         \
      ESDK_UNROLL for (r = 0; r < R; r++) {                                                                                \
        __m512i wv = _mm512_set1_epi32((int32_t)wg[r]);                                                        \
        ESDK_UNROLL for (u = 0; u < V; u++) c[r][u] = _mm512_dpbusd_epi32(c[r][u], xv[u], wv);                             \
      }                                                                                                        \
    }                                                                                                          \
    ESDK_UNROLL for (r = 0; r < R; r++) {                                                                      \
      if (V == 4) {                                                                                            \
        __mmask64 mk = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);                                    \
        _mm512_mask_storeu_epi8(Y + r * ys, mk,                                                                \
                                esdk_rq512_pack4_seq(c[r][0], c[r][1 % V], c[r][2 % V], c[r][3 % V], q + r));  \
      } else                                                                                                   \
        ESDK_UNROLL for (u = 0; u < V; u++) {                                                                  \
          int64_t left = n - 16 * u;                                                                           \
          esdk_rq512_store(c[r][u], q + r, Y + r * ys + 16 * u,                                                \
                           left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1));                    \
        }                                                                                                      \
    }                                                                                                          \
  }

/* 1x4 blocks (any block whose columns are whole aligned groups): no byte assembly at all.
   Two accumulator sets (even / odd groups of the row) so that 2*V VPDPBUSD chains are in
   flight: with V chains alone the loop waits on the instruction's latency (measured 1.5-2x). */
#define ROWS4C(NAME, V)                                                                                       \
  static T512 void NAME(const esdk_spmm_args *a, int64_t rb, int64_t r0, const uint8_t *buf, const int8_t *v,    \
                        const int32_t *cb, const esdk_rq512 *q, int8_t *Y, int64_t ys, int64_t n) {              \
    __m512i c[V], d[V];                                                                                        \
    int64_t j, gs = 64 * V, bc = a->bc, ng = bc >> 2, t, j1 = a->row_ptr[rb + 1];                             \
    int u;                                                                                                     \
    ESDK_UNROLL for (u = 0; u < V; u++) {                                                                      \
      c[u] = _mm512_set1_epi32(cb[0]);                                                                         \
      d[u] = _mm512_setzero_si512();                                                                           \
    }                                                                                                          \
    if (ng == 1 && a->br == 1) { /* 1x4: values are consecutive dwords, one per block */                      \
      const int8_t *wb = v + (int64_t)a->row_ptr[rb] * 4;                                                      \
      for (j = a->row_ptr[rb]; j + 2 <= j1; j += 2, wb += 8) {                                                 \
        const uint8_t *x0 = buf + (int64_t)a->col_idx[j] * gs, *x1 = buf + (int64_t)a->col_idx[j + 1] * gs;    \
        int32_t w0, w1;                                                                                        \
        __m512i wv0, wv1;                                                                                      \
        memcpy(&w0, wb, 4);                                                                                    \
        memcpy(&w1, wb + 4, 4);                                                                                \
        wv0 = _mm512_set1_epi32(w0);                                                                           \
        wv1 = _mm512_set1_epi32(w1);                                                                           \
        ESDK_UNROLL for (u = 0; u < V; u++) {                                                                  \
          c[u] = _mm512_dpbusd_epi32(c[u], _mm512_loadu_si512(x0 + 64 * u), wv0);                              \
          d[u] = _mm512_dpbusd_epi32(d[u], _mm512_loadu_si512(x1 + 64 * u), wv1);                              \
        }                                                                                                      \
      }                                                                                                        \
      if (j < j1) {                                                                                            \
        const uint8_t *x0 = buf + (int64_t)a->col_idx[j] * gs;                                                 \
        int32_t w0;                                                                                            \
        __m512i wv0;                                                                                           \
        memcpy(&w0, wb, 4);                                                                                    \
        wv0 = _mm512_set1_epi32(w0);                                                                           \
        ESDK_UNROLL for (u = 0; u < V; u++) c[u] = _mm512_dpbusd_epi32(c[u], _mm512_loadu_si512(x0 + 64 * u), wv0); \
      }                                                                                                        \
    } else {                                                                                                   \
      for (j = a->row_ptr[rb]; j < j1; j++) {                                                                  \
        const uint8_t *xg = buf + (int64_t)a->col_idx[j] * ng * gs;                                            \
        const int8_t *wb = v + (j * a->br + r0) * bc;                                                          \
        for (t = 0; t < ng; t++) {                                                                             \
          int32_t w32;                                                                                         \
          __m512i wv;                                                                                          \
          memcpy(&w32, wb + 4 * t, 4);                                                                         \
          wv = _mm512_set1_epi32(w32);                                                                         \
          if (t & 1) {                                                                                         \
            ESDK_UNROLL for (u = 0; u < V; u++) d[u] = _mm512_dpbusd_epi32(d[u], _mm512_loadu_si512(xg + t * gs + 64 * u), wv); \
          } else {                                                                                             \
            ESDK_UNROLL for (u = 0; u < V; u++) c[u] = _mm512_dpbusd_epi32(c[u], _mm512_loadu_si512(xg + t * gs + 64 * u), wv); \
          }                                                                                                    \
        }                                                                                                      \
      }                                                                                                        \
    }                                                                                                          \
    if (V == 4) {                                                                                              \
      __mmask64 mk = n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);                                      \
      _mm512_mask_storeu_epi8(Y, mk, esdk_rq512_pack4_seq(_mm512_add_epi32(c[0], d[0]), _mm512_add_epi32(c[1 % V], d[1 % V]), \
                                                          _mm512_add_epi32(c[2 % V], d[2 % V]),                 \
                                                          _mm512_add_epi32(c[3 % V], d[3 % V]), q));            \
    } else                                                                                                     \
      ESDK_UNROLL for (u = 0; u < V; u++) {                                                                    \
        int64_t left = n - 16 * u;                                                                             \
        esdk_rq512_store(_mm512_add_epi32(c[u], d[u]), q, Y + 16 * u,                                          \
                         left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1));                      \
      }                                                                                                        \
  }

ROWS(r4v4, 4, 4)
ROWS(r4v3, 4, 3)
ROWS(r4v2, 4, 2)
ROWS(r4v1, 4, 1)
ROWS(r1v4, 1, 4)
ROWS(r1v3, 1, 3)
ROWS(r1v2, 1, 2)
ROWS(r1v1, 1, 1)
ROWS4C(g1v4, 4)
ROWS4C(g1v3, 3)
ROWS4C(g1v2, 2)
ROWS4C(g1v1, 1)

typedef void (*rows_fn)(const esdk_spmm_args *, int64_t, int64_t, const uint8_t *, const int8_t *, const int32_t *,
                        const esdk_rq512 *, int8_t *, int64_t, int64_t);
static rows_fn const k_r4[5] = {0, r4v1, r4v2, r4v3, r4v4};
static rows_fn const k_r1[5] = {0, r1v1, r1v2, r1v3, r1v4};
static rows_fn const k_g1[5] = {0, g1v1, g1v2, g1v3, g1v4};

T512 int esdk_spmm_i8_avx512(const esdk_spmm_args *a, const int8_t *x, const int8_t *v, const int32_t *b, int8_t *y) {
  int64_t K = a->K, P = a->P, pt, mc, rb, r, j, cc, mch = (MCH / a->br) * a->br;
  uint8_t buf[65536] __attribute__((aligned(64)));
  int32_t cb[MCH];
  int grp = a->bc % 4 == 0;
  int64_t nsub, reg;
  if (a->xs_p != 1 || a->ys_p != 1 || mch == 0) return 0; /* sparse FC layout: scalar */
  if (esdk_spmm_i8_1x4_avx512(a, x, v, b, y)) return 1; /* 1x4 blocks: wide pixel tiles */
  pt = K <= 1024 ? 64 : K <= 2048 ? 32 : K <= 4096 ? 16 : 0;
  if (!pt) return 0;
  nsub = K <= 256 ? 4 : 1;
  reg = (K + 3) / 4 * 256;
  for (mc = a->m0; mc < a->m1; mc += mch) {
    int64_t me = mc + mch < a->m1 ? mc + mch : a->m1, p0;
    for (rb = mc / a->br; rb < me / a->br; rb++)
      for (r = 0; r < a->br; r++) {
        uint32_t s = 0;
        int64_t m = rb * a->br + r;
        if (a->br == 1) /* the row's values are contiguous */
          s = (uint32_t)esdk_sum_i8_512(v + (int64_t)a->row_ptr[rb] * a->bc,
                                        ((int64_t)a->row_ptr[rb + 1] - a->row_ptr[rb]) * a->bc);
        else
          for (j = a->row_ptr[rb]; j < a->row_ptr[rb + 1]; j++)
            for (cc = 0; cc < a->bc; cc++) s += (uint32_t)v[(j * a->br + r) * a->bc + cc];
        cb[m - mc] = (int32_t)((uint32_t)(b ? b[m] : 0) - (uint32_t)(128 + a->zx) * s);
      }
    /* small K: pack up to 4 tiles of 64 pixels at once (regions of G * 256 bytes) and run each
       row over all of them, so the per-row setup (requantization constants) is paid once */
    for (p0 = 0; p0 < P; p0 += pt * nsub) {
      int64_t rem[4], u, ns = 0;
      int nv[4];
      for (u = 0; u < nsub && p0 + u * pt < P; u++, ns++) {
        rem[u] = P - p0 - u * pt < pt ? P - p0 - u * pt : pt;
        nv[u] = (int)((rem[u] + 15) / 16);
        esdk_pack_vnni(x + p0 + u * pt, a->xs_k, K, rem[u], nv[u], buf + u * reg);
      }
      for (rb = mc / a->br; rb < me / a->br; rb++) {
        esdk_rq512 q[4];
        int64_t m0 = rb * a->br, i;
        if (!grp && a->br % 4 == 0) {
          for (r = 0; r < a->br; r += 4) {
            for (i = 0; i < 4; i++) {
              int64_t mm = m0 + r + i;
              esdk_rq512_set(&q[i], a->mult[mm * a->qstride], a->shift[mm * a->qstride], a->zy, a->qmin, a->qmax);
            }
            for (u = 0; u < ns; u++)
              k_r4[nv[u]](a, rb, r, buf + u * reg, v, cb + (m0 + r - mc), q, y + (m0 + r) * a->ys_m + p0 + u * pt,
                          a->ys_m, rem[u]);
          }
        } else {
          for (r = 0; r < a->br; r++) {
            int64_t mm = m0 + r;
            esdk_rq512_set(&q[0], a->mult[mm * a->qstride], a->shift[mm * a->qstride], a->zy, a->qmin, a->qmax);
            for (u = 0; u < ns; u++)
              (grp ? k_g1 : k_r1)[nv[u]](a, rb, r, buf + u * reg, v, cb + (mm - mc), q, y + mm * a->ys_m + p0 + u * pt,
                                         a->ys_m, rem[u]);
          }
        }
      }
    }
  }
  return 1;
}
#endif
