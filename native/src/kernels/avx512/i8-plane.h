/* Padded u8 planes for the int8 3x3 VNNI kernels (depthwise dwconv3x3-i8-16, dense
   conv3x3-i8-4x64): geometry, building a band of rows, copying staged outputs out, and the byte
   orders the 4-vector loads leave. See dwconv3x3-i8-16-avx512.c for the layout. */
#ifndef ESDK_I8_PLANE_H
#define ESDK_I8_PLANE_H
#include "i8-vnni.h"
#if defined(__x86_64__) || defined(_M_X64)

/* byte b = 4t + k of lane L comes from packed byte 4k + t (stride 1) */
static inline T512 __m512i plane_perm_s1(void) {
  int8_t t[64];
  int L, b;
  for (L = 0; L < 4; L++)
    for (b = 0; b < 16; b++) t[16 * L + b] = (int8_t)(4 * (b & 3) + (b >> 2));
  return _mm512_loadu_si512(t);
}

/* stride 2: packed lane L = [a: f0+8L+2t][b: f0+8L+2t+1][c: f0+32+8L+2t][d: f0+33+8L+2t];
   in-lane order to [f0+8L .. +7][f0+32+8L .. +7], then qwords (2L, 2L+1) go to (L, 4 + L) */
static inline T512 __m512i plane_perm_s2(void) {
  int8_t t[64];
  int L, b;
  for (L = 0; L < 4; L++)
    for (b = 0; b < 16; b++) {
      int h = b >> 3, o = b & 7; /* half h, output 2t + k within it */
      t[16 * L + b] = (int8_t)(8 * h + 4 * (o & 1) + (o >> 1));
    }
  return _mm512_loadu_si512(t);
}

static inline T512 void plane_fill(uint8_t *U, int64_t nbytes, int8_t v) {
  const __m512i pad = _mm512_set1_epi8(v);
  int64_t f;
  for (f = 0; f < nbytes; f += 64) _mm512_store_si512(U + f, pad);
}

/* bytes of U a band of R output rows uses; half: the offset of O (stride 2) */
static inline int64_t plane_bytes(int64_t R, int64_t s, int64_t OWp, int64_t Wp, int64_t *half) {
  int64_t Fp = (R * OWp + 63) / 64 * 64, pr = (R - 1) * s + 3, e;
  if (s == 1) {
    e = Fp + 2 * Wp + 64; /* last group reads up to f0 + 2 Wp + 3 + 63 */
    return e > pr * Wp ? (e + 63) / 64 * 64 : (pr * Wp + 63) / 64 * 64;
  }
  e = (2 * Fp + Wp + 64 + 63) / 64 * 64; /* E read up to 2 f0 + Wp + 66 + 63; rows (pr + 1) / 2 */
  if (e < (pr + 1) / 2 * Wp) e = ((pr + 1) / 2 * Wp + 63) / 64 * 64;
  if (half) *half = e;
  return 2 * e;
}

typedef struct {
  int64_t s, H, W, OW, OWp, Wp, pl, Lh;
  __mmask64 wmask, omask;
} esdk_plane;

/* data rows of one band (input rows r0 .. r0 + pr - 1, clipped to the map) into the plane */
static inline T512 void plane_put_rows(const esdk_plane *g, const int8_t *xm, int64_t r0, int64_t pr, uint8_t *U) {
  const __m512i m80 = _mm512_set1_epi8(-128);
  int64_t r, j;
  for (r = 0; r < pr; r++) {
    int64_t ih = r0 + r;
    uint8_t *ur = (g->s == 1 ? U + r * g->Wp : U + (r & 1) * g->Lh + (r >> 1) * g->Wp) + g->pl;
    if (ih < 0 || ih >= g->H) continue;
    if (g->W <= 64) {
      _mm512_mask_storeu_epi8(ur, g->wmask, _mm512_xor_si512(_mm512_maskz_loadu_epi8(g->wmask, xm + ih * g->W), m80));
      continue;
    }
    for (j = 0; j < g->W; j += 64) {
      int64_t left = g->W - j;
      __mmask64 mk = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
      _mm512_mask_storeu_epi8(ur + j, mk, _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk, xm + ih * g->W + j), m80));
    }
  }
}

/* rows of the band from the staging buffer (columns >= OW dropped) */
static inline T512 void plane_put_out(const esdk_plane *g, const int8_t *tb, int64_t rows, int8_t *dst) {
  int64_t oh, j;
  for (oh = 0; oh < rows; oh++, dst += g->OW) {
    const int8_t *src = tb + oh * g->OWp;
    if (g->OW <= 64) {
      _mm512_mask_storeu_epi8(dst, g->omask, _mm512_maskz_loadu_epi8(g->omask, src));
      continue;
    }
    for (j = 0; j < g->OW; j += 64) {
      int64_t left = g->OW - j;
      __mmask64 mk = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
      _mm512_mask_storeu_epi8(dst + j, mk, _mm512_maskz_loadu_epi8(mk, src + j));
    }
  }
}

#endif
#endif
