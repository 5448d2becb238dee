/* Elementwise f32 ADD/SUB/MUL/DIV/MAX/MIN/PRELU with numpy broadcasting, 16 lanes per zmm.
   Adjacent dims are merged where both operands are contiguous (or both broadcast) across
   them, so a same-shape op is one flat loop and a per-channel broadcast (squeeze-excite
   scales, HardSwish pieces) is one inner loop per channel plane. The innermost dim must be
   contiguous (stride 1) or broadcast (stride 0) in each operand; anything else (and POW)
   declines to the scalar kernel. Results match the scalar kernel bit for bit (IEEE ops,
   NaN kept by MAX/MIN and by the skipped clamp when there is no activation). */
#include "avx512.h"
#include "../../runtime/opcodes.h"
#if defined(__x86_64__) || defined(_M_X64)

static T512 inline __m512 bin_apply(int kind, __m512 p, __m512 q) {
  switch (kind) {
    case BIN_ADD: return _mm512_add_ps(p, q);
    case BIN_SUB: return _mm512_sub_ps(p, q);
    case BIN_MUL: return _mm512_mul_ps(p, q);
    case BIN_DIV: return _mm512_div_ps(p, q);
    case BIN_MAX: { /* p > q || p != p ? p : q */
      __mmask16 takep = _mm512_cmp_ps_mask(p, q, _CMP_GT_OQ) | _mm512_cmp_ps_mask(p, p, _CMP_UNORD_Q);
      return _mm512_mask_blend_ps(takep, q, p);
    }
    case BIN_MIN: {
      __mmask16 takep = _mm512_cmp_ps_mask(p, q, _CMP_LT_OQ) | _mm512_cmp_ps_mask(p, p, _CMP_UNORD_Q);
      return _mm512_mask_blend_ps(takep, q, p);
    }
    default: /* PRelu: p < 0 ? p * q : p */
      return _mm512_mask_mul_ps(p, _mm512_cmp_ps_mask(p, _mm512_setzero_ps(), _CMP_LT_OQ), p, q);
  }
}

#define ROWFN(NAME, KIND)                                                                                        \
  static T512 void NAME(const float *pa, int sa, const float *pb, int sb, float *y, int64_t n, int clamp,       \
                        __m512 lo, __m512 hi) {                                                                  \
    int64_t i;                                                                                                   \
    __m512 ca = _mm512_set1_ps(pa[0]), cb = _mm512_set1_ps(pb[0]);                                               \
    for (i = 0; i < n; i += 16) {                                                                                \
      __mmask16 m = esdk_mask16(n - i);                                                                          \
      __m512 p = sa ? _mm512_maskz_loadu_ps(m, pa + i) : ca, q = sb ? _mm512_maskz_loadu_ps(m, pb + i) : cb;    \
      __m512 r = bin_apply(KIND, p, q);                                                                          \
      if (clamp) r = _mm512_min_ps(hi, _mm512_max_ps(lo, r)); /* NaN passes, as in esdk_clampf */                                                    \
      _mm512_mask_storeu_ps(y + i, m, r);                                                                        \
    }                                                                                                            \
  }
ROWFN(row_add, BIN_ADD)
ROWFN(row_sub, BIN_SUB)
ROWFN(row_mul, BIN_MUL)
ROWFN(row_div, BIN_DIV)
ROWFN(row_max, BIN_MAX)
ROWFN(row_min, BIN_MIN)
ROWFN(row_prelu, BIN_PRELU)
typedef void (*row_fn)(const float *, int, const float *, int, float *, int64_t, int, __m512, __m512);

T512 int esdk_binary_f32_avx512(const esdk_binary_args *a, const float *A, const float *B, float *Y) {
  int64_t d[6], sa[6], sb[6], i0, i1, i2, i3, i4;
  int i, nd = 0, clamp = !(a->lo == -__builtin_inff() && a->hi == __builtin_inff());
  row_fn f;
  __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
  switch (a->kind) {
    case BIN_ADD: f = row_add; break;
    case BIN_SUB: f = row_sub; break;
    case BIN_MUL: f = row_mul; break;
    case BIN_DIV: f = row_div; break;
    case BIN_MAX: f = row_max; break;
    case BIN_MIN: f = row_min; break;
    case BIN_PRELU: f = row_prelu; break;
    default: return 0;
  }
  /* merge dims (outermost first): dim i joins the previous one when, for both operands, the
     previous stride equals stride * size (contiguous) or both strides are 0 (broadcast) */
  for (i = 0; i < 6; i++) {
    if (a->d[i] == 1) continue;
    if (nd > 0 && (sa[nd - 1] == a->sa[i] * a->d[i]) && (sb[nd - 1] == a->sb[i] * a->d[i])) {
      d[nd - 1] *= a->d[i];
      sa[nd - 1] = a->sa[i];
      sb[nd - 1] = a->sb[i];
      continue;
    }
    d[nd] = a->d[i];
    sa[nd] = a->sa[i];
    sb[nd] = a->sb[i];
    nd++;
  }
  if (nd == 0) {
    d[0] = 1;
    sa[0] = sb[0] = 1;
    nd = 1;
  }
  if ((sa[nd - 1] != 0 && sa[nd - 1] != 1) || (sb[nd - 1] != 0 && sb[nd - 1] != 1)) return 0;
  /* right-align into 5 outer dims + the inner one */
  while (nd < 6) {
    for (i = nd; i > 0; i--) {
      d[i] = d[i - 1];
      sa[i] = sa[i - 1];
      sb[i] = sb[i - 1];
    }
    d[0] = 1;
    sa[0] = sb[0] = 0;
    nd++;
  }
  for (i0 = 0; i0 < d[0]; i0++)
    for (i1 = 0; i1 < d[1]; i1++)
      for (i2 = 0; i2 < d[2]; i2++)
        for (i3 = 0; i3 < d[3]; i3++)
          for (i4 = 0; i4 < d[4]; i4++) {
            const float *pa = A + i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3] + i4 * sa[4];
            const float *pb = B + i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3] + i4 * sb[4];
            f(pa, (int)sa[5], pb, (int)sb[5], Y, d[5], clamp, lo, hi);
            Y += d[5];
          }
  return 1;
}
#endif
