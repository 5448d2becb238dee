/* Block-CSR sparse x dense (Fast Sparse ConvNets) on NCHW, vectorised along pixels.
   For a tile of pixels, each output row (or block of rows) walks its nonzero blocks:
   - 1x1 blocks (unstructured): tiles of up to 8 vectors (128 pixels, the pixel count split
     evenly into tiles; up to 13 vectors when that makes one tile), two accumulator sets, so each nonzero's index load, address and
     broadcast feed up to 8 FMAs (the per-nonzero overhead, not FMA or cache bandwidth, was
     the limit: 64-pixel tiles measured 3-5% slower on MobileNetV1 at 80-90%, 32 and
     16-pixel tiles 1.3-2.5x slower per layer).
   - 1x1 blocks with >= 25% nonzeros on maps of >= 512 pixels: the K-chunked walk (spmm_kchunk),
     which keeps a 32-row slice of the pixel tile in L1 and carries partial sums in Y.
   - K-chunked (chunk-major) weights, format 1.1 k_chunk, which the exporter writes for maps up
     to 28x28: spmm_chunk_major, one chunk of X at a time from an aligned copy.
   - 1xC blocks (n:m, 1x4): broadcast one weight, FMA it over 4 zmm of the
     input row it selects; two accumulator sets (even / odd nonzeros) give 8 independent
     FMA chains, so the FMA latency never limits a row; full tiles use unmasked loads, which
     the compiler folds into the FMAs.
   - Rx1 blocks (4x1, 8x1, 2x1): the R output rows share the column index, so each input
     vector is loaded once and feeds R FMAs (the natural register blocking: R x V accumulators).
   - other shapes: one row at a time (still vectorised along pixels).
   The pixel tile of X stays in L1/L2 across the rows. Only unit pixel stride (NCHW conv,
   batched FC rows are declined) is vectorised. */
#include "avx512.h"
#if defined(__x86_64__) || defined(_M_X64)

#define LD(p, q, V, MASKED, ml) \
  ((MASKED) && (q) == (V)-1 ? _mm512_maskz_loadu_ps((ml), (p) + 16 * (q)) : _mm512_loadu_ps((p) + 16 * (q)))

static T512 inline void store_row(float *Y, const __m512 *c, int V, int masked, __mmask16 ml, __m512 lo, __m512 hi) {
  int q;
  ESDK_UNROLL for (q = 0; q < V; q++) {
    __m512 o = esdk_clamp512(c[q], lo, hi);
    if (masked && q == V - 1) _mm512_mask_storeu_ps(Y + 16 * q, ml, o);
    else _mm512_storeu_ps(Y + 16 * q, o);
  }
}

/* one output row, 1 x bc blocks */
#define ROW(NAME, V, MASKED)                                                                                     \
  static T512 void NAME(const float *X, int64_t xs, const uint32_t *ci, const float *v, int64_t nb, int64_t bc,  \
                        float bias, float *Y, __mmask16 ml, __m512 lo, __m512 hi) {                              \
    __m512 c0[V], c1[V];                                                                                         \
    int64_t j, n = nb * bc;                                                                                      \
    int q;                                                                                                       \
    ESDK_UNROLL for (q = 0; q < V; q++) {                                                                        \
      c0[q] = _mm512_set1_ps(bias);                                                                              \
      c1[q] = _mm512_setzero_ps();                                                                               \
    }                                                                                                            \
    /* nonzero e = j*bc + cc reads input row ci[j]*bc + cc; bc == 1 is the common case */                        \
    for (j = 0; j + 2 <= n; j += 2) {                                                                            \
      const float *x0 = X + (bc == 1 ? (int64_t)ci[j] : (int64_t)ci[j / bc] * bc + j % bc) * xs;                 \
      const float *x1 = X + (bc == 1 ? (int64_t)ci[j + 1] : (int64_t)ci[(j + 1) / bc] * bc + (j + 1) % bc) * xs; \
      __m512 w0 = _mm512_set1_ps(v[j]), w1 = _mm512_set1_ps(v[j + 1]);                                          \
      ESDK_UNROLL for (q = 0; q < V; q++) {                                                                      \
        c0[q] = _mm512_fmadd_ps(w0, LD(x0, q, V, MASKED, ml), c0[q]);                                            \
        c1[q] = _mm512_fmadd_ps(w1, LD(x1, q, V, MASKED, ml), c1[q]);                                            \
      }                                                                                                          \
    }                                                                                                            \
    if (j < n) {                                                                                                 \
      const float *x0 = X + (bc == 1 ? (int64_t)ci[j] : (int64_t)ci[j / bc] * bc + j % bc) * xs;                 \
      __m512 w0 = _mm512_set1_ps(v[j]);                                                                          \
      ESDK_UNROLL for (q = 0; q < V; q++) c0[q] = _mm512_fmadd_ps(w0, LD(x0, q, V, MASKED, ml), c0[q]);          \
    }                                                                                                            \
    ESDK_UNROLL for (q = 0; q < V; q++) c0[q] = _mm512_add_ps(c0[q], c1[q]);                                     \
    store_row(Y, c0, V, MASKED, ml, lo, hi);                                                                     \
  }

/* R output rows sharing Rx1 blocks */
#define BLK(NAME, R, V, MASKED)                                                                                  \
  static T512 void NAME(const float *X, int64_t xs, const uint32_t *ci, const float *v, int64_t nb,              \
                        const float *b, float *Y, int64_t ys, __mmask16 ml, __m512 lo, __m512 hi) {              \
    __m512 c[R][V];                                                                                              \
    int64_t j;                                                                                                   \
    int q, r;                                                                                                    \
    ESDK_UNROLL for (r = 0; r < R; r++) ESDK_UNROLL for (q = 0; q < V; q++) c[r][q] = _mm512_set1_ps(b ? b[r] : 0.0f); \
    for (j = 0; j < nb; j++) {                                                                                   \
      const float *xk = X + (int64_t)ci[j] * xs;                                                                 \
      __m512 xv[V];                                                                                              \
      ESDK_UNROLL for (q = 0; q < V; q++) xv[q] = LD(xk, q, V, MASKED, ml);                                      \
      ESDK_UNROLL for (r = 0; r < R; r++) {                                                                      \
        __m512 w = _mm512_set1_ps(v[j * R + r]);                                                                 \
        ESDK_UNROLL for (q = 0; q < V; q++) c[r][q] = _mm512_fmadd_ps(w, xv[q], c[r][q]);                        \
      }                                                                                                          \
    }                                                                                                            \
    ESDK_UNROLL for (r = 0; r < R; r++) store_row(Y + r * ys, c[r], V, MASKED, ml, lo, hi);                      \
  }

ROW(row4, 4, 0)
ROW(row5m, 5, 1)
ROW(row4m, 4, 1)
ROW(row3m, 3, 1)
ROW(row2m, 2, 1)
ROW(row1m, 1, 1)
BLK(blk2x4, 2, 4, 0)
BLK(blk2x5m, 2, 5, 1)
BLK(blk2x4m, 2, 4, 1)
BLK(blk2x3m, 2, 3, 1)
BLK(blk2x2m, 2, 2, 1)
BLK(blk2x1m, 2, 1, 1)
BLK(blk4x4, 4, 4, 0)
BLK(blk4x5m, 4, 5, 1)
BLK(blk4x4m, 4, 4, 1)
BLK(blk4x3m, 4, 3, 1)
BLK(blk4x2m, 4, 2, 1)
BLK(blk4x1m, 4, 1, 1)
BLK(blk8x2, 8, 2, 0)
BLK(blk8x3m, 8, 3, 1)
BLK(blk8x2m, 8, 2, 1)
BLK(blk8x1m, 8, 1, 1)

typedef void (*row_fn)(const float *, int64_t, const uint32_t *, const float *, int64_t, int64_t, float, float *,
                       __mmask16, __m512, __m512);
typedef void (*blk_fn)(const float *, int64_t, const uint32_t *, const float *, int64_t, const float *, float *,
                       int64_t, __mmask16, __m512, __m512);
static row_fn const k_rowm[6] = {0, row1m, row2m, row3m, row4m, row5m};
static blk_fn const k_b2m[6] = {0, blk2x1m, blk2x2m, blk2x3m, blk2x4m, blk2x5m};
static blk_fn const k_b4m[6] = {0, blk4x1m, blk4x2m, blk4x3m, blk4x4m, blk4x5m};
static blk_fn const k_b8m[4] = {0, blk8x1m, blk8x2m, blk8x3m};

/* one output row, 1x1 blocks, U accumulator sets (U*V >= 4 independent FMA chains) */
#define ROWU(NAME, V, MASKED, U)                                                                                 \
  static T512 void NAME(const float *X, int64_t xs, const uint32_t *ci, const float *v, int64_t n, float bias,   \
                        float *Y, __mmask16 ml, __m512 lo, __m512 hi) {                                          \
    __m512 c[U][V];                                                                                              \
    int64_t j;                                                                                                   \
    int q, u;                                                                                                    \
    ESDK_UNROLL for (u = 0; u < U; u++) ESDK_UNROLL for (q = 0; q < V; q++)                                      \
      c[u][q] = u == 0 ? _mm512_set1_ps(bias) : _mm512_setzero_ps();                                             \
    for (j = 0; j + U <= n; j += U) {                                                                            \
      ESDK_UNROLL for (u = 0; u < U; u++) {                                                                      \
        const float *xk = X + (int64_t)ci[j + u] * xs;                                                           \
        __m512 w = _mm512_set1_ps(v[j + u]);                                                                     \
        ESDK_UNROLL for (q = 0; q < V; q++) c[u][q] = _mm512_fmadd_ps(w, LD(xk, q, V, MASKED, ml), c[u][q]);    \
      }                                                                                                          \
    }                                                                                                            \
    for (; j < n; j++) {                                                                                         \
      const float *xk = X + (int64_t)ci[j] * xs;                                                                 \
      __m512 w = _mm512_set1_ps(v[j]);                                                                           \
      ESDK_UNROLL for (q = 0; q < V; q++) c[0][q] = _mm512_fmadd_ps(w, LD(xk, q, V, MASKED, ml), c[0][q]);      \
    }                                                                                                            \
    ESDK_UNROLL for (u = 1; u < U; u++) ESDK_UNROLL for (q = 0; q < V; q++) c[0][q] = _mm512_add_ps(c[0][q], c[u][q]); \
    store_row(Y, c[0], V, MASKED, ml, lo, hi);                                                                   \
  }
ROWU(u1, 1, 0, 4)
ROWU(u1m, 1, 1, 4)
ROWU(u2, 2, 0, 2)
ROWU(u2m, 2, 1, 2)
ROWU(u3, 3, 0, 2)
ROWU(u3m, 3, 1, 2)
ROWU(u4, 4, 0, 2)
ROWU(u4m, 4, 1, 2)
ROWU(u5, 5, 0, 2)
ROWU(u5m, 5, 1, 2)
ROWU(u6, 6, 0, 2)
ROWU(u6m, 6, 1, 2)
ROWU(u7, 7, 0, 2)
ROWU(u7m, 7, 1, 2)
ROWU(u8, 8, 0, 2)
ROWU(u8m, 8, 1, 2)
ROWU(u9, 9, 0, 1)
ROWU(u9m, 9, 1, 1)
ROWU(u10, 10, 0, 1)
ROWU(u10m, 10, 1, 1)
ROWU(u11, 11, 0, 1)
ROWU(u11m, 11, 1, 1)
ROWU(u12, 12, 0, 1)
ROWU(u12m, 12, 1, 1)
ROWU(u13, 13, 0, 1)
ROWU(u13m, 13, 1, 1)
typedef void (*rowu_fn)(const float *, int64_t, const uint32_t *, const float *, int64_t, float, float *, __mmask16,
                        __m512, __m512);
static rowu_fn const k_rowu[14][2] = {{0, 0}, {u1, u1m}, {u2, u2m}, {u3, u3m}, {u4, u4m}, {u5, u5m}, {u6, u6m}, {u7, u7m}, {u8, u8m}, {u9, u9m}, {u10, u10m}, {u11, u11m}, {u12, u12m}, {u13, u13m}};

/* one output row over the nonzeros from j whose column is below k1 (the K chunk): starts from
   the bias (mode bit 0: first chunk) or the partial sum in Y, ends with the clamp (bit 1: last
   chunk) or stores the partial sum; returns where the next chunk starts. Column k is row k - k0
   of X (k0 > 0: X is a copy of the chunk's rows). */
#define ROWK(NAME, V, MASKED, U)                                                                                 \
  static T512 int64_t NAME(const float *X, int64_t xs, const uint32_t *ci, const float *v, int64_t j, int64_t e, \
                           uint32_t k0, uint32_t k1, int mode, float bias, float *Y, __mmask16 ml, __m512 lo,    \
                           __m512 hi) {                                                                          \
    __m512 c[U][V];                                                                                              \
    int q, u;                                                                                                    \
    ESDK_UNROLL for (q = 0; q < V; q++) c[0][q] = (mode & 1) ? _mm512_set1_ps(bias) : LD(Y, q, V, MASKED, ml);   \
    ESDK_UNROLL for (u = 1; u < U; u++) ESDK_UNROLL for (q = 0; q < V; q++) c[u][q] = _mm512_setzero_ps();       \
    for (; j + U <= e && ci[j + U - 1] < k1; j += U) {                                                           \
      ESDK_UNROLL for (u = 0; u < U; u++) {                                                                      \
        const float *xk = X + (int64_t)(ci[j + u] - k0) * xs;                                                    \
        __m512 w = _mm512_set1_ps(v[j + u]);                                                                     \
        ESDK_UNROLL for (q = 0; q < V; q++) c[u][q] = _mm512_fmadd_ps(w, LD(xk, q, V, MASKED, ml), c[u][q]);    \
      }                                                                                                          \
    }                                                                                                            \
    for (; j < e && ci[j] < k1; j++) {                                                                           \
      const float *xk = X + (int64_t)(ci[j] - k0) * xs;                                                          \
      __m512 w = _mm512_set1_ps(v[j]);                                                                           \
      ESDK_UNROLL for (q = 0; q < V; q++) c[0][q] = _mm512_fmadd_ps(w, LD(xk, q, V, MASKED, ml), c[0][q]);      \
    }                                                                                                            \
    ESDK_UNROLL for (u = 1; u < U; u++) ESDK_UNROLL for (q = 0; q < V; q++) c[0][q] = _mm512_add_ps(c[0][q], c[u][q]); \
    if (mode & 2) store_row(Y, c[0], V, MASKED, ml, lo, hi);                                                     \
    else ESDK_UNROLL for (q = 0; q < V; q++) {                                                                   \
      if (MASKED && q == V - 1) _mm512_mask_storeu_ps(Y + 16 * q, ml, c[0][q]);                                   \
      else _mm512_storeu_ps(Y + 16 * q, c[0][q]);                                                                \
    }                                                                                                            \
    return j;                                                                                                    \
  }
ROWK(k1, 1, 0, 4)
ROWK(k1m, 1, 1, 4)
ROWK(k2, 2, 0, 4)
ROWK(k2m, 2, 1, 4)
ROWK(k3, 3, 0, 2)
ROWK(k3m, 3, 1, 2)
ROWK(k4, 4, 0, 2)
ROWK(k4m, 4, 1, 2)
ROWK(k5, 5, 0, 2)
ROWK(k5m, 5, 1, 2)
ROWK(k6, 6, 0, 2)
ROWK(k6m, 6, 1, 2)
ROWK(k7, 7, 0, 2)
ROWK(k7m, 7, 1, 2)
ROWK(k8, 8, 0, 2)
ROWK(k8m, 8, 1, 2)
ROWK(k9, 9, 0, 1)
ROWK(k9m, 9, 1, 1)
ROWK(k10, 10, 0, 1)
ROWK(k10m, 10, 1, 1)
ROWK(k11, 11, 0, 1)
ROWK(k11m, 11, 1, 1)
ROWK(k12, 12, 0, 1)
ROWK(k12m, 12, 1, 1)
ROWK(k13, 13, 0, 1)
ROWK(k13m, 13, 1, 1)
typedef int64_t (*rowk_fn)(const float *, int64_t, const uint32_t *, const float *, int64_t, int64_t, uint32_t,
                           uint32_t, int, float, float *, __mmask16, __m512, __m512);
static rowk_fn const k_rowk[14][2] = {{0, 0}, {k1, k1m}, {k2, k2m}, {k3, k3m}, {k4, k4m}, {k5, k5m}, {k6, k6m}, {k7, k7m}, {k8, k8m}, {k9, k9m}, {k10, k10m}, {k11, k11m}, {k12, k12m}, {k13, k13m}};

#define KC_VMAX 8     /* pixel tile: up to 8 vectors */
#define KC_L1 16384   /* bytes of X per K chunk (tile x chunk rows) */
#define KC_ROWS 256   /* rows per cursor group */
#define KC_MIN_P 512  /* chunking measured slower on 14x14 / 7x7 maps (one or two tiles) */

/* Unstructured, dense enough (>= 25% nonzeros) on large maps: K split into chunks whose pixel
   tile of X stays in L1 (128 px x 32 rows), so each chunk's nonzeros read X from L1 and the
   row's partial sum goes through Y (L2) once per chunk. The unchunked kernel reads one L2 line
   per FMA and is bound by L2 bandwidth; at 10-20% density the per-chunk Y traffic and loop
   exits cost more than that saves. Measured against the unchunked kernel (C harness,
   interleaved, one thread): 1.16-1.39x at 30-50% density on 128->128 56x56, 256->128 and
   256->256 28x28; 0.6-0.9x on 14x14 / 7x7 maps, hence KC_MIN_P. */
static T512 int spmm_kchunk(const esdk_spmm_args *a, const float *x, const float *v, const float *b, float *y) {
  int64_t P = a->P, K = a->K, g0, g1, p0, k0, m;
  int64_t nt = (P + 16 * KC_VMAX - 1) / (16 * KC_VMAX), tp = ((P + nt - 1) / nt + 15) / 16 * 16;
  int64_t kc = KC_L1 / (tp * 4) / 8 * 8;
  uint32_t cur[KC_ROWS];
  __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
  if (kc < 16) kc = 16;
  if (K <= kc || P < KC_MIN_P || a->m1 <= a->m0 ||
      4 * (int64_t)(a->row_ptr[a->m1] - a->row_ptr[a->m0]) < (a->m1 - a->m0) * K)
    return 0;
  for (g0 = a->m0; g0 < a->m1; g0 = g1) {
    g1 = a->m1 - g0 < KC_ROWS ? a->m1 : g0 + KC_ROWS;
    for (p0 = 0; p0 < P; p0 += tp) {
      int64_t cnt = P - p0 < tp ? P - p0 : tp;
      int nv = (int)((cnt + 15) / 16), msk = (cnt & 15) != 0;
      __mmask16 ml = esdk_mask16(cnt - 16 * (nv - 1));
      rowk_fn f = k_rowk[nv][msk];
      for (m = g0; m < g1; m++) cur[m - g0] = a->row_ptr[m];
      for (k0 = 0; k0 < K; k0 += kc) {
        uint32_t k1 = (uint32_t)(K - k0 < kc ? K : k0 + kc);
        int mode = (k0 == 0) | (k1 == (uint32_t)K) << 1;
        for (m = g0; m < g1; m++)
          cur[m - g0] = (uint32_t)f(x + p0, a->xs_k, a->col_idx, v, cur[m - g0], a->row_ptr[m + 1], 0, k1, mode,
                                    b ? b[m] : 0.0f, y + m * a->ys_m + p0, ml, lo, hi);
      }
    }
  }
  return 1;
}

#define KM_BUF 16384 /* floats of the aligned chunk copy (64 KB): kc x tile rows must fit */

/* K-chunked (chunk-major) weights, written by the exporter for maps up to 28x28: per pixel
   tile, chunk c's rows of X are copied to 64-byte-aligned rows of a stack buffer (196-px rows
   sit at 784-byte strides, so most direct loads straddle lines: ~10% of the layer), then every
   output row walks its nonzeros of chunk c, one contiguous stream of values and indices per
   chunk, carrying the partial sum through Y. Without the chunk-major layout the same walk
   reads the weights in nch strided passes and loses its gain once they leave L2. */
static T512 void spmm_chunk_major(const esdk_spmm_args *a, const float *x, const float *v, const float *b, float *y) {
  float xb[KM_BUF] __attribute__((aligned(64)));
  int64_t P = a->P, M = a->M, kc = a->kc, p0, ch, m, k, q;
  int maxv = P <= 208 ? 13 : 8;
  int64_t nt = (P + 16 * maxv - 1) / (16 * maxv), tp = ((P + nt - 1) / nt + 15) / 16 * 16;
  __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
  for (p0 = 0; p0 < P; p0 += tp) {
    int64_t cnt = P - p0 < tp ? P - p0 : tp, xs = (cnt + 15) / 16 * 16;
    int nv = (int)(xs / 16), msk = (cnt & 15) != 0, copy = kc * xs <= KM_BUF;
    __mmask16 ml = esdk_mask16(cnt - 16 * (nv - 1));
    rowk_fn f = k_rowk[nv][msk];
    for (ch = 0; ch < a->nch; ch++) {
      int64_t k0 = ch * kc, k1 = a->K - k0 < kc ? a->K : k0 + kc;
      int mode = (ch == 0) | (ch == a->nch - 1) << 1;
      const float *X = x + k0 * a->xs_k + p0;
      int64_t xstride = a->xs_k;
      if (copy) {
        for (k = k0; k < k1; k++)
          for (q = 0; q < nv; q++)
            _mm512_store_ps(xb + (k - k0) * xs + 16 * q,
                            LD(x + k * a->xs_k + p0, q, nv, msk, ml));
        X = xb;
        xstride = xs;
      }
      for (m = a->m0; m < a->m1; m++) {
        const uint32_t *rp = a->row_ptr + ch * M + m;
        f(X, xstride, a->col_idx, v, rp[0], rp[1], (uint32_t)k0, 0xFFFFFFFFu, mode, b ? b[m] : 0.0f,
          y + m * a->ys_m + p0, ml, lo, hi);
      }
    }
  }
}

T512 int esdk_spmm_f32_avx512(const esdk_spmm_args *a, const float *x, const float *v, const float *b, float *y) {
  int64_t p0, rb, r, rem, br = a->br, bc = a->bc, bsz = br * bc;
  int shared = bc == 1 && (br == 2 || br == 4 || br == 8);
  int64_t tile = br == 8 && shared ? 32 : 64; /* R x V accumulators stay within 16 zmm */
  int unst = br == 1 && bc == 1;
  /* up to 208 pixels (14x14 maps): one tile, so the weights stream once (-2..4% on MobileNetV1
     at 80-90%); larger maps: 8-vector tiles (6 / 8 / 12 measured equal; 4, the old 64 px, slower) */
  int maxv = a->P <= 208 ? 13 : 8;
  __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
  if (a->xs_p != 1 || a->ys_p != 1) return 0;
  if (a->nch > 1) {
    spmm_chunk_major(a, x, v, b, y);
    return 1;
  }
  if (unst && spmm_kchunk(a, x, v, b, y)) return 1;
  if (unst) {
    /* unstructured: the cost is per nonzero (index, broadcast, address), so each nonzero
       feeds as many pixel vectors as fit: tiles of up to maxv vectors, evenly split */
    int64_t nt = (a->P + 16 * maxv - 1) / (16 * maxv), tp = ((a->P + nt - 1) / nt + 15) / 16 * 16;
    for (p0 = 0; p0 < a->P; p0 += tp) {
      int64_t cnt = a->P - p0 < tp ? a->P - p0 : tp;
      int nv = (int)((cnt + 15) / 16), msk = (cnt & 15) != 0;
      __mmask16 ml = esdk_mask16(cnt - 16 * (nv - 1));
      rowu_fn f = k_rowu[nv][msk];
      for (rb = a->m0; rb < a->m1; rb++) {
        int64_t j0 = a->row_ptr[rb];
        f(x + p0, a->xs_k, a->col_idx + j0, v + j0, a->row_ptr[rb + 1] - j0, b ? b[rb] : 0.0f, y + rb * a->ys_m + p0,
          ml, lo, hi);
      }
    }
    return 1;
  }
  for (p0 = 0; p0 < a->P; p0 += rem) {
    /* a remainder of at most one vector joins the last full tile (one more accumulator set)
       instead of costing a whole extra walk over the nonzeros for a few pixels */
    rem = a->P - p0 <= tile + 16 ? a->P - p0 : tile;
    int nv = (int)((rem + 15) / 16), full = rem == tile;
    __mmask16 ml = esdk_mask16(rem - 16 * (nv - 1));
    const float *X = x + p0;
    for (rb = a->m0 / br; rb < a->m1 / br; rb++) {
      int64_t j0 = a->row_ptr[rb], nb = a->row_ptr[rb + 1] - j0;
      const uint32_t *ci = a->col_idx + j0;
      const float *vb = v + j0 * bsz, *bb = b ? b + rb * br : 0;
      float *Y = y + rb * br * a->ys_m + p0;
      if (br == 1) {
        if (full) row4(X, a->xs_k, ci, vb, nb, bc, bb ? bb[0] : 0.0f, Y, ml, lo, hi);
        else k_rowm[nv](X, a->xs_k, ci, vb, nb, bc, bb ? bb[0] : 0.0f, Y, ml, lo, hi);
      } else if (shared) {
        blk_fn f = br == 2 ? (full ? blk2x4 : k_b2m[nv]) : br == 4 ? (full ? blk4x4 : k_b4m[nv]) : (full ? blk8x2 : k_b8m[nv]);
        f(X, a->xs_k, ci, vb, nb, bb, Y, a->ys_m, ml, lo, hi);
      } else {
        /* general br x bc blocks: row r of every block, as a 1 x bc row over a strided view */
        for (r = 0; r < br; r++) {
          float acc_b = bb ? bb[r] : 0.0f;
          int64_t j, cc;
          __m512 c[5];
          int q;
          for (q = 0; q < 5; q++) c[q] = _mm512_set1_ps(acc_b);
          for (j = 0; j < nb; j++)
            for (cc = 0; cc < bc; cc++) {
              __m512 w = _mm512_set1_ps(vb[(j * br + r) * bc + cc]);
              const float *xk = X + ((int64_t)ci[j] * bc + cc) * a->xs_k;
              for (q = 0; q < nv; q++)
                c[q] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(q == nv - 1 ? ml : (__mmask16)0xFFFF, xk + 16 * q), c[q]);
            }
          for (q = 0; q < nv; q++)
            _mm512_mask_storeu_ps(Y + r * a->ys_m + 16 * q, q == nv - 1 ? ml : (__mmask16)0xFFFF, esdk_clamp512(c[q], lo, hi));
        }
      }
    }
  }
  return 1;
}
#endif
