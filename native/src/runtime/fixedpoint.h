/* TFLite reference integer requantization; edge_sdk/quant/fixedpoint.py is the executable spec
   and these must stay bit-exact with it. */
#ifndef ESDK_FIXEDPOINT_H
#define ESDK_FIXEDPOINT_H
#include <stdint.h>
#include <math.h>

static inline int32_t esdk_srdhm(int32_t a, int32_t b) {
  int64_t ab, nudge;
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  ab = (int64_t)a * (int64_t)b;
  nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
  return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

static inline int32_t esdk_rdbpot(int32_t x, int e) {
  int64_t mask = ((int64_t)1 << e) - 1;
  int64_t rem = (int64_t)x & mask;
  int64_t thr = (mask >> 1) + (x < 0);
  /* arithmetic right shift of a negative value: spelled with division-free int64 floor */
  int64_t q = (int64_t)x >> e;
  return (int32_t)(q + (rem > thr));
}

/* acc may exceed int32 (int8 Add sums two rescaled terms); saturate like fixedpoint.py. */
static inline int32_t esdk_mbqm64(int64_t acc, int32_t m, int32_t shift) {
  int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  int64_t v;
  if (left > 31) left = 31;   /* loader bounds shifts; this only keeps shifts defined */
  if (right > 31) right = 31;
  if (acc > INT32_MAX) acc = INT32_MAX;
  if (acc < INT32_MIN) acc = INT32_MIN;
  v = acc * ((int64_t)1 << left);
  if (v > INT32_MAX) v = INT32_MAX;
  if (v < INT32_MIN) v = INT32_MIN;
  return esdk_rdbpot(esdk_srdhm((int32_t)v, m), right);
}

static inline int32_t esdk_mbqm(int32_t acc, int32_t m, int32_t shift) { return esdk_mbqm64(acc, m, shift); }

static inline int8_t esdk_requant(int32_t acc, int32_t m, int32_t shift, int32_t zy, int32_t qmin, int32_t qmax) {
  int64_t v = (int64_t)esdk_mbqm(acc, m, shift) + zy;
  if (v < qmin) v = qmin;
  if (v > qmax) v = qmax;
  return (int8_t)v;
}

/* round half away from zero as floor(|v| + 0.5) in float, exactly like fixedpoint.quantize */
static inline int8_t esdk_quantize_f32(float x, float scale, int32_t zp) {
  float v = x / scale, r = floorf(fabsf(v) + 0.5f);
  float q;
  if (v < 0) r = -r;
  q = r + (float)zp;
  if (!(q > -128.0f)) return q != q ? 0 : -128; /* NaN maps to 0 rather than undefined */
  if (q > 127.0f) return 127;
  return (int8_t)q;
}

static inline float esdk_clampf(float v, float lo, float hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}
#endif
