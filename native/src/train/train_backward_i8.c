/* int8 backward of a conv / fully connected step (plan backward "int8"): the float output
   gradient g, masked where the int8 output sat on its clamp as in fp32, is quantized once,
   per tensor, to int8 and both products are int8 x int8 -> int32, like the forward.

   What is quantized is h = g * s_W[c] (per output channel c), the gradient of the layer's
   int32 accumulator up to the common factor s_x: with per-channel weight scales, dL/dx =
   sum_c g_c s_W[c] W'_c needs one common scale across channels for the sum over c to stay
   in integers. With s_h = max|h| / 127 and q = round(h / s_h):
     dL/dx      = s_h * sum_c q_c W'_c                      (int32 sum, one float multiply)
     dL/dW_c    = (s_h s_x / s_W[c]) * sum_p q_c (x' - z_x) (int32 sum per weight)
     dL/db_c    = (s_h / s_W[c]) * sum_p q_c                (int32 sum per channel)
   then QAS and the in-place update exactly as in the fp32 backward. Integer sums do not
   depend on their order, so edge_sdk/finetune/reference_i8.py reproduces every bit.

   q is written over g's buffer (byte i after float i is read; i <= 4i), so int8 backward
   needs no memory beyond the fp32 plan. dL/dx is summed in int32 in dx's own buffer when it
   is written fresh; when it accumulates into another branch's gradient (fan-out) each
   element is gathered instead. */
#include "train_internal.h"

/* geometry of a conv step (NCHW, batch 1) */
typedef struct {
  const int8_t *x; /* the saved int8 input */
  int32_t zx;
  float sx;
  int32_t C, H, W, M, OH, OW, KH, KW, sh, sw, pt, pl, dh, dw, cg, mg;
} tr_conv_shape;

static void conv_shape(const esdk_model *m, const esdk_op *op, tr_conv_shape *s) {
  esdk_tensor xr, yr, wr;
  int32_t group = esdk_op_pi(m, op, 8);
  s->x = (const int8_t *)tr_tensor(m, esdk_op_io(m, op, 0), &xr);
  esdk_tensor_get(m, esdk_op_io(m, op, op->nin), &yr);
  esdk_tensor_get(m, esdk_op_io(m, op, 1), &wr);
  s->zx = xr.zp;
  s->sx = xr.scale;
  s->C = xr.dims[1], s->H = xr.dims[2], s->W = xr.dims[3];
  s->M = yr.dims[1], s->OH = yr.dims[2], s->OW = yr.dims[3];
  s->KH = wr.dims[2], s->KW = wr.dims[3];
  s->sh = esdk_op_pi(m, op, 0), s->sw = esdk_op_pi(m, op, 1), s->pt = esdk_op_pi(m, op, 2), s->pl = esdk_op_pi(m, op, 3);
  s->dh = esdk_op_pi(m, op, 6), s->dw = esdk_op_pi(m, op, 7);
  s->cg = s->C / group, s->mg = s->M / group;
}

/* returns s_h; stochastic rounding (BW_INT8_SR) draws from the same counter-based stream as
   the weight updates, on a layer index of its own */
static float quantize_grad(esdk_trainer *t, float *g, uint32_t li, uint32_t M, uint32_t P, uint32_t sw_off) {
  int8_t *q = (int8_t *)g;
  uint32_t c, p, i, sr = trw(t, H_BACKWARD) == BW_INT8_SR;
  float amax = 0.0f, inv;
  for (c = 0; c < M; c++) {
    float s_w = trf(t, sw_off + c);
    for (p = 0; p < P; p++) {
      float h = g[c * P + p] * s_w;
      if (h < 0) h = -h;
      if (h > amax) amax = h;
    }
  }
  inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  for (c = 0, i = 0; c < M; c++) {
    float s_w = trf(t, sw_off + c);
    for (p = 0; p < P; p++, i++) {
      float v = g[i] * s_w * inv;
      int32_t k;
      if (!(v > -127.0f)) v = -127.0f; /* also NaN */
      if (v > 127.0f) v = 127.0f;
      k = sr ? tr_floor(v + tr_uniform(trw(t, H_SEED), t->steps_done, 0x10000u + li, i)) : tr_round_half_away(v);
      q[i] = (int8_t)(k > 127 ? 127 : k); /* floor(127 + u) can reach 128 */
    }
  }
  return amax / 127.0f;
}

/* int32 sums left in dx's buffer -> float gradients */
static void scale_int32(float *dx, size_t n, float s_h) {
  size_t i;
  for (i = 0; i < n; i++) {
    int32_t a;
    memcpy(&a, dx + i, 4); /* the same bytes, read as the int32 they hold */
    dx[i] = s_h * (float)a;
  }
}

static void conv_backward_i8(esdk_trainer *t, uint32_t si, const esdk_op *op) {
  esdk_tensor yr;
  const int8_t *y = (const int8_t *)tr_tensor(t->m, esdk_op_io(t->m, op, op->nin), &yr);
  float *g = tr_f32(t, tr_step(t, si, S_GOUT));
  tr_conv_shape s;
  uint32_t li = tr_step(t, si, S_LAYER), sw_off = tr_layer(t, li, L_SW), rounding = trw(t, H_ROUNDING);
  uint32_t upd_b = tr_layer(t, li, L_FLAGS) & LF_BIAS, K;
  int32_t co, ci, kh, kw, oh, ow, ih, iw, P;
  const int8_t *q = (const int8_t *)g;
  float s_h;
  conv_shape(t->m, op, &s);
  P = s.OH * s.OW;
  tr_clamp_mask(g, y, (size_t)s.M * P, esdk_op_pi(t->m, op, 12), esdk_op_pi(t->m, op, 13));
  K = (uint32_t)(s.cg * s.KH * s.KW);
  s_h = quantize_grad(t, g, li, (uint32_t)s.M, (uint32_t)P, sw_off);
  if (tr_step(t, si, S_FLAGS) & SF_NEED(0)) {
    size_t n = (size_t)s.C * s.H * s.W;
    if (!(tr_step(t, si, S_FLAGS) & SF_ACC(0))) { /* scatter, (kh, kw, co) outer as in fp32 */
      int32_t *dx = (int32_t *)tr_grad_in(t, si, 0, n);
      for (kh = 0; kh < s.KH; kh++)
        for (kw = 0; kw < s.KW; kw++)
          for (co = 0; co < s.M; co++) {
            const int8_t *w = tr_weight_row(t, li, (uint32_t)co);
            const int8_t *qc = q + (size_t)co * P;
            int32_t gi = co / s.mg;
            for (ci = 0; ci < s.cg; ci++) {
              int32_t wv = w[(ci * s.KH + kh) * s.KW + kw];
              int32_t *dxc = dx + (size_t)(gi * s.cg + ci) * s.H * s.W;
              if (!wv) continue;
              for (oh = 0; oh < s.OH; oh++) {
                ih = oh * s.sh - s.pt + kh * s.dh;
                if (ih < 0 || ih >= s.H) continue;
                for (ow = 0; ow < s.OW; ow++) {
                  iw = ow * s.sw - s.pl + kw * s.dw;
                  if (iw < 0 || iw >= s.W) continue;
                  dxc[ih * s.W + iw] += qc[oh * s.OW + ow] * wv;
                }
              }
            }
          }
      scale_int32((float *)dx, n, s_h);
    } else { /* gather: each element's int32 sum, then added to the other branch's float */
      float *dx = tr_grad_in(t, si, 0, n);
      for (ci = 0; ci < s.C; ci++) {
        int32_t gi = ci / s.cg, cl = ci % s.cg;
        for (ih = 0; ih < s.H; ih++)
          for (iw = 0; iw < s.W; iw++) {
            int32_t acc = 0;
            for (co = gi * s.mg; co < (gi + 1) * s.mg; co++) {
              const int8_t *w = tr_weight_row(t, li, (uint32_t)co) + (size_t)cl * s.KH * s.KW;
              const int8_t *qc = q + (size_t)co * P;
              for (kh = 0; kh < s.KH; kh++) {
                int32_t nh = ih + s.pt - kh * s.dh;
                if (nh < 0 || nh % s.sh || (oh = nh / s.sh) >= s.OH) continue;
                for (kw = 0; kw < s.KW; kw++) {
                  int32_t nw = iw + s.pl - kw * s.dw;
                  if (nw < 0 || nw % s.sw || (ow = nw / s.sw) >= s.OW) continue;
                  acc += qc[oh * s.OW + ow] * w[kh * s.KW + kw];
                }
              }
            }
            dx[((size_t)ci * s.H + ih) * s.W + iw] += s_h * (float)acc;
          }
      }
    }
  }
  if (!upd_b && !tr_layer(t, li, L_NUPD)) return;
  for (co = 0; co < s.M; co++) {
    const int8_t *qc = q + (size_t)co * P;
    uint32_t row = trw(t, tr_layer(t, li, L_ROWMAP) + (uint32_t)co);
    float s_w = trf(t, sw_off + (uint32_t)co);
    if (upd_b) {
      int32_t sum = 0, p;
      for (p = 0; p < P; p++) sum += qc[p];
      tr_apply_bias(t, li, (uint32_t)co, (s_h / s_w) * (float)sum);
    }
    if (row != TRNP_ABSENT) {
      int8_t *w = (int8_t *)(t->m->arena + tr_layer(t, li, L_WSRAM) + (size_t)row * K);
      float lrw = trf(t, tr_layer(t, li, L_LRW) + (uint32_t)co), cs = (s_h * s.sx) / s_w;
      int32_t gi = co / s.mg;
      for (ci = 0; ci < s.cg; ci++) {
        const int8_t *xc = s.x + (size_t)(gi * s.cg + ci) * s.H * s.W;
        for (kh = 0; kh < s.KH; kh++)
          for (kw = 0; kw < s.KW; kw++) {
            int32_t acc = 0;
            uint32_t e = (uint32_t)((ci * s.KH + kh) * s.KW + kw);
            for (oh = 0; oh < s.OH; oh++) {
              ih = oh * s.sh - s.pt + kh * s.dh;
              if (ih < 0 || ih >= s.H) continue;
              for (ow = 0; ow < s.OW; ow++) {
                iw = ow * s.sw - s.pl + kw * s.dw;
                if (iw < 0 || iw >= s.W) continue;
                acc += qc[oh * s.OW + ow] * ((int32_t)xc[ih * s.W + iw] - s.zx);
              }
            }
            w[e] = tr_update_weight(w[e], -(lrw * (cs * (float)acc)), rounding, trw(t, H_SEED), t->steps_done, li,
                                    (uint32_t)co * K + e);
          }
      }
    }
  }
}

static void fc_backward_i8(esdk_trainer *t, uint32_t si, const esdk_op *op) {
  esdk_model *m = t->m;
  esdk_tensor xr, yr;
  const int8_t *x = (const int8_t *)tr_tensor(m, esdk_op_io(m, op, 0), &xr);
  const int8_t *y = (const int8_t *)tr_tensor(m, esdk_op_io(m, op, op->nin), &yr);
  float *g = tr_f32(t, tr_step(t, si, S_GOUT));
  const int8_t *q = (const int8_t *)g;
  uint32_t li = tr_step(t, si, S_LAYER), M = tr_layer(t, li, L_M), K = tr_layer(t, li, L_K), c, k;
  uint32_t sw_off = tr_layer(t, li, L_SW), upd_b = tr_layer(t, li, L_FLAGS) & LF_BIAS, rounding = trw(t, H_ROUNDING);
  float s_h;
  tr_clamp_mask(g, y, M, esdk_op_pi(m, op, 3), esdk_op_pi(m, op, 4));
  s_h = quantize_grad(t, g, li, M, 1, sw_off);
  if (tr_step(t, si, S_FLAGS) & SF_NEED(0)) {
    if (!(tr_step(t, si, S_FLAGS) & SF_ACC(0))) {
      int32_t *dx = (int32_t *)tr_grad_in(t, si, 0, K);
      for (c = 0; c < M; c++) {
        const int8_t *w = tr_weight_row(t, li, c);
        int32_t qc = q[c];
        if (!qc) continue;
        for (k = 0; k < K; k++) dx[k] += qc * w[k];
      }
      scale_int32((float *)dx, K, s_h);
    } else {
      float *dx = tr_grad_in(t, si, 0, K);
      for (k = 0; k < K; k++) {
        int32_t acc = 0;
        for (c = 0; c < M; c++) acc += q[c] * tr_weight_row(t, li, c)[k];
        dx[k] += s_h * (float)acc;
      }
    }
  }
  for (c = 0; c < M; c++) {
    uint32_t row = trw(t, tr_layer(t, li, L_ROWMAP) + c);
    float s_w = trf(t, sw_off + c);
    if (upd_b) tr_apply_bias(t, li, c, (s_h / s_w) * (float)q[c]);
    if (row != TRNP_ABSENT) {
      int8_t *w = (int8_t *)(m->arena + tr_layer(t, li, L_WSRAM) + (size_t)row * K);
      float lrw = trf(t, tr_layer(t, li, L_LRW) + c), cs = (s_h * xr.scale) / s_w;
      for (k = 0; k < K; k++) {
        int32_t acc = q[c] * ((int32_t)x[k] - xr.zp);
        w[k] = tr_update_weight(w[k], -(lrw * (cs * (float)acc)), rounding, trw(t, H_SEED), t->steps_done, li, c * K + k);
      }
    }
  }
}

void tr_backward_step_i8(esdk_trainer *t, uint32_t si) {
  esdk_op op;
  esdk_op_get(t->m, tr_step(t, si, S_OP), &op);
  if (tr_step(t, si, S_KIND) == K_CONV) conv_backward_i8(t, si, &op);
  else fc_backward_i8(t, si, &op);
}
