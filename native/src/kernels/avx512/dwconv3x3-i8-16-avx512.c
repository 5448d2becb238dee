/* int8 depthwise 3x3 conv (stride 1 or 2, any padding, dilation 1), NCHW, AVX-512 VNNI: one
   VPDPBUSD per kernel row and 16 outputs (3 taps + a zero weight byte per 32-bit lane).

   Per channel, a band of input rows is copied once into a padded u8 plane U (u = x + 128; the
   padding holds zx + 128, so it contributes exactly what the scalar kernel's skipped taps do
   once the (128 + zx) * sum(w) correction is folded into the bias). Outputs are computed over
   the flat index f = oh * OWp + ow of a grid, so one vector covers several short rows (14x14,
   7x7 maps) and a band of a wide map is one long row; lanes with ow >= OW are computed and
   dropped when rows are copied out of the staging buffer. Stride 1: plane row pitch Wp = OWp,
   tap (kh, kw) of output f is U[f + kh * Wp + kw]. Stride 2: even and odd plane rows go to two
   half planes E and O of pitch Wp = 2 OWp, and the taps are E[2f + kw], O[2f + kw],
   E[2f + Wp + kw].

   No byte shuffles feed the MACs: the dword i of an unaligned load at row + f0 + k (stride 1)
   is the 3 taps of output f0 + 4i + k plus one byte that meets the zero weight byte. So 4 loads
   give 64 outputs interleaved by 4 (vector k holds f0 + 4i + k); stride 2 loads at 2 f0 + 0, +2
   (outputs f0 + 2i + k') and +64, +66 (f0 + 32 + 2i + k'). The 4 vectors are requantized
   together (esdk_rq512_pack4) and one in-lane byte shuffle (+ a qword permute for stride 2)
   restores the output order. */
#include "i8-plane.h"
#if defined(__x86_64__) || defined(_M_X64)
#include <string.h>

#define UMAX 24576 /* padded u8 plane of one band */
#define FMAX 8192  /* flat outputs of one band (staging) */

/* 64 flat outputs from f on, in output order: stride s (1 or 2) over a band whose kernel rows
   start at r0, r1, r2; perm is plane_perm_s1() or plane_perm_s2() to match s. One VPDPBUSD per
   kernel row and 16 outputs (stride 1: 4 interleaved groups at byte offsets 0-3; stride 2: two
   at offsets 0 and 2 from each of two 64-byte halves, then a qword permute). */
static inline T512 __m512i tile64(int s, const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, int64_t f,
                                  const __m512i wk[3], __m512i cb, const esdk_rq512 *q, __m512i perm) {
  __m512i c0 = cb, c1 = cb, c2 = cb, c3 = cb, out;
  const int64_t o2 = s == 1 ? 2 : 64, o3 = s == 1 ? 3 : 66;
  int kh;
  ESDK_UNROLL for (kh = 0; kh < 3; kh++) {
    const uint8_t *u = (kh == 0 ? r0 : kh == 1 ? r1 : r2) + s * f;
    c0 = _mm512_dpbusd_epi32(c0, _mm512_loadu_si512(u), wk[kh]);
    c1 = _mm512_dpbusd_epi32(c1, _mm512_loadu_si512(u + s), wk[kh]);
    c2 = _mm512_dpbusd_epi32(c2, _mm512_loadu_si512(u + o2), wk[kh]);
    c3 = _mm512_dpbusd_epi32(c3, _mm512_loadu_si512(u + o3), wk[kh]);
  }
  out = _mm512_shuffle_epi8(esdk_rq512_pack4(c0, c1, c2, c3, q), perm);
  return s == 1 ? out : _mm512_permutexvar_epi64(_mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0), out);
}

/* flat outputs [0, Fp) of one band into the staging buffer tb */
static T512 void run_band(const esdk_plane *g, const uint8_t *U, int64_t Fp, const __m512i wk[3], __m512i cb,
                          const esdk_rq512 *q, int8_t *tb) {
  const __m512i perm = g->s == 1 ? plane_perm_s1() : plane_perm_s2();
  const uint8_t *rb0 = U, *rb1 = g->s == 1 ? U + g->Wp : U + g->Lh, *rb2 = g->s == 1 ? U + 2 * g->Wp : U + g->Wp;
  int64_t f;
  if (g->s == 1)
    for (f = 0; f < Fp; f += 64) _mm512_store_si512(tb + f, tile64(1, rb0, rb1, rb2, f, wk, cb, q, perm));
  else
    for (f = 0; f < Fp; f += 64) _mm512_store_si512(tb + f, tile64(2, rb0, rb1, rb2, f, wk, cb, q, perm));
}

/* channel constants: the 3 weight dwords (w0, w1, w2, 0) per kernel row and the corrected bias */
static T512 __m512i chan(const esdk_conv_args *a, const int8_t *w, const int32_t *b, int64_t m, __m512i wk[3]) {
  const int8_t *wm = w + m * 9;
  int32_t sw = 0;
  int i;
  for (i = 0; i < 3; i++) {
    wk[i] = _mm512_set1_epi32((int32_t)((uint32_t)(uint8_t)wm[3 * i] | (uint32_t)(uint8_t)wm[3 * i + 1] << 8 |
                                        (uint32_t)(uint8_t)wm[3 * i + 2] << 16));
    sw += wm[3 * i] + wm[3 * i + 1] + wm[3 * i + 2];
  }
  return _mm512_set1_epi32((int32_t)((uint32_t)(b ? b[m] : 0) - (uint32_t)(128 + a->zx) * (uint32_t)sw));
}

/* Single-band stride-1 maps on CPUs with AVX512_VBMI2 (byte expand / compress): the plane is
   built 64 bytes at a time by expanding the channel's contiguous input bytes into the data
   positions (the rest keep the padding byte), and each 64-output group is compressed straight
   from the register into y (columns >= OW dropped), so neither a per-row copy nor the staging
   buffer is needed. Same plane, same MACs, same requantization as run_band: bit-exact. */
#define T512V __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi,avx512vbmi2,avx2,fma")))
int esdk_cpu_has_vbmi(void);
int esdk_cpu_has_vbmi2(void);

static inline __mmask64 lenmask(int64_t n) { return n >= 64 ? ~(__mmask64)0 : n <= 0 ? 0 : (((__mmask64)1 << n) - 1); }

/* Output masks of single-band maps: flat output f = oh * OWp + ow is kept when ow < OW */
static void out_masks(int64_t OH, int64_t OW, int64_t OWp, int64_t NO, __mmask64 *om, int32_t *oo) {
  int64_t c, r;
  for (c = 0, r = 0; c < NO; c++) {
    __mmask64 mk = 0;
    int i;
    for (i = 0; i < 64; i++) {
      int64_t fi = 64 * c + i;
      if (fi < OH * OWp && fi % OWp < OW) mk |= (__mmask64)1 << i;
    }
    om[c] = mk;
    oo[c] = (int32_t)r;
    r += __builtin_popcountll(mk);
  }
}

static T512V void flat_s1(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y,
                          const esdk_plane *g, int64_t ext, esdk_rq512 *q, uint8_t *U0, uint8_t *U1) {
  const __m512i p1 = plane_perm_s1(), m80 = _mm512_set1_epi8(-128), zx = _mm512_set1_epi8((int8_t)a->zx);
  int64_t H = a->H, W = a->W, HW = H * W, OH = a->OH, OW = a->OW, OHW = OH * OW, Wp = g->Wp;
  int64_t nin = H < OH + 2 - a->pt ? H : OH + 2 - a->pt, Fp = (OH * Wp + 63) / 64 * 64, NO = Fp / 64;
  int64_t nc = a->m1 - a->m0, T = a->N * nc, t, r, c, c0, c1, f;
  __mmask64 im[UMAX / 64], om[FMAX / 64];
  int32_t io[UMAX / 64], oo[FMAX / 64];
  uint8_t *U[2];
  U[0] = U0;
  U[1] = U1;
  /* input chunks [c0, c1]: data bytes (ih, iw) sit at (ih + pt) Wp + pl + iw */
  c0 = (a->pt * Wp + a->pl) / 64;
  c1 = nin > 0 ? ((nin - 1 + a->pt) * Wp + a->pl + W - 1) / 64 : c0 - 1;
  for (c = c0; c <= c1; c++) im[c] = 0;
  for (r = 0; r < nin; r++) {
    int64_t p0 = (r + a->pt) * Wp + a->pl, p;
    for (p = p0; p < p0 + W;) { /* set bits [p, min(p0 + W, next chunk)) */
      int64_t ch = p / 64, lo = p % 64, hi = p0 + W - ch * 64 < 64 ? p0 + W - ch * 64 : 64;
      im[ch] |= lenmask(hi) & ~lenmask(lo);
      p = ch * 64 + hi;
    }
  }
  for (c = c0, r = 0; c <= c1; c++) {
    io[c] = (int32_t)r;
    r += __builtin_popcountll(im[c]);
  }
  out_masks(OH, OW, Wp, NO, om, oo);
  (void)ext;
  for (t = -1; t < T; t++) {
    if (t + 1 < T) { /* plane of the next channel first: its stores are not read in this step */
      int64_t un = (t + 1) / nc, um = a->m0 + (t + 1) % nc;
      const int8_t *xc = x + (un * a->C + um) * HW;
      uint8_t *u = U[(t + 1) & 1];
      for (c = c0; c <= c1; c++) {
        __m512i v = _mm512_maskz_loadu_epi8(lenmask(__builtin_popcountll(im[c])), xc + io[c]);
        _mm512_store_si512(u + 64 * c, _mm512_xor_si512(_mm512_mask_expand_epi8(zx, im[c], v), m80));
      }
    }
    if (t >= 0) {
      int64_t tn = t / nc, tm = a->m0 + t % nc;
      const uint8_t *rb0 = U[t & 1], *rb1 = rb0 + Wp, *rb2 = rb0 + 2 * Wp;
      int8_t *yc = y + (tn * a->M + tm) * OHW;
      __m512i wk[3], cb = chan(a, w, b, tm, wk);
      esdk_rq512_set_ch(q, a->mult[tm * a->qstride], a->shift[tm * a->qstride]);
      for (f = 0; f < Fp; f += 64) {
        __m512i out = tile64(1, rb0, rb1, rb2, f, wk, cb, q, p1);
        _mm512_mask_storeu_epi8(yc + oo[f / 64], lenmask(__builtin_popcountll(om[f / 64])),
                                _mm512_maskz_compress_epi8(om[f / 64], out));
      }
    }
  }
}

#define S2C 64 /* plane chunks of a stride-2 single-band map built by byte permutes */

/* Stride-2 single-band maps on CPUs with AVX512_VBMI + VBMI2: each 64-byte chunk of the E / O
   half planes takes its data bytes from one 128-byte window of the channel's input through a
   two-source byte permute (VPERMT2B) and keeps the padding byte elsewhere; outputs are
   compressed into y as in flat_s1. Returns 0 (nothing done) when a chunk's input bytes span
   more than 128 bytes or there are too many chunks (the row-copy path then runs). */
static T512V int flat_s2(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y,
                         const esdk_plane *g, int64_t ext, esdk_rq512 *q, uint8_t *U0, uint8_t *U1) {
  const __m512i p2 = plane_perm_s2();
  const __m512i m80 = _mm512_set1_epi8(-128), zx = _mm512_set1_epi8((int8_t)a->zx);
  int64_t H = a->H, W = a->W, HW = H * W, OH = a->OH, OW = a->OW, OHW = OH * OW, Wp = g->Wp, Lh = g->Lh;
  int64_t prows = (OH - 1) * 2 + 3, OWp = g->OWp, Fp = (OH * OWp + 63) / 64 * 64, NO = Fp / 64;
  int64_t nc = a->m1 - a->m0, T = a->N * nc, t, c, f, nch = ext / 64, nb = 0;
  uint8_t idx[S2C][64] __attribute__((aligned(64)));
  __mmask64 im[S2C], om[FMAX / 64];
  int32_t src[S2C], len[S2C], cid[S2C], oo[FMAX / 64];
  uint8_t *U[2];
  U[0] = U0;
  U[1] = U1;
  for (c = 0; c < nch; c++) {
    int64_t smin = -1, smax = -1, i;
    __mmask64 mk = 0;
    for (i = 0; i < 64; i++) {
      int64_t P = 64 * c + i, h = P >= Lh, loc = P - h * Lh, pr = 2 * (loc / Wp) + h, ih = pr - a->pt;
      int64_t iw = loc % Wp - a->pl;
      if (pr < prows && ih >= 0 && ih < H && iw >= 0 && iw < W) {
        int64_t sp = ih * W + iw;
        if (smin < 0) smin = sp;
        smax = sp;
        mk |= (__mmask64)1 << i;
      }
    }
    if (!mk) continue;
    if (nb >= S2C || smax - smin >= 128) return 0;
    for (i = 0; i < 64; i++) {
      int64_t P = 64 * c + i, h = P >= Lh, loc = P - h * Lh, pr = 2 * (loc / Wp) + h, ih = pr - a->pt;
      int64_t iw = loc % Wp - a->pl;
      idx[nb][i] = (uint8_t)(((mk >> i) & 1) ? ih * W + iw - smin : 0);
    }
    im[nb] = mk;
    src[nb] = (int32_t)smin;
    len[nb] = (int32_t)(smax - smin + 1);
    cid[nb] = (int32_t)c;
    nb++;
  }
  out_masks(OH, OW, OWp, NO, om, oo);
  for (t = -1; t < T; t++) {
    if (t + 1 < T) { /* plane of the next channel first */
      int64_t un = (t + 1) / nc, um = a->m0 + (t + 1) % nc;
      const int8_t *xc = x + (un * a->C + um) * HW;
      uint8_t *u = U[(t + 1) & 1];
      for (c = 0; c < nb; c++) {
        const int8_t *p = xc + src[c];
        __m512i lo = _mm512_maskz_loadu_epi8(lenmask(len[c]), p), hi = _mm512_maskz_loadu_epi8(lenmask(len[c] - 64), p + 64);
        __m512i v = _mm512_permutex2var_epi8(lo, _mm512_load_si512(idx[c]), hi);
        _mm512_store_si512(u + 64 * cid[c], _mm512_xor_si512(_mm512_mask_mov_epi8(zx, im[c], v), m80));
      }
    }
    if (t >= 0) {
      int64_t tn = t / nc, tm = a->m0 + t % nc;
      const uint8_t *rb0 = U[t & 1], *rb1 = rb0 + Lh, *rb2 = rb0 + Wp;
      int8_t *yc = y + (tn * a->M + tm) * OHW;
      __m512i wk[3], cb = chan(a, w, b, tm, wk);
      esdk_rq512_set_ch(q, a->mult[tm * a->qstride], a->shift[tm * a->qstride]);
      for (f = 0; f < Fp; f += 64) {
        __m512i out = tile64(2, rb0, rb1, rb2, f, wk, cb, q, p2);
        _mm512_mask_storeu_epi8(yc + oo[f / 64], lenmask(__builtin_popcountll(om[f / 64])),
                                _mm512_maskz_compress_epi8(om[f / 64], out));
      }
    }
  }
  return 1;
}

T512 int esdk_dwconv3x3_i8_avx512(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b,
                                  int8_t *y) {
  int64_t s = a->sh, H = a->H, W = a->W, HW = H * W, OH = a->OH, OW = a->OW, OHW = OH * OW;
  int64_t R, n, m, o0;
  esdk_plane g;
  esdk_rq512 q;
  /* two planes and two staging buffers: single-band maps build channel c + 1 and copy out
     channel c - 1 around channel c, so no load waits on a store just made (the unaligned
     loads cannot be forwarded from the plane's stores) */
  uint8_t U[2][UMAX + 256] __attribute__((aligned(64)));
  int8_t tb[2][FMAX] __attribute__((aligned(64)));
  if (a->KH != 3 || a->KW != 3 || a->sh != a->sw || (s != 1 && s != 2) || a->dh != 1 || a->dw != 1) return 0;
  g.s = s;
  g.H = H;
  g.W = W;
  g.OW = OW;
  g.pl = a->pl;
  g.OWp = OW + 2 / s; /* s1: OW + 2 columns; s2: OW + 1 (Wp = 2 OW + 2) */
  if (s * g.OWp < a->pl + W) g.OWp = (a->pl + W + s - 1) / s; /* the data must fit a row */
  g.Wp = s * g.OWp;
  g.wmask = W >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << W) - 1);
  g.omask = OW >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << OW) - 1);
  /* output rows per band: the plane holds (R - 1) s + 3 rows and the reads' extent */
  R = (FMAX - 64) / g.OWp;
  if (R > OH) R = OH;
  while (R > 0 && plane_bytes(R, s, g.OWp, g.Wp, 0) > UMAX) R--;
  if (R <= 0) return 0;
  esdk_rq512_set(&q, a->mult[a->m0 * a->qstride], a->shift[a->m0 * a->qstride], a->zy, a->qmin, a->qmax);
  if (R >= OH) { /* one band: data rows overwrite the same bytes in every channel, padding written once */
    int64_t ext = plane_bytes(OH, s, g.OWp, g.Wp, &g.Lh), Fp = (OH * g.OWp + 63) / 64 * 64;
    int64_t nc = a->m1 - a->m0, T = a->N * nc, t;
    if (T <= 0) return 1;
    plane_fill(U[0], ext, (int8_t)(a->zx ^ 0x80));
    plane_fill(U[1], ext, (int8_t)(a->zx ^ 0x80));
    if (s == 1 && esdk_cpu_has_vbmi2()) {
      flat_s1(a, x, w, b, y, &g, ext, &q, U[0], U[1]);
      return 1;
    }
    if (s == 2 && esdk_cpu_has_vbmi() && esdk_cpu_has_vbmi2() && flat_s2(a, x, w, b, y, &g, ext, &q, U[0], U[1]))
      return 1;
    plane_put_rows(&g, x + a->m0 * HW, -a->pt, (OH - 1) * s + 3, U[0]);
    for (t = 0; t < T; t++) {
      int64_t tm = a->m0 + t % nc;
      __m512i wk[3], cb = chan(a, w, b, tm, wk);
      if (t + 1 < T) {
        int64_t un = (t + 1) / nc, um = a->m0 + (t + 1) % nc;
        plane_put_rows(&g, x + (un * a->C + um) * HW, -a->pt, (OH - 1) * s + 3, U[(t + 1) & 1]);
      }
      esdk_rq512_set_ch(&q, a->mult[tm * a->qstride], a->shift[tm * a->qstride]);
      run_band(&g, U[t & 1], Fp, wk, cb, &q, tb[t & 1]);
      if (t > 0) {
        int64_t pn = (t - 1) / nc, pm = a->m0 + (t - 1) % nc;
        plane_put_out(&g, tb[(t - 1) & 1], OH, y + (pn * a->M + pm) * OHW);
      }
    }
    plane_put_out(&g, tb[(T - 1) & 1], OH, y + ((T - 1) / nc * a->M + a->m0 + (T - 1) % nc) * OHW);
    return 1;
  }
  for (n = 0; n < a->N; n++)
    for (m = a->m0; m < a->m1; m++) {
      const int8_t *xm = x + (n * a->C + m) * HW;
      int8_t *ym = y + (n * a->M + m) * OHW;
      __m512i wk[3], cb = chan(a, w, b, m, wk);
      esdk_rq512_set_ch(&q, a->mult[m * a->qstride], a->shift[m * a->qstride]);
      for (o0 = 0; o0 < OH; o0 += R) {
        int64_t rows = OH - o0 < R ? OH - o0 : R, Fp = (rows * g.OWp + 63) / 64 * 64;
        int64_t ext = plane_bytes(rows, s, g.OWp, g.Wp, &g.Lh);
        plane_fill(U[0], ext, (int8_t)(a->zx ^ 0x80));
        plane_put_rows(&g, xm, o0 * s - a->pt, (rows - 1) * s + 3, U[0]);
        run_band(&g, U[0], Fp, wk, cb, &q, tb[0]);
        plane_put_out(&g, tb[0], rows, ym + o0 * OW);
      }
    }
  return 1;
}
#endif
