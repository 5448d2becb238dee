/* moe_xmatvec_check: the expert matvec kernels of this build against the scalar reference, bit
 * for bit, through the public esdk_moe_expert_matvec (used under qemu-aarch64 by
 * tests/test_moe_aarch64.py; the host's kernels are checked from Python, test_moe_xmatvec.py).
 *   moe_xmatvec_check check ISA [CASES [SEED]]
 *       random shapes (rows 1..9 and a few larger, any cols: tails, 0, odd row strides) and
 *       values (ordinary, and extreme: huge, denormal, +-0, inf, NaN; int8 -128..127, every
 *       nibble), each of f32 / int8 / int4; prints "ok N" or the first mismatch and exits 1.
 *       Two NaNs count as equal (their payloads depend on operand order, not on the sum order).
 *   moe_xmatvec_check run QUANT ISA ROWS COLS N
 *       N matvecs of one shape, for instruction counting ((count(1 + K) - count(1)) / K). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge_sdk_moe.h"

#define MAX_ROWS 160   /* check: random shapes up to this */
#define MAX_COLS 1100
#define RUN_DIM 8192   /* run: the benchmark model's expert shapes (8192 x 256, 256 x 8192) */
#define RUN_BYTES ((size_t)RUN_DIM * 256 * 4 + (size_t)RUN_DIM * 8)

static uint8_t rows_buf[RUN_BYTES];
static float scale[RUN_DIM], xv[RUN_DIM], y_ref[RUN_DIM], y_isa[RUN_DIM];
static uint64_t rng_state = 88172645463325252ull;

static uint64_t rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ull;
}
static int32_t rnd_int(int32_t lo, int32_t hi) { return lo + (int32_t)(rnd() % (uint64_t)(hi - lo + 1)); }
static float rnd_unit(void) { return (float)((double)(rnd() >> 11) / 9007199254740992.0); } /* [0, 1) */

static float bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

/* extreme = 0: ordinary values (products and sums stay finite); else one in four is extreme */
static float rnd_value(int extreme) {
  float v = (rnd_unit() * 2.0f - 1.0f) * 3.0f;
  if (!extreme || rnd() % 4) return v;
  switch (rnd() % 8) {
    case 0: return v * 1e30f;                                   /* products overflow to inf */
    case 1: return bits_float(0x7f7fffffu) * (v < 0 ? -1 : 1);  /* FLT_MAX */
    case 2: return v * 1e-40f;                                  /* denormal */
    case 3: return bits_float(0x00000001u);                     /* smallest denormal */
    case 4: return v < 0 ? -0.0f : 0.0f;
    case 5: return bits_float(v < 0 ? 0xff800000u : 0x7f800000u); /* +-inf */
    case 6: return rnd() % 4 ? v * 1e-20f : bits_float(0x7fc00000u); /* tiny products, rare NaN */
    default: return v * 65536.0f;
  }
}

static size_t fill(int quant, int32_t rows, int32_t cols, int extreme) {
  size_t row_data = quant == 0 ? (size_t)cols * 4 : quant == 1 ? (size_t)cols : (size_t)cols / 2;
  size_t rb = row_data + (size_t)rnd_int(0, 7); /* rows need not be contiguous or aligned */
  memset(rows_buf, 0xA5, (size_t)rows * rb);
  for (int32_t r = 0; r < rows; r++) {
    uint8_t *row = rows_buf + (size_t)r * rb;
    if (quant == 0)
      for (int32_t c = 0; c < cols; c++) {
        float f = rnd_value(extreme);
        memcpy(row + 4 * c, &f, 4);
      }
    else
      for (size_t b = 0; b < row_data; b++) /* int8: [-127, 127] as exported, any byte when extreme */
        row[b] = quant == 1 && !extreme ? (uint8_t)(int8_t)rnd_int(-127, 127) : (uint8_t)rnd();
    scale[r] = extreme ? rnd_value(1) : rnd_unit() + 0.01f;
  }
  for (int32_t c = 0; c < cols; c++) xv[c] = rnd_value(extreme);
  return rb;
}

static int same(float a, float b) { return float_bits(a) == float_bits(b) || (a != a && b != b); }

static int check(int32_t isa, int cases) {
  static const char *qname[3] = {"f32", "int8", "int4"};
  for (int k = 0; k < cases; k++) {
    int quant = k % 3, extreme = (k / 3) % 2;
    int32_t rows = k % 7 == 6 ? rnd_int(10, MAX_ROWS) : rnd_int(1, 9);
    int32_t cols = k % 5 == 4 ? rnd_int(0, MAX_COLS) : rnd_int(0, 80);
    if (quant == 2) cols &= ~1;
    size_t rb = fill(quant, rows, cols, extreme);
    for (int32_t r = 0; r < rows; r++) y_ref[r] = y_isa[r] = bits_float(0x7fa00000u);
    esdk_status s0 = esdk_moe_expert_matvec(quant, 0, rows_buf, rb, scale, xv, y_ref, rows, cols);
    esdk_status s1 = esdk_moe_expert_matvec(quant, isa, rows_buf, rb, scale, xv, y_isa, rows, cols);
    if (s0 != ESDK_OK || s1 != ESDK_OK) {
      printf("case %d: %s %dx%d: status %d / %d\n", k, qname[quant], (int)rows, (int)cols, (int)s0, (int)s1);
      return 1;
    }
    for (int32_t r = 0; r < rows; r++)
      if (!same(y_ref[r], y_isa[r])) {
        printf("case %d: %s %dx%d%s row %d: scalar %08x (%g), isa %d %08x (%g)\n", k, qname[quant], (int)rows,
               (int)cols, extreme ? " extreme" : "", (int)r, (unsigned)float_bits(y_ref[r]), (double)y_ref[r],
               (int)isa, (unsigned)float_bits(y_isa[r]), (double)y_isa[r]);
        return 1;
      }
  }
  printf("ok %d\n", cases);
  return 0;
}

static int run(int quant, int32_t isa, int32_t rows, int32_t cols, int n) {
  if (quant < 0 || quant > 2 || rows < 1 || rows > RUN_DIM || cols < 0 || cols > RUN_DIM ||
      (size_t)rows * ((size_t)cols * 4 + 7) > RUN_BYTES) {
    fprintf(stderr, "quant 0..2, rows 1..%d, cols 0..%d, rows x cols <= %d x 256\n", RUN_DIM, RUN_DIM, RUN_DIM);
    return 2;
  }
  size_t rb = fill(quant, rows, cols, 0);
  float sum = 0.0f;
  for (int i = 0; i < n; i++) {
    if (esdk_moe_expert_matvec(quant, isa, rows_buf, rb, scale, xv, y_isa, rows, cols) != ESDK_OK) {
      fprintf(stderr, "expert matvec refused quant %d isa %d\n", quant, (int)isa);
      return 1;
    }
    sum += y_isa[i % rows];
  }
  printf("%g\n", (double)sum);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "check")) {
    if (argc >= 5) rng_state ^= strtoull(argv[4], NULL, 10) * 0x9E3779B97F4A7C15ull;
    return check(atoi(argv[2]), argc >= 4 ? atoi(argv[3]) : 600);
  }
  if (argc == 7 && !strcmp(argv[1], "run"))
    return run(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
  fprintf(stderr, "usage: moe_xmatvec_check check ISA [CASES [SEED]] | run QUANT ISA ROWS COLS N\n");
  return 2;
}
