/* int8 BINARY Add and Mul (TFLite integer arithmetic, binary-i8-scalar.c is the reference),
   16 elements per vector along the innermost dimension, whose operand strides must be 1 or 0
   (a broadcast value); the outer dimensions loop as in the scalar kernel. The MBQMs are
   esdk_rq512_mbqm, bit-exact with runtime/fixedpoint.h.

   Add sums two MBQMs in int32 where the scalar kernel sums in int64 and saturates: exact when
   the inputs' MBQMs cannot reach 2^30 in magnitude, i.e. (x - z) << left_shift with
   left_shift <= 22 (|x - z| <= 255) and input multipliers below 1 (shifts <= 0); other
   parameters decline (the scalar kernel runs). Residual Adds from TFLite-style quantization use
   left_shift 20 and input multipliers below 1.

   When one operand is a single value (all its strides 0: Add of a constant, as in hardswish's
   x + 3) and the other is contiguous, the result is a function of one int8: on CPUs with
   AVX512_VBMI the 256 results are computed once by the same vector code over the 256 int8
   values, and the tensor is mapped through that table with two-source byte permutes (64
   elements per step instead of 3 MBQMs per 16). Bit-exact with the vector path by construction. */
#include "i8-vnni.h"
#include "../binary-i8-simd.h"
#if defined(__x86_64__) || defined(_M_X64)

static inline T512 __m512i ld16(const int8_t *p, int64_t stride, __mmask16 mk) {
  return stride ? _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mk, p)) : _mm512_set1_epi32(p[0]);
}

static T512 void run(const esdk_binary_args *a, const int8_t *A, const int8_t *B, int8_t *Y) {
  int64_t i0, i1, i2, i3, i4, j, n = a->d[5];
  int add = a->kind == BIN_ADD;
  esdk_rq512 qa, qb, qo;
  __m512i za = _mm512_set1_epi32(a->za), zb = _mm512_set1_epi32(a->zb), ls = _mm512_set1_epi32(a->left_shift);
  esdk_rq512_set(&qo, a->out_mult, a->out_shift, a->zy, a->qmin, a->qmax);
  esdk_rq512_set(&qa, a->a_mult, a->a_shift, 0, -128, 127);
  esdk_rq512_set(&qb, a->b_mult, a->b_shift, 0, -128, 127);
  for (i0 = 0; i0 < a->d[0]; i0++)
    for (i1 = 0; i1 < a->d[1]; i1++)
      for (i2 = 0; i2 < a->d[2]; i2++)
        for (i3 = 0; i3 < a->d[3]; i3++)
          for (i4 = 0; i4 < a->d[4]; i4++) {
            const int8_t *pa = A + i0 * a->sa[0] + i1 * a->sa[1] + i2 * a->sa[2] + i3 * a->sa[3] + i4 * a->sa[4];
            const int8_t *pb = B + i0 * a->sb[0] + i1 * a->sb[1] + i2 * a->sb[2] + i3 * a->sb[3] + i4 * a->sb[4];
            for (j = 0; j < n; j += 16) {
              __mmask16 mk = esdk_mask16(n - j);
              __m512i x = _mm512_sub_epi32(ld16(pa + j * a->sa[5], a->sa[5], mk), za);
              __m512i z = _mm512_sub_epi32(ld16(pb + j * a->sb[5], a->sb[5], mk), zb), s;
              if (add)
                s = _mm512_add_epi32(esdk_rq512_mbqm(_mm512_sllv_epi32(x, ls), &qa),
                                     esdk_rq512_mbqm(_mm512_sllv_epi32(z, ls), &qb));
              else
                s = _mm512_mullo_epi32(x, z);
              esdk_rq512_store(s, &qo, Y + j, mk);
            }
            Y += n;
          }
}

#define T512B __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi,avx2,fma")))
int esdk_cpu_has_vbmi(void);

/* 1: every stride of s is 0 (one value) */
static int single(const int64_t s[6]) { return !(s[0] | s[1] | s[2] | s[3] | s[4] | s[5]); }

/* 1: s walks the d-shaped tensor densely in row-major order (dims of extent 1 ignored) */
static int dense(const int64_t d[6], const int64_t s[6]) {
  int64_t k, e = 1;
  for (k = 5; k >= 0; k--) {
    if (d[k] > 1 && s[k] != e) return 0;
    e *= d[k];
  }
  return 1;
}

static T512B void map_table(const int8_t *tab, const int8_t *x, int8_t *y, int64_t n) {
  const __m512i t0 = _mm512_loadu_si512(tab), t1 = _mm512_loadu_si512(tab + 64);
  const __m512i t2 = _mm512_loadu_si512(tab + 128), t3 = _mm512_loadu_si512(tab + 192);
  int64_t i;
  for (i = 0; i < n; i += 64) {
    __mmask64 mk = n - i >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (n - i)) - 1);
    __m512i v = _mm512_maskz_loadu_epi8(mk, x + i);
    __m512i lo = _mm512_permutex2var_epi8(t0, v, t1), hi = _mm512_permutex2var_epi8(t2, v, t3);
    _mm512_mask_storeu_epi8(y + i, mk, _mm512_mask_blend_epi8(_mm512_movepi8_mask(v), lo, hi));
  }
}

T512 int esdk_binary_i8_avx512(const esdk_binary_args *a, const int8_t *A, const int8_t *B, int8_t *Y) {
  int64_t total = a->d[0] * a->d[1] * a->d[2] * a->d[3] * a->d[4] * a->d[5], k;
  if (!esdk_binary_i8_simd_ok(a)) return 0;
  if (total >= 1024 && esdk_cpu_has_vbmi() &&
      ((single(a->sb) && dense(a->d, a->sa)) || (single(a->sa) && dense(a->d, a->sb)))) {
    int8_t vals[256], tab[256];
    esdk_binary_args t = *a;
    int on_a = single(a->sb);
    for (k = 0; k < 256; k++) vals[k] = (int8_t)(uint8_t)k; /* table index = the byte's unsigned value */
    for (k = 0; k < 5; k++) {
      t.d[k] = 1;
      t.sa[k] = t.sb[k] = 0;
    }
    t.d[5] = 256;
    t.sa[5] = on_a ? 1 : 0;
    t.sb[5] = on_a ? 0 : 1;
    run(&t, on_a ? vals : A, on_a ? B : vals, tab);
    map_table(tab, on_a ? A : B, Y, total);
    return 1;
  }
  run(a, A, B, Y);
  return 1;
}
#endif
