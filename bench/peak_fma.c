/* Peak FMA rate of one core: a long loop of 16 independent FMA chains on zmm (or ymm)
   registers, more chains than FMA latency x FMA ports on any current x86 core, so the loop
   runs at the FMA issue rate. 16 named variables keep the accumulators in registers at any
   optimisation level; without -ffast-math the compiler cannot fold the FMA recurrence.
   Built by bench/kernels.py through cffi with target attributes (no -march). */
#include <stdint.h>
#if defined(__x86_64__)
#include <immintrin.h>

#define F16(OP) OP(0) OP(1) OP(2) OP(3) OP(4) OP(5) OP(6) OP(7) OP(8) OP(9) OP(10) OP(11) OP(12) OP(13) OP(14) OP(15)

#define D512(j) __m512 c##j = _mm512_set1_ps((float)j);
#define S512(j) c##j = _mm512_fmadd_ps(c##j, a, b);
#define A512(j) if (j) c0 = _mm512_add_ps(c0, c##j);
__attribute__((target("avx512f,fma"))) double esdk_peak_fma_avx512(int64_t iters) {
  __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  int64_t i;
  F16(D512)
  for (i = 0; i < iters; i++) { F16(S512) }
  F16(A512)
  return (double)_mm512_reduce_add_ps(c0);
}

#define D256(j) __m256 c##j = _mm256_set1_ps((float)j);
#define S256(j) c##j = _mm256_fmadd_ps(c##j, a, b);
#define A256(j) if (j) c0 = _mm256_add_ps(c0, c##j);
__attribute__((target("avx2,fma"))) double esdk_peak_fma_avx2(int64_t iters) {
  __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  float out[8];
  double s = 0;
  int64_t i;
  int j;
  F16(D256)
  for (i = 0; i < iters; i++) { F16(S256) }
  F16(A256)
  _mm256_storeu_ps(out, c0);
  for (j = 0; j < 8; j++) s += out[j];
  return s;
}
#endif
