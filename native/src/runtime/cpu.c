/* Runtime ISA detection: the library is built without -march flags, so the fast kernels
   (compiled through target attributes) may only run after cpuid + xgetbv say the CPU and
   the OS (saved register state) support them. */
#include "internal.h"

#if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__)
#include <cpuid.h>
#define ESDK_X86 1

static uint64_t xgetbv0(void) {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

static int detect(void) { /* 0 none, 1 avx2+fma, 2 avx512 f/bw/vl/vnni */
  unsigned a, b, c, d, b7, c7, d7;
  uint64_t xcr;
  int level = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  if (!(c & (1u << 27)) || !(c & (1u << 28)) || !(c & (1u << 12))) return 0; /* osxsave, avx, fma */
  xcr = xgetbv0();
  if ((xcr & 6) != 6) return 0;
  if (__get_cpuid_max(0, NULL) < 7) return 0;
  __cpuid_count(7, 0, a, b7, c7, d7);
  (void)d7;
  if (b7 & (1u << 5)) level = 1; /* avx2 */
  if (level == 1 && (xcr & 0xE6) == 0xE6 && (b7 & (1u << 16)) && (b7 & (1u << 30)) && (b7 & (1u << 31)) &&
      (c7 & (1u << 11)))
    level = 2; /* avx512f, bw, vl, vnni */
  return level;
}

static int detect_vbmi(void) { /* on top of level 2: bit 0 AVX512_VBMI (byte permutes), bit 1 AVX512_VBMI2 */
  unsigned a, b, c, d;
  if (detect() < 2) return 0;
  __cpuid_count(7, 0, a, b, c, d);
  (void)a, (void)b, (void)d;
  return (int)(((c >> 1) & 1) | (((c >> 6) & 1) << 1));
}
#endif

#if defined(__aarch64__)
/* aarch64 (added for the rpi4 / rpi5 / android-arm64 targets): NEON is baseline, so the only
   runtime question is SDOT (dotprod). Linux and Android report it as HWCAP_ASIMDDP in the
   auxiliary vector; elsewhere assume plain NEON. 1 = neon, 2 = neon + dotprod. */
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
static int arm_level(void) { return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) ? 2 : 1; }
#else
static int arm_level(void) { return 1; }
#endif
#endif

static int g_level = -1; /* benign race: every thread computes the same value */

static int cpu_level(void) {
#ifdef ESDK_X86
  if (g_level < 0) g_level = detect();
  return g_level;
#else
  return 0;
#endif
}

int esdk_cpu_has_avx2(void) { return cpu_level() >= 1; }
int esdk_cpu_has_avx512(void) { return cpu_level() >= 2; }

static int g_vbmi = -1;
static int vbmi_bits(void) {
#ifdef ESDK_X86
  if (g_vbmi < 0) g_vbmi = detect_vbmi();
  return g_vbmi;
#else
  return 0;
#endif
}
int esdk_cpu_has_vbmi(void) { return vbmi_bits() & 1; }
int esdk_cpu_has_vbmi2(void) { return (vbmi_bits() >> 1) & 1; }

const esdk_isa_kernels esdk_kernels_scalar = {"scalar", 0, 0, 0, 0, 0, 0, 0};

const esdk_isa_kernels *esdk_select_isa(int level) {
#ifdef ESDK_X86
  if (level == 0 && cpu_level() >= 2) return &esdk_kernels_avx512;
  if ((level == 0 || level == 2) && cpu_level() >= 1) return &esdk_kernels_avx2;
#endif
#if defined(__aarch64__)
  if (level == 0) return arm_level() >= 2 ? &esdk_kernels_neon_dot : &esdk_kernels_neon;
#endif
#if defined(ESDK_ISA_MVE)
  if (level == 0) return &esdk_kernels_helium; /* Cortex-M55 firmware: fixed at compile time */
#elif defined(ESDK_ISA_DSP)
  if (level == 0) return &esdk_kernels_dsp; /* Cortex-M4/M7 firmware: fixed at compile time */
#endif
  (void)level;
  return &esdk_kernels_scalar;
}
