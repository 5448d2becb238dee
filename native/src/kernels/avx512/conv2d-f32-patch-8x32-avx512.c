/* Convolution with a short reduction (group 1, C*KH*KW <= 64: the 3x3/s2 first layer, C=3)
   as a small GEMM per tile of 32 output pixels of one row: the C*KH*KW input vectors of the
   tile are copied once into a stack patch (stride 1: masked loads, stride 2: masked loads +
   an even-lane permute, others: masked gathers; padding lanes read nothing and are zero), then blocks of 8 output channels x 2 vectors (16 zmm accumulators) run over the
   patch from L1, each broadcast weight feeding 2 FMAs and each patch vector 8. The direct
   kernel (conv2d-f32-4x32) re-gathered every input vector for each block of 4 channels.
   Stride 1 / 2 rows of 16..128 outputs take conv_phase_rows instead (input rows copied once per
   output row into zero-padded phase rows, taps as plain loads; MobileNetV1's 3x3/s2 stem
   measured 0.45 -> 0.27 ms alone, 0.74 -> 0.45 ms inside the model); the per-tile patch stays
   for narrow maps, wider rows and other strides. */
#include "avx512.h"
#if defined(__x86_64__) || defined(_M_X64)

#define MAXK 64

#define BLK(NAME, R)                                                                                              \
  static T512 void NAME(const float *patch, int64_t KK, const float *w, const float *b, float *Y, int64_t ys,     \
                        __mmask16 m0, __mmask16 m1, __m512 lo, __m512 hi) {                                        \
    __m512 c[R][2];                                                                                               \
    int64_t k;                                                                                                    \
    int r;                                                                                                        \
    ESDK_UNROLL for (r = 0; r < R; r++) c[r][0] = c[r][1] = _mm512_set1_ps(b ? b[r] : 0.0f);                      \
    for (k = 0; k < KK; k++) {                                                                                    \
      __m512 x0 = _mm512_load_ps(patch + 32 * k), x1 = _mm512_load_ps(patch + 32 * k + 16);                       \
      ESDK_UNROLL for (r = 0; r < R; r++) {                                                                       \
        __m512 wv = _mm512_set1_ps(w[r * KK + k]);                                                                \
        c[r][0] = _mm512_fmadd_ps(wv, x0, c[r][0]);                                                               \
        c[r][1] = _mm512_fmadd_ps(wv, x1, c[r][1]);                                                               \
      }                                                                                                           \
    }                                                                                                             \
    ESDK_UNROLL for (r = 0; r < R; r++) {                                                                         \
      _mm512_mask_storeu_ps(Y + r * ys, m0, esdk_clamp512(c[r][0], lo, hi));                                      \
      _mm512_mask_storeu_ps(Y + r * ys + 16, m1, esdk_clamp512(c[r][1], lo, hi));                                 \
    }                                                                                                             \
  }
BLK(blk8, 8)
BLK(blk4, 4)
BLK(blk1, 1)

/* R channels x V vectors over input vectors xk[k] + off (rows of the phase buffers) */
#define PBLK(NAME, R, V)                                                                                          \
  static T512 void NAME(const float *const *xk, int64_t off, int64_t KK, const float *w, const float *b, float *Y, \
                        int64_t ys, __mmask16 ml, __m512 lo, __m512 hi) {                                         \
    __m512 c[R][V];                                                                                               \
    int64_t k;                                                                                                    \
    int r, q;                                                                                                     \
    ESDK_UNROLL for (r = 0; r < R; r++) ESDK_UNROLL for (q = 0; q < V; q++) c[r][q] = _mm512_set1_ps(b ? b[r] : 0.0f); \
    for (k = 0; k < KK; k++) {                                                                                    \
      __m512 xv[V];                                                                                               \
      ESDK_UNROLL for (q = 0; q < V; q++) xv[q] = _mm512_loadu_ps(xk[k] + off + 16 * q);                          \
      ESDK_UNROLL for (r = 0; r < R; r++) {                                                                       \
        __m512 wv = _mm512_set1_ps(w[r * KK + k]);                                                                \
        ESDK_UNROLL for (q = 0; q < V; q++) c[r][q] = _mm512_fmadd_ps(wv, xv[q], c[r][q]);                         \
      }                                                                                                           \
    }                                                                                                             \
    ESDK_UNROLL for (r = 0; r < R; r++) ESDK_UNROLL for (q = 0; q < V; q++) {                                     \
      __m512 o = esdk_clamp512(c[r][q], lo, hi);                                                                  \
      if (q == V - 1) _mm512_mask_storeu_ps(Y + r * ys + 16 * q, ml, o);                                          \
      else _mm512_storeu_ps(Y + r * ys + 16 * q, o);                                                              \
    }                                                                                                             \
  }
PBLK(pblk8x2, 8, 2)
PBLK(pblk8x1, 8, 1)
PBLK(pblk4x2, 4, 2)
PBLK(pblk4x1, 4, 1)
PBLK(pblk1x2, 1, 2)
PBLK(pblk1x1, 1, 1)

#define PH_FLOATS 4096 /* phase buffers of one output row (16 KB, L1) */

/* Stride 1 or 2, rows up to 128 wide: for each output row, every input row it reads (C x KH)
   is copied once into sw zero-padded phase rows B_ph[t] = row[sw * (t - padl) + ph] (stride 2:
   the even / odd columns, one permute per 16 outputs), so every tap of every output pixel is a
   plain unaligned load at a fixed offset: no per-tile masks, gathers or patch copies. The row
   is tiled in 32-pixel blocks plus one 16-pixel block, so a 112-wide row computes no padding
   lanes. Returns 0 (not taken) for other shapes. */
static T512 int conv_phase_rows(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y) {
  float buf[PH_FLOATS] __attribute__((aligned(64)));
  const float *xk[MAXK];
  int64_t s = a->sw, KK = (int64_t)a->C * a->KH * a->KW, OHW = (int64_t)a->OH * a->OW, HW = (int64_t)a->H * a->W;
  int64_t padl = (a->pl + s - 1) / s, qmax = ((int64_t)(a->KW - 1) * a->dw - a->pl) / s, bw, n, oh, c, kh, kw, t0, m, p0;
  __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  if (qmax < 0) qmax = 0;
  bw = (padl + qmax + (a->OW + 15) / 16 * 16 + 15) / 16 * 16; /* the furthest tile load */
  if ((s != 1 && s != 2) || a->OW > 128 || a->OW < 16 || (int64_t)a->C * a->KH * s * bw > PH_FLOATS) return 0;
  for (c = 0, kw = 0; c < a->C; c++)
    for (kh = 0; kh < a->KH; kh++) {
      int64_t kx;
      for (kx = 0; kx < a->KW; kx++, kw++) {
        int64_t d = kx * a->dw - a->pl, ph = ((d % s) + s) % s, q = (d - ph) / s;
        xk[kw] = buf + ((c * a->KH + kh) * s + ph) * bw + padl + q;
      }
    }
  for (n = 0; n < a->N; n++)
    for (oh = 0; oh < a->OH; oh++) {
      for (c = 0; c < a->C; c++)
        for (kh = 0; kh < a->KH; kh++) {
          int64_t ih = oh * a->sh - a->pt + kh * a->dh, ph;
          float *dst = buf + (c * a->KH + kh) * s * bw;
          const float *row = x + (n * a->C + c) * HW + ih * a->W;
          if (ih < 0 || ih >= a->H) {
            for (t0 = 0; t0 < s * bw; t0 += 16) _mm512_store_ps(dst + t0, _mm512_setzero_ps());
            continue;
          }
          for (ph = 0; ph < s; ph++, dst += bw)
            for (t0 = 0; t0 < bw; t0 += 16) {
              /* input columns s * (t0 - padl) + ph + s * l, l < 16: those inside [0, W) */
              int64_t i0 = s * (t0 - padl) + ph, h;
              if (i0 >= 0 && i0 + 16 * s <= a->W) { /* interior: no masks */
                if (s == 1) _mm512_store_ps(dst + t0, _mm512_loadu_ps(row + i0));
                else _mm512_store_ps(dst + t0, _mm512_permutex2var_ps(_mm512_loadu_ps(row + i0), even, _mm512_loadu_ps(row + i0 + 16)));
              } else if (s == 1) {
                int64_t l0 = -i0 < 0 ? 0 : -i0 > 16 ? 16 : -i0, l1 = a->W - i0 > 16 ? 16 : a->W - i0 < 0 ? 0 : a->W - i0;
                __mmask16 mk = l1 > l0 ? (__mmask16)(esdk_mask16(l1) & ~esdk_mask16(l0)) : 0;
                _mm512_store_ps(dst + t0, _mm512_maskz_loadu_ps(mk, row + i0));
              } else {
                __m512 half[2];
                for (h = 0; h < 2; h++) {
                  int64_t j0 = i0 + 16 * h;
                  int64_t l0 = -j0 < 0 ? 0 : -j0 > 16 ? 16 : -j0, l1 = a->W - j0 > 16 ? 16 : a->W - j0 < 0 ? 0 : a->W - j0;
                  __mmask16 mk = l1 > l0 ? (__mmask16)(esdk_mask16(l1) & ~esdk_mask16(l0)) : 0;
                  half[h] = _mm512_maskz_loadu_ps(mk, row + j0);
                }
                _mm512_store_ps(dst + t0, _mm512_permutex2var_ps(half[0], even, half[1]));
              }
            }
        }
      for (p0 = 0; p0 < a->OW; p0 += 32) {
        int64_t cnt = a->OW - p0 < 32 ? a->OW - p0 : 32;
        int two = cnt > 16;
        __mmask16 ml = esdk_mask16(cnt - 16 * two);
        float *Y = y + n * a->M * OHW + oh * a->OW + p0;
        for (m = a->m0; m + 8 <= a->m1; m += 8)
          (two ? pblk8x2 : pblk8x1)(xk, p0, KK, w + m * KK, b ? b + m : 0, Y + m * OHW, OHW, ml, lo, hi);
        for (; m + 4 <= a->m1; m += 4)
          (two ? pblk4x2 : pblk4x1)(xk, p0, KK, w + m * KK, b ? b + m : 0, Y + m * OHW, OHW, ml, lo, hi);
        for (; m < a->m1; m++)
          (two ? pblk1x2 : pblk1x1)(xk, p0, KK, w + m * KK, b ? b + m : 0, Y + m * OHW, OHW, ml, lo, hi);
      }
    }
  return 1;
}

T512 int esdk_conv2d_f32_patch_avx512(const esdk_conv_args *a, const float *x, const float *w, const float *b,
                                       float *y) {
  float patch[MAXK * 32] __attribute__((aligned(64)));
  int64_t KK = (int64_t)a->C * a->KH * a->KW, OHW = (int64_t)a->OH * a->OW, HW = (int64_t)a->H * a->W;
  int64_t n, oh, ow0, m, c, kh, kw;
  __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  __mmask16 mk[4];
  const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  if (a->group != 1 || KK > MAXK || a->m1 - a->m0 < 8) return 0;
  if (conv_phase_rows(a, x, w, b, y)) return 1;
  if (a->OW < 32) {
    /* narrow maps (DS-CNN's 5-wide rows): tiles of 32 consecutive output pixels across rows,
       each lane's input position computed per lane and gathered */
    int32_t ohv[32] __attribute__((aligned(64))), owv[32] __attribute__((aligned(64)));
    int64_t p0, l;
    for (n = 0; n < a->N; n++)
      for (p0 = 0; p0 < OHW; p0 += 32) {
        int64_t cnt = OHW - p0 < 32 ? OHW - p0 : 32;
        __mmask16 v0 = esdk_mask16(cnt), v1 = esdk_mask16(cnt > 16 ? cnt - 16 : 0);
        float *dst = patch;
        for (l = 0; l < 32; l++) {
          int64_t p = p0 + (l < cnt ? l : 0);
          ohv[l] = (int32_t)(p / a->OW * a->sh - a->pt);
          owv[l] = (int32_t)(p % a->OW * a->sw - a->pl);
        }
        for (c = 0; c < a->C; c++)
          for (kh = 0; kh < a->KH; kh++)
            for (kw = 0; kw < a->KW; kw++, dst += 32) {
              int q;
              for (q = 0; q < 2; q++) {
                __m512i ih = _mm512_add_epi32(_mm512_load_si512(ohv + 16 * q), _mm512_set1_epi32((int)(kh * a->dh)));
                __m512i iw = _mm512_add_epi32(_mm512_load_si512(owv + 16 * q), _mm512_set1_epi32((int)(kw * a->dw)));
                __mmask16 ok = _mm512_cmpge_epi32_mask(ih, _mm512_setzero_si512()) &
                               _mm512_cmplt_epi32_mask(ih, _mm512_set1_epi32(a->H)) &
                               _mm512_cmpge_epi32_mask(iw, _mm512_setzero_si512()) &
                               _mm512_cmplt_epi32_mask(iw, _mm512_set1_epi32(a->W)) & (q ? v1 : v0);
                __m512i idx = _mm512_add_epi32(_mm512_mullo_epi32(ih, _mm512_set1_epi32(a->W)), iw);
                _mm512_store_ps(dst + 16 * q, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), ok, idx, x + (n * a->C + c) * HW, 4));
              }
            }
        {
          float *Y = y + n * a->M * OHW + p0;
          for (m = a->m0; m + 8 <= a->m1; m += 8) blk8(patch, KK, w + m * KK, b ? b + m : 0, Y + m * OHW, OHW, v0, v1, lo, hi);
          for (; m + 4 <= a->m1; m += 4) blk4(patch, KK, w + m * KK, b ? b + m : 0, Y + m * OHW, OHW, v0, v1, lo, hi);
          for (; m < a->m1; m++) blk1(patch, KK, w + m * KK, b ? b + m : 0, Y + m * OHW, OHW, v0, v1, lo, hi);
        }
      }
    return 1;
  }
  for (n = 0; n < a->N; n++)
    for (oh = 0; oh < a->OH; oh++)
      for (ow0 = 0; ow0 < a->OW; ow0 += 32) {
        int64_t cnt = a->OW - ow0 < 32 ? a->OW - ow0 : 32;
        __mmask16 v0 = esdk_mask16(cnt), v1 = esdk_mask16(cnt > 16 ? cnt - 16 : 0);
        float *dst = patch;
        for (c = 0; c < a->C; c++)
          for (kh = 0; kh < a->KH; kh++) {
            int64_t ih = oh * a->sh - a->pt + kh * a->dh;
            for (kw = 0; kw < a->KW; kw++, dst += 32) {
              int q;
              if (ih < 0 || ih >= a->H) {
                _mm512_store_ps(dst, _mm512_setzero_ps());
                _mm512_store_ps(dst + 16, _mm512_setzero_ps());
                continue;
              }
              const float *row = x + (n * a->C + c) * HW + ih * a->W;
              if (a->sw <= 2) {
                /* input columns [c0, c0 + sw*cnt) hold the tile: plain (stride 1) or
                   even-lane-permuted (stride 2) masked loads, padding lanes stay zero */
                int64_t s = a->sw, c0 = ow0 * s - a->pl + kw * a->dw, span = s * (cnt - 1) + 1, i;
                for (i = 0; i < (s == 1 ? 2 : 4); i++) {
                  int64_t lo_ = -c0 - 16 * i, hi_ = (a->W < c0 + span ? a->W : c0 + span) - c0 - 16 * i;
                  lo_ = lo_ < 0 ? 0 : lo_ > 16 ? 16 : lo_;
                  hi_ = hi_ < 0 ? 0 : hi_ > 16 ? 16 : hi_;
                  mk[i] = hi_ > lo_ ? (__mmask16)(esdk_mask16(hi_) & ~esdk_mask16(lo_)) : (__mmask16)0;
                }
                if (s == 1) {
                  _mm512_store_ps(dst, _mm512_maskz_loadu_ps(mk[0], row + c0));
                  _mm512_store_ps(dst + 16, _mm512_maskz_loadu_ps(mk[1], row + c0 + 16));
                } else {
                  _mm512_store_ps(dst, _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(mk[0], row + c0), even,
                                                              _mm512_maskz_loadu_ps(mk[1], row + c0 + 16)));
                  _mm512_store_ps(dst + 16, _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(mk[2], row + c0 + 32), even,
                                                                   _mm512_maskz_loadu_ps(mk[3], row + c0 + 48)));
                }
                continue;
              }
              for (q = 0; q < 2; q++) {
                /* input column of lane l: (ow0 + 16q + l) * sw - pl + kw * dw */
                int64_t c0 = (ow0 + 16 * q) * a->sw - a->pl + kw * a->dw;
                __m512i col = _mm512_add_epi32(_mm512_set1_epi32((int)c0), _mm512_mullo_epi32(iota, _mm512_set1_epi32(a->sw)));
                __mmask16 ok = _mm512_cmpge_epi32_mask(col, _mm512_setzero_si512()) &
                               _mm512_cmplt_epi32_mask(col, _mm512_set1_epi32(a->W)) & (q ? v1 : v0);
                _mm512_store_ps(dst + 16 * q, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), ok, col, row, 4));
              }
            }
          }
        {
          float *Y = y + n * a->M * OHW + oh * a->OW + ow0;
          for (m = a->m0; m + 8 <= a->m1; m += 8) blk8(patch, KK, w + m * KK, b ? b + m : 0, Y + m * OHW, OHW, v0, v1, lo, hi);
          for (; m + 4 <= a->m1; m += 4) blk4(patch, KK, w + m * KK, b ? b + m : 0, Y + m * OHW, OHW, v0, v1, lo, hi);
          for (; m < a->m1; m++) blk1(patch, KK, w + m * KK, b ? b + m : 0, Y + m * OHW, OHW, v0, v1, lo, hi);
        }
      }
  return 1;
}
#endif
