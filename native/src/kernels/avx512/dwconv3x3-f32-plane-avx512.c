/* Depthwise 3x3, stride 1 or 2, for maps whose padded planes + output fit 112 KiB of stack
   (MobileNet: every depthwise layer, 112x112 included).
   Each channel is copied into a zero-padded plane (stride 2: four phase planes, even/odd
   rows x even/odd columns, deinterleaved with one permute per 16 outputs), so every tap is
   one contiguous shifted load of the flattened plane: output q = oh*Wq + ow reads
   plane[q + (kh/s)*Wq + kw/s]. All pixels of the channel (including the 2/s junk columns
   per row) go through 4-vector FMA steps with no border code; the rows are then compacted
   into y. The padding cells are zeroed once per call and never written again. Measured
   against the row-vectorised kernel (min of 40, one-op artifacts): 512ch 14x14 156 -> 55 us,
   1024ch 7x7 140 -> 48 us, 128ch 56x56 309 -> 179 us, 32ch 112x112 253 -> 184 us, 64ch
   112x112/s2 223 -> 152 us. */
#include "avx512.h"
#include <string.h>
#if defined(__x86_64__) || defined(_M_X64)

#define PLANE_FLOATS 28672

T512 int esdk_dwconv3x3_f32_plane_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b,
                                          float *y) {
  float buf[PLANE_FLOATS] __attribute__((aligned(64)));
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  int64_t s = a->sw, e = 2 / (s ? s : 1), OH = a->OH, OW = a->OW, H = a->H, W = a->W;
  int64_t Wq = OW + e, Hq = OH + e, nq, PL, n, c, i, q0, oh, ncols, nrows;
  int64_t off[9];
  const float *pl9[9];
  float *outb;
  __m512 vlo = _mm512_set1_ps(a->lo), vhi = _mm512_set1_ps(a->hi);
  int k;
  if ((s != 1 && s != 2) || a->sh != s || a->pt < 0 || a->pl < 0) return 0;
  nq = (OH * Wq + 63) / 64 * 64;
  PL = (nq + e * (Wq + 1) + 15) / 16 * 16;
  if (PL < Hq * Wq) PL = (Hq * Wq + 15) / 16 * 16;
  if (s * s * PL + nq > PLANE_FLOATS) return 0;
  outb = buf + s * s * PL;
  memset(buf, 0, sizeof(float) * (size_t)(s * s * PL));
  for (k = 0; k < 9; k++) {
    int64_t kh = k / 3, kw = k % 3;
    off[k] = (kh % s) * s * PL + (kh / s) * Wq + kw / s; /* plane (kh%s, kw%s) */
    off[k] += (kw % s) * PL;
    pl9[k] = buf + off[k];
  }
  /* input rows/cols that land inside the planes: padded index < s*Hq (s*Wq) */
  nrows = s * Hq - a->pt < H ? s * Hq - a->pt : H;
  ncols = s * Wq - a->pl < W ? s * Wq - a->pl : W;
  if (nrows < 0) nrows = 0;
  if (ncols < 0) ncols = 0;
  for (n = 0; n < a->N; n++)
    for (c = a->m0; c < a->m1; c++) {
      const float *xc = x + (n * a->C + c) * H * W, *wc = w + c * 9;
      float *yc = y + (n * a->M + c) * OH * OW;
      __m512 wv[9], vb = _mm512_set1_ps(b ? b[c] : 0.0f);
      for (k = 0; k < 9; k++) wv[k] = _mm512_set1_ps(wc[k]);
      /* copy in */
      for (i = 0; i < nrows; i++) {
        const float *xr = xc + i * W;
        int64_t pr = i + a->pt, cc;
        if (s == 1) {
          float *dst = buf + pr * Wq + a->pl;
          for (cc = 0; cc < ncols; cc += 16)
            _mm512_mask_storeu_ps(dst + cc, esdk_mask16(ncols - cc), _mm512_maskz_loadu_ps(esdk_mask16(ncols - cc), xr + cc));
        } else {
          float *de = buf + ((pr & 1) * 2 + (a->pl & 1)) * PL + (pr >> 1) * Wq + (a->pl >> 1);
          float *dod = buf + ((pr & 1) * 2 + ((a->pl + 1) & 1)) * PL + (pr >> 1) * Wq + ((a->pl + 1) >> 1);
          for (cc = 0; cc < ncols; cc += 32) {
            int64_t m = ncols - cc < 32 ? ncols - cc : 32;
            __m512 l0 = _mm512_maskz_loadu_ps(esdk_mask16(m), xr + cc);
            __m512 l1 = _mm512_maskz_loadu_ps(esdk_mask16(m > 16 ? m - 16 : 0), xr + cc + 16);
            _mm512_mask_storeu_ps(de + cc / 2, esdk_mask16((m + 1) / 2), _mm512_permutex2var_ps(l0, even, l1));
            _mm512_mask_storeu_ps(dod + cc / 2, esdk_mask16(m / 2), _mm512_permutex2var_ps(l0, odd, l1));
          }
        }
      }
      /* all outputs of the plane, 64 at a time */
      for (q0 = 0; q0 < nq; q0 += 64) {
        __m512 a0 = vb, a1 = vb, a2 = vb, a3 = vb;
        ESDK_UNROLL for (k = 0; k < 9; k++) {
          const float *p = pl9[k] + q0;
          a0 = _mm512_fmadd_ps(wv[k], _mm512_loadu_ps(p), a0);
          a1 = _mm512_fmadd_ps(wv[k], _mm512_loadu_ps(p + 16), a1);
          a2 = _mm512_fmadd_ps(wv[k], _mm512_loadu_ps(p + 32), a2);
          a3 = _mm512_fmadd_ps(wv[k], _mm512_loadu_ps(p + 48), a3);
        }
        _mm512_store_ps(outb + q0, esdk_clamp512(a0, vlo, vhi));
        _mm512_store_ps(outb + q0 + 16, esdk_clamp512(a1, vlo, vhi));
        _mm512_store_ps(outb + q0 + 32, esdk_clamp512(a2, vlo, vhi));
        _mm512_store_ps(outb + q0 + 48, esdk_clamp512(a3, vlo, vhi));
      }
      /* compact rows */
      for (oh = 0; oh < OH; oh++) {
        int64_t cc;
        for (cc = 0; cc < OW; cc += 16)
          _mm512_mask_storeu_ps(yc + oh * OW + cc, esdk_mask16(OW - cc),
                                _mm512_maskz_loadu_ps(esdk_mask16(OW - cc), outb + oh * Wq + cc));
      }
    }
  return 1;
}
#endif
