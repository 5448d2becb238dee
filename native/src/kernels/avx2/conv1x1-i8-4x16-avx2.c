/* Dense int8 1x1 conv on NCHW with AVX2 (no VNNI): Y[M][HW] = W[M][K] (X[K][HW] - zx), 4 output
   channels x 16 pixels per register tile, 2 input channels per VPMADDWD lane.
   VPMADDUBSW would take 4 bytes per lane but saturates its int16 pair sums (255 * 127 * 2 >
   32767), so activations and weights are widened to int16: a pixel tile is packed once as
   pairs (x[2g][p] - zx, x[2g+1][p] - zx) (|x - zx| <= 255, so VPMADDWD's pair sum is exact and
   the int32 accumulation wraps like the scalar kernel's), and the weights of a chunk of rows
   are widened once per call into pairs (w[m][2g], w[m][2g+1]) broadcast as one dword. */
#include "i8-avx2.h"
#if defined(__x86_64__) || defined(_M_X64)
#include <string.h>

#define WBYTES 65536 /* widened weights of one chunk of rows */
#define XBYTES 32768 /* packed pixel tile: ceil(K/2) * 16 pixels * 4 bytes */

/* pairs of rows 2g, 2g+1 for 16 pixels, in the order the unpacks leave: pixels 0-3, 8-11 in the
   first 8 dwords, 4-7, 12-15 in the next 8 */
static T256 void pack_x(const int8_t *X, int64_t hw, int64_t K, int64_t n, int32_t zx, int16_t *buf) {
  const __m256i z = _mm256_set1_epi16((int16_t)zx);
  int64_t g, G = (K + 1) / 2;
  for (g = 0; g < G; g++) {
    __m256i r[2];
    int i;
    for (i = 0; i < 2; i++) {
      int64_t k = 2 * g + i;
      if (k >= K) {
        r[i] = _mm256_setzero_si256();
      } else if (n == 16) {
        r[i] = _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(X + k * hw))), z);
      } else {
        int8_t t[16];
        memset(t, 0, sizeof t);
        memcpy(t, X + k * hw, (size_t)n);
        r[i] = _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)t)), z);
      }
    }
    _mm256_storeu_si256((__m256i *)(buf + 32 * g), _mm256_unpacklo_epi16(r[0], r[1]));
    _mm256_storeu_si256((__m256i *)(buf + 32 * g + 16), _mm256_unpackhi_epi16(r[0], r[1]));
  }
}

static T256 void store16(__m256i a0, __m256i a1, const esdk_rq256 *q, int8_t *y, int64_t n) {
  __m256i v0 = esdk_rq256_apply(a0, q), v1 = esdk_rq256_apply(a1, q);
  __m128i lo = esdk_i32x8_to_i8(_mm256_permute2x128_si256(v0, v1, 0x20));
  __m128i hi = esdk_i32x8_to_i8(_mm256_permute2x128_si256(v0, v1, 0x31));
  if (n == 16) {
    _mm_storel_epi64((__m128i *)y, lo);
    _mm_storel_epi64((__m128i *)(y + 8), hi);
  } else {
    int8_t t[16];
    _mm_storel_epi64((__m128i *)t, lo);
    _mm_storel_epi64((__m128i *)(t + 8), hi);
    memcpy(y, t, (size_t)n);
  }
}

/* Rows [m0, m1) of a 16-pixel tile: xb the packed pairs (G pair rows), wb the widened weights
   of rows wm0.. (row stride Kp); Y[m * ys + p] for p < np. qp: the call's requantization
   constants (its per-channel fields are overwritten). */
T256 void esdk_gemm_i8_avx2_rows(const int16_t *xb, int64_t G, const int16_t *wb, int64_t Kp, int64_t m0, int64_t m1,
                                 int64_t wm0, const int32_t *b, const int32_t *mult, const int32_t *shift,
                                 int32_t qstride, esdk_rq256 *qp, int8_t *Y, int64_t ys, int64_t np) {
  int64_t m, g;
  for (m = m0; m + 4 <= m1; m += 4) {
    __m256i c[4][2];
    const int16_t *wr = wb + (m - wm0) * Kp;
    int r;
    ESDK_UNROLL for (r = 0; r < 4; r++) c[r][0] = c[r][1] = _mm256_set1_epi32(b ? b[m + r] : 0);
    for (g = 0; g < G; g++) {
      __m256i x0 = _mm256_load_si256((const __m256i *)(xb + 32 * g));
      __m256i x1 = _mm256_load_si256((const __m256i *)(xb + 32 * g + 16));
      ESDK_UNROLL for (r = 0; r < 4; r++) {
        int32_t pr;
        __m256i wv;
        memcpy(&pr, wr + r * Kp + 2 * g, 4);
        wv = _mm256_set1_epi32(pr);
        c[r][0] = _mm256_add_epi32(c[r][0], _mm256_madd_epi16(x0, wv));
        c[r][1] = _mm256_add_epi32(c[r][1], _mm256_madd_epi16(x1, wv));
      }
    }
    for (r = 0; r < 4; r++) {
      esdk_rq256_set_ch(qp, mult[(m + r) * qstride], shift[(m + r) * qstride]);
      store16(c[r][0], c[r][1], qp, Y + (m + r) * ys, np);
    }
  }
  for (; m < m1; m++) {
    const int16_t *wr = wb + (m - wm0) * Kp;
    __m256i c0 = _mm256_set1_epi32(b ? b[m] : 0), c1 = c0;
    for (g = 0; g < G; g++) {
      int32_t pr;
      __m256i wv;
      memcpy(&pr, wr + 2 * g, 4);
      wv = _mm256_set1_epi32(pr);
      c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(xb + 32 * g)), wv));
      c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(xb + 32 * g + 16)), wv));
    }
    esdk_rq256_set_ch(qp, mult[m * qstride], shift[m * qstride]);
    store16(c0, c1, qp, Y + m * ys, np);
  }
}

T256 int esdk_conv1x1_i8_avx2(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b,
                              int8_t *y) {
  int64_t HW = (int64_t)a->H * a->W, K = a->C, M = a->M, G = (K + 1) / 2, Kp = 2 * G, chunk, mc, n, p0, m;
  int16_t wb[WBYTES / 2] __attribute__((aligned(32)));
  int16_t xb[XBYTES / 2] __attribute__((aligned(32)));
  esdk_rq256 q;
  if (G * 64 > XBYTES || Kp * 2 * 4 > WBYTES) return 0;
  chunk = WBYTES / (Kp * 2) / 4 * 4; /* rows whose widened weights fit, a multiple of 4 */
  esdk_rq256_set(&q, 0, 0, a->zy, a->qmin, a->qmax);
  for (mc = a->m0; mc < a->m1; mc += chunk) {
    int64_t me = mc + chunk < a->m1 ? mc + chunk : a->m1;
    for (m = mc; m < me; m++) esdk_widen_w(w + m * K, K, wb + (m - mc) * Kp);
    for (n = 0; n < a->N; n++) {
      const int8_t *X = x + n * K * HW;
      int8_t *Y = y + n * M * HW;
      for (p0 = 0; p0 < HW; p0 += 16) {
        int64_t np = HW - p0 < 16 ? HW - p0 : 16;
        pack_x(X + p0, HW, K, np, a->zx, xb);
        esdk_gemm_i8_avx2_rows(xb, G, wb, Kp, mc, me, mc, b, a->mult, a->shift, a->qstride, &q, Y + p0, HW, np);
      }
    }
  }
  return 1;
}
#endif
