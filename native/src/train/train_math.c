/* Float helpers that give the same bits on x86-64 and Cortex-M: only IEEE single-precision
   +, -, *, / (compiled without FMA contraction: -std=c99 implies -ffp-contract=off) and
   integer ops. libm's expf/logf are avoided because glibc and newlib differ in the last ulp,
   which would break host/board bit-exactness. edge_sdk/finetune/reference.py mirrors these. */
#include <string.h>
#include "train_internal.h"

int32_t tr_floor(float v) {
  int32_t k = (int32_t)v;
  if ((float)k > v) k -= 1;
  return k;
}

/* exp(x) for x <= 0 (softmax of max-subtracted logits): x = n ln2 + r, degree-6 Taylor on r */
float tr_exp(float x) {
  float n, r, p, s;
  uint32_t bits;
  if (x < -87.0f) return 0.0f;
  n = (float)tr_floor(x * 1.44269504f + 0.5f);
  r = x - n * 0.693145751953125f;
  r = r - n * 1.42860676533018e-06f;
  p = 1.0f + r * (1.0f + r * (0.5f + r * (0.166666672f + r * (0.0416666679f + r * (0.00833333377f + r * 0.00138888892f)))));
  bits = (uint32_t)((int32_t)n + 127) << 23;
  memcpy(&s, &bits, 4);
  return p * s;
}

/* log(x) for x >= 1 (only the reported loss uses it): x = 2^e m, atanh series on m */
float tr_log(float x) {
  uint32_t bits, mb;
  int32_t e;
  float mf, u, u2, l;
  memcpy(&bits, &x, 4);
  e = (int32_t)((bits >> 23) & 255u) - 127;
  mb = (bits & 0x007FFFFFu) | 0x3F800000u;
  memcpy(&mf, &mb, 4);
  u = (mf - 1.0f) / (mf + 1.0f);
  u2 = u * u;
  l = 2.0f * u * (1.0f + u2 * (0.333333343f + u2 * (0.200000003f + u2 * (0.142857149f + u2 * 0.111111112f))));
  return (float)e * 0.693147182f + l;
}

/* counter-based uniform in [0, 1): depends only on (seed, step, layer, element), so the host
   and the board draw the same numbers without sharing generator state */
static float uniform(uint32_t seed, uint32_t step, uint32_t li, uint32_t idx) {
  uint32_t x = idx * 0x9E3779B9u ^ (step * 0x85EBCA6Bu + li * 0xC2B2AE35u + seed);
  x ^= x >> 16;
  x *= 0x7FEB352Du;
  x ^= x >> 15;
  x *= 0x846CA68Bu;
  x ^= x >> 16;
  return (float)(x >> 8) * (1.0f / 16777216.0f);
}

static int32_t round_half_away(float d) {
  int32_t k = tr_floor((d < 0 ? -d : d) + 0.5f);
  return d < 0 ? -k : k;
}

/* w' += d, rounded (nearest, or stochastically so that small steps survive in expectation) */
int8_t tr_update_weight(int8_t w, float d, uint32_t rounding, uint32_t seed, uint32_t step, uint32_t li, uint32_t idx) {
  int32_t k, v;
  if (!(d > -255.0f)) d = -255.0f; /* also maps NaN somewhere finite */
  if (d > 255.0f) d = 255.0f;
  k = rounding ? tr_floor(d + uniform(seed, step, li, idx)) : round_half_away(d);
  v = (int32_t)w + k;
  if (v < -127) v = -127; /* symmetric int8 weights, as the quantizer makes them */
  if (v > 127) v = 127;
  return (int8_t)v;
}

int32_t tr_update_bias(int32_t b, float d) {
  int64_t v;
  if (!(d > -1.0e9f)) d = -1.0e9f;
  if (d > 1.0e9f) d = 1.0e9f;
  v = (int64_t)b + round_half_away(d);
  if (v < INT32_MIN + 1) v = INT32_MIN + 1;
  if (v > INT32_MAX) v = INT32_MAX;
  return (int32_t)v;
}

/* for the int8 backward's gradient rounding (the static versions stay inlinable above) */
float tr_uniform(uint32_t seed, uint32_t step, uint32_t li, uint32_t idx) { return uniform(seed, step, li, idx); }
int32_t tr_round_half_away(float d) { return round_half_away(d); }
