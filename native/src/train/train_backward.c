/* Backward steps, in the order of the plan. Gradients are float32 in the real domain;
   saved activations are the int8 forward tensors. Plans with backward "int8" run the conv /
   fc products in integers (train_backward_i8.c); the other steps are the same. A conv / fully connected step first
   computes dL/dx with the weights it ran with, then finishes each output channel's bias
   and weight gradients one element at a time and applies them in place (no gradient
   buffer for parameters). The loop orders are part of the contract:
   edge_sdk/finetune/reference.py accumulates in the same order, so results agree bit for bit. */
#include "train_internal.h"

/* zero the gradient where the int8 output sat on its clamp (fused ReLU/ReLU6 or saturation) */
static void clamp_mask(float *g, const int8_t *y, size_t n, int32_t qmin, int32_t qmax) {
  size_t i;
  for (i = 0; i < n; i++)
    if (y[i] <= qmin || y[i] >= qmax) g[i] = 0.0f;
}

static float *grad_in(esdk_trainer *t, uint32_t si, uint32_t k, size_t n) {
  float *d = tr_f32(t, tr_step(t, si, S_GIN0 + k));
  if (!(tr_step(t, si, S_FLAGS) & SF_ACC(k))) memset(d, 0, n * 4);
  return d;
}

static void apply_bias(esdk_trainer *t, uint32_t li, uint32_t c, float gb) {
  int32_t *b = (int32_t *)(t->m->arena + tr_layer(t, li, L_BSRAM));
  float d = -(trf(t, tr_layer(t, li, L_LRB) + c) * gb);
  b[c] = tr_update_bias(b[c], d);
}

/* for train_backward_i8.c and train_backward_pool.c (the static versions stay inlined here) */
float *tr_grad_in(esdk_trainer *t, uint32_t si, uint32_t k, size_t n) { return grad_in(t, si, k, n); }
void tr_apply_bias(esdk_trainer *t, uint32_t li, uint32_t c, float gb) { apply_bias(t, li, c, gb); }
void tr_clamp_mask(float *g, const int8_t *y, size_t n, int32_t qmin, int32_t qmax) { clamp_mask(g, y, n, qmin, qmax); }

static void conv_backward(esdk_trainer *t, uint32_t si, const esdk_op *op) {
  esdk_model *m = t->m;
  esdk_tensor xr, yr, wr;
  const int8_t *x = (const int8_t *)tr_tensor(m, esdk_op_io(m, op, 0), &xr);
  const int8_t *y = (const int8_t *)tr_tensor(m, esdk_op_io(m, op, op->nin), &yr);
  uint32_t li = tr_step(t, si, S_LAYER), sw_off, upd_b, nupd, K, rounding = trw(t, H_ROUNDING);
  float *g = tr_f32(t, tr_step(t, si, S_GOUT));
  int32_t sh = esdk_op_pi(m, op, 0), sw = esdk_op_pi(m, op, 1), pt = esdk_op_pi(m, op, 2), pl = esdk_op_pi(m, op, 3);
  int32_t dh = esdk_op_pi(m, op, 6), dw = esdk_op_pi(m, op, 7), group = esdk_op_pi(m, op, 8);
  int32_t C = xr.dims[1], H = xr.dims[2], W = xr.dims[3], M = yr.dims[1], OH = yr.dims[2], OW = yr.dims[3];
  int32_t cg = C / group, mg = M / group, KH, KW, co, oh, ow, ci, kh, kw;
  float sx = xr.scale;
  esdk_tensor_get(m, esdk_op_io(m, op, 1), &wr);
  KH = wr.dims[2];
  KW = wr.dims[3];
  K = (uint32_t)(cg * KH * KW);
  sw_off = tr_layer(t, li, L_SW);
  upd_b = tr_layer(t, li, L_FLAGS) & LF_BIAS;
  nupd = tr_layer(t, li, L_NUPD);
  clamp_mask(g, y, (size_t)M * OH * OW, esdk_op_pi(m, op, 12), esdk_op_pi(m, op, 13));
  if (tr_step(t, si, S_FLAGS) & SF_NEED(0)) {
    float *dx = grad_in(t, si, 0, (size_t)C * H * W);
    /* order: (kh, kw, co) outer; for fixed (kh, kw) an input element gets at most one term */
    for (kh = 0; kh < KH; kh++)
      for (kw = 0; kw < KW; kw++)
        for (co = 0; co < M; co++) {
          const int8_t *w = tr_weight_row(t, li, (uint32_t)co);
          const float *gc = g + (size_t)co * OH * OW;
          float s_w = trf(t, sw_off + (uint32_t)co);
          int32_t gi = co / mg;
          for (ci = 0; ci < cg; ci++) {
            float wv = s_w * (float)w[(ci * KH + kh) * KW + kw];
            float *dxc = dx + (size_t)(gi * cg + ci) * H * W;
            for (oh = 0; oh < OH; oh++) {
              int32_t ih = oh * sh - pt + kh * dh;
              if (ih < 0 || ih >= H) continue;
              for (ow = 0; ow < OW; ow++) {
                int32_t iw = ow * sw - pl + kw * dw;
                if (iw < 0 || iw >= W) continue;
                dxc[ih * W + iw] += gc[oh * OW + ow] * wv;
              }
            }
          }
        }
  }
  if (!upd_b && !nupd) return;
  for (co = 0; co < M; co++) {
    const float *gc = g + (size_t)co * OH * OW;
    uint32_t row = trw(t, tr_layer(t, li, L_ROWMAP) + (uint32_t)co);
    if (upd_b) {
      float gb = 0.0f;
      for (oh = 0; oh < OH * OW; oh++) gb += gc[oh];
      apply_bias(t, li, (uint32_t)co, gb);
    }
    if (row != TRNP_ABSENT) {
      int8_t *w = (int8_t *)(m->arena + tr_layer(t, li, L_WSRAM) + (size_t)row * K);
      float lrw = trf(t, tr_layer(t, li, L_LRW) + (uint32_t)co);
      int32_t gi = co / mg;
      for (ci = 0; ci < cg; ci++) {
        const int8_t *xc = x + (size_t)(gi * cg + ci) * H * W;
        for (kh = 0; kh < KH; kh++)
          for (kw = 0; kw < KW; kw++) {
            float acc = 0.0f;
            uint32_t e = (uint32_t)((ci * KH + kh) * KW + kw);
            for (oh = 0; oh < OH; oh++) {
              int32_t ih = oh * sh - pt + kh * dh;
              if (ih < 0 || ih >= H) continue;
              for (ow = 0; ow < OW; ow++) {
                int32_t iw = ow * sw - pl + kw * dw;
                if (iw < 0 || iw >= W) continue;
                acc += gc[oh * OW + ow] * (sx * (float)((int32_t)xc[ih * W + iw] - xr.zp));
              }
            }
            w[e] = tr_update_weight(w[e], -(lrw * acc), rounding, trw(t, H_SEED), t->steps_done, li,
                                    (uint32_t)co * K + e);
          }
      }
    }
  }
}

static void fc_backward(esdk_trainer *t, uint32_t si, const esdk_op *op) {
  esdk_model *m = t->m;
  esdk_tensor xr, yr;
  const int8_t *x = (const int8_t *)tr_tensor(m, esdk_op_io(m, op, 0), &xr);
  const int8_t *y = (const int8_t *)tr_tensor(m, esdk_op_io(m, op, op->nin), &yr);
  uint32_t li = tr_step(t, si, S_LAYER), M = tr_layer(t, li, L_M), K = tr_layer(t, li, L_K), c, k;
  uint32_t sw_off = tr_layer(t, li, L_SW), upd_b = tr_layer(t, li, L_FLAGS) & LF_BIAS, rounding = trw(t, H_ROUNDING);
  float *g = tr_f32(t, tr_step(t, si, S_GOUT));
  float sx = xr.scale;
  clamp_mask(g, y, M, esdk_op_pi(m, op, 3), esdk_op_pi(m, op, 4));
  if (tr_step(t, si, S_FLAGS) & SF_NEED(0)) {
    float *dx = grad_in(t, si, 0, K);
    for (c = 0; c < M; c++) {
      const int8_t *w = tr_weight_row(t, li, c);
      float s_w = trf(t, sw_off + c);
      for (k = 0; k < K; k++) dx[k] += g[c] * (s_w * (float)w[k]);
    }
  }
  for (c = 0; c < M; c++) {
    uint32_t row = trw(t, tr_layer(t, li, L_ROWMAP) + c);
    if (upd_b) apply_bias(t, li, c, g[c]);
    if (row != TRNP_ABSENT) {
      int8_t *w = (int8_t *)(m->arena + tr_layer(t, li, L_WSRAM) + (size_t)row * K);
      float lrw = trf(t, tr_layer(t, li, L_LRW) + c);
      for (k = 0; k < K; k++) {
        float gw = g[c] * (sx * (float)((int32_t)x[k] - xr.zp));
        w[k] = tr_update_weight(w[k], -(lrw * gw), rounding, trw(t, H_SEED), t->steps_done, li, c * K + k);
      }
    }
  }
}

static void add_backward(esdk_trainer *t, uint32_t si, const esdk_op *op) {
  esdk_model *m = t->m;
  esdk_tensor yr;
  const int8_t *y = (const int8_t *)tr_tensor(m, esdk_op_io(m, op, op->nin), &yr);
  size_t n = (size_t)esdk_nelem(&yr), i;
  uint32_t k;
  float *g = tr_f32(t, tr_step(t, si, S_GOUT));
  clamp_mask(g, y, n, esdk_op_pi(m, op, 4), esdk_op_pi(m, op, 5));
  for (k = 0; k < 2; k++) {
    float *d;
    if (!(tr_step(t, si, S_FLAGS) & SF_NEED(k))) continue;
    d = grad_in(t, si, k, n);
    for (i = 0; i < n; i++) d[i] += g[i];
  }
}

static void gap_backward(esdk_trainer *t, uint32_t si, const esdk_op *op) {
  esdk_model *m = t->m;
  esdk_tensor xr;
  float *g = tr_f32(t, tr_step(t, si, S_GOUT)), *d, inv;
  int32_t C, HW, c, i;
  tr_tensor(m, esdk_op_io(m, op, 0), &xr);
  C = xr.dims[1];
  HW = xr.dims[2] * xr.dims[3];
  inv = 1.0f / (float)HW;
  d = grad_in(t, si, 0, (size_t)C * HW);
  for (c = 0; c < C; c++)
    for (i = 0; i < HW; i++) d[c * HW + i] += g[c] * inv;
}

static void copy_backward(esdk_trainer *t, uint32_t si, const esdk_op *op) {
  esdk_tensor yr;
  size_t n, i;
  float *g = tr_f32(t, tr_step(t, si, S_GOUT)), *d;
  esdk_tensor_get(t->m, esdk_op_io(t->m, op, op->nin), &yr);
  n = (size_t)esdk_nelem(&yr);
  d = grad_in(t, si, 0, n);
  for (i = 0; i < n; i++) d[i] += g[i];
}

void tr_backward_step(esdk_trainer *t, uint32_t si) {
  esdk_op op;
  uint32_t kind = tr_step(t, si, S_KIND);
  esdk_op_get(t->m, tr_step(t, si, S_OP), &op);
  switch (kind) {
    case K_CONV: conv_backward(t, si, &op); break;
    case K_FC: fc_backward(t, si, &op); break;
    case K_ADD: add_backward(t, si, &op); break;
    case K_GAP: gap_backward(t, si, &op); break;
    case K_COPY: copy_backward(t, si, &op); break;
    default: break; /* validate() admits no other kind */
  }
}
