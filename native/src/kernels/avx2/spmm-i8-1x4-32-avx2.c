/* Block-CSR int8 1x1 conv (NCHW) for 1x4 blocks with AVX2 (no VNNI): the shape the host
   exporter stores int8 sparse 1x1 convs in. A tile of up to 32 pixels is packed once as int16
   pairs (x[2g][p] - zx, x[2g+1][p] - zx) (conv1x1-i8-4x16-avx2.c's layout: pixels 0-3, 8-11
   then 4-7, 12-15 per 16), so a 1x4 block is 2 VPMADDWD per 8 pixels against its weights
   widened to the pairs (w0, w1), (w2, w3). Other block shapes and strided layouts decline (the
   scalar kernel runs). */
#include "i8-avx2.h"
#if defined(__x86_64__) || defined(_M_X64)
#include <string.h>

#define XBYTES 65536 /* packed tile: ceil(K/2) pair rows * 32 pixels * 4 bytes */

/* pair rows for n <= 32 pixels (two 16-pixel halves, 64 bytes each per pair row) */
static T256 void pack32(const int8_t *X, int64_t xs, int64_t K, int64_t n, int32_t zx, int16_t *buf) {
  const __m256i z = _mm256_set1_epi16((int16_t)zx);
  int64_t g, G = (K + 3) / 4 * 2; /* whole blocks: pair rows past K hold zeros */
  int h;
  for (g = 0; g < G; g++)
    for (h = 0; h < 2; h++) {
      __m256i r[2];
      int i;
      int64_t left = n - 16 * h;
      for (i = 0; i < 2; i++) {
        int64_t k = 2 * g + i;
        if (k >= K || left <= 0) {
          r[i] = _mm256_setzero_si256();
        } else if (left >= 16) {
          r[i] = _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(X + k * xs + 16 * h))), z);
        } else {
          int8_t t[16];
          memset(t, 0, sizeof t);
          memcpy(t, X + k * xs + 16 * h, (size_t)left);
          r[i] = _mm256_sub_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)t)), z);
        }
      }
      _mm256_storeu_si256((__m256i *)(buf + 64 * g + 32 * h), _mm256_unpacklo_epi16(r[0], r[1]));
      _mm256_storeu_si256((__m256i *)(buf + 64 * g + 32 * h + 16), _mm256_unpackhi_epi16(r[0], r[1]));
    }
}

static inline T256 __m256i pair(const int8_t *p) {
  return _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)(int16_t)p[0] | (uint32_t)(uint16_t)(int16_t)p[1] << 16));
}

/* 16 requantized pixels from the two accumulators of a half (lanes 0-3, 8-11 / 4-7, 12-15) */
static T256 void store16(__m256i a0, __m256i a1, const esdk_rq256 *q, int8_t *y, int64_t n) {
  __m256i v0 = esdk_rq256_apply(a0, q), v1 = esdk_rq256_apply(a1, q);
  int8_t t[16];
  _mm_storel_epi64((__m128i *)t, esdk_i32x8_to_i8(_mm256_permute2x128_si256(v0, v1, 0x20)));
  _mm_storel_epi64((__m128i *)(t + 8), esdk_i32x8_to_i8(_mm256_permute2x128_si256(v0, v1, 0x31)));
  memcpy(y, t, (size_t)(n < 16 ? n : 16));
}

T256 int esdk_spmm_i8_1x4_avx2(const esdk_spmm_args *a, const int8_t *x, const int8_t *v, const int32_t *b,
                               int8_t *y) {
  int64_t K = a->K, P = a->P, G = (K + 3) / 4 * 2, p0, m, j;
  int16_t xb[XBYTES / 2] __attribute__((aligned(32)));
  esdk_rq256 q;
  if (a->br != 1 || a->bc != 4 || a->xs_p != 1 || a->ys_p != 1 || G * 128 > XBYTES) return 0;
  esdk_rq256_set(&q, 0, 0, a->zy, a->qmin, a->qmax);
  for (p0 = 0; p0 < P; p0 += 32) {
    int64_t n = P - p0 < 32 ? P - p0 : 32;
    pack32(x + p0, a->xs_k, K, n, a->zx, xb);
    for (m = a->m0; m < a->m1; m++) {
      __m256i c[4];
      int u;
      for (u = 0; u < 4; u++) c[u] = _mm256_set1_epi32(b ? b[m] : 0);
      for (j = a->row_ptr[m]; j < a->row_ptr[m + 1]; j++) {
        const int16_t *xg = xb + 128 * (int64_t)a->col_idx[j]; /* pair rows 2 * col, 2 * col + 1 */
        __m256i w01 = pair(v + 4 * j), w23 = pair(v + 4 * j + 2);
        ESDK_UNROLL for (u = 0; u < 4; u++)
          c[u] = _mm256_add_epi32(c[u], _mm256_add_epi32(
                                            _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(xg + 16 * u)), w01),
                                            _mm256_madd_epi16(_mm256_load_si256((const __m256i *)(xg + 64 + 16 * u)), w23)));
      }
      esdk_rq256_set_ch(&q, a->mult[m * a->qstride], a->shift[m * a->qstride]);
      store16(c[0], c[1], &q, y + m * a->ys_m + p0, n);
      if (n > 16) store16(c[2], c[3], &q, y + m * a->ys_m + p0 + 16, n - 16);
    }
  }
  return 1;
}
#endif
