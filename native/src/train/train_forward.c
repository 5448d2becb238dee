/* Forward of a layer being trained: the int8 conv / fully connected of docs/format.md,
   reading the updated rows and biases from the arena and the frozen ones from the artifact.
   Plain loops: only the updated layers run here, and any correct implementation of the
   spec's arithmetic is bit-exact with the optimised kernels. */
#include "../runtime/fixedpoint.h"
#include "train_internal.h"

static void conv_forward(esdk_trainer *t, uint32_t li, const esdk_op *op) {
  esdk_model *m = t->m;
  esdk_tensor xr, yr, mr, sr;
  const int8_t *x = (const int8_t *)tr_tensor(m, esdk_op_io(m, op, 0), &xr);
  int8_t *y = (int8_t *)tr_tensor(m, esdk_op_io(m, op, op->nin), &yr);
  const uint8_t *mult = tr_tensor(m, esdk_op_io(m, op, 3), &mr);
  const uint8_t *shift = tr_tensor(m, esdk_op_io(m, op, 4), &sr);
  int32_t sh = esdk_op_pi(m, op, 0), sw = esdk_op_pi(m, op, 1), pt = esdk_op_pi(m, op, 2), pl = esdk_op_pi(m, op, 3);
  int32_t dh = esdk_op_pi(m, op, 6), dw = esdk_op_pi(m, op, 7), group = esdk_op_pi(m, op, 8);
  int32_t qmin = esdk_op_pi(m, op, 12), qmax = esdk_op_pi(m, op, 13);
  int32_t C = xr.dims[1], H = xr.dims[2], W = xr.dims[3], M = yr.dims[1], OH = yr.dims[2], OW = yr.dims[3];
  int32_t cg = C / group, mg = M / group, zx = xr.zp, zy = yr.zp;
  int32_t KH, KW, co, oh, ow, ci, kh, kw;
  {
    esdk_tensor wr;
    esdk_tensor_get(m, esdk_op_io(m, op, 1), &wr);
    KH = wr.dims[2];
    KW = wr.dims[3];
  }
  for (co = 0; co < M; co++) {
    const int8_t *w = tr_weight_row(t, li, (uint32_t)co);
    int32_t g = co / mg, bias = tr_bias(t, li, (uint32_t)co);
    int32_t mu = (int32_t)esdk_rd32(mult + 4 * co), s = (int32_t)esdk_rd32(shift + 4 * co);
    for (oh = 0; oh < OH; oh++)
      for (ow = 0; ow < OW; ow++) {
        int32_t acc = bias;
        for (ci = 0; ci < cg; ci++) {
          const int8_t *xc = x + (size_t)(g * cg + ci) * H * W;
          const int8_t *wc = w + (size_t)ci * KH * KW;
          for (kh = 0; kh < KH; kh++) {
            int32_t ih = oh * sh - pt + kh * dh;
            if (ih < 0 || ih >= H) continue;
            for (kw = 0; kw < KW; kw++) {
              int32_t iw = ow * sw - pl + kw * dw;
              if (iw < 0 || iw >= W) continue;
              acc += ((int32_t)xc[ih * W + iw] - zx) * wc[kh * KW + kw];
            }
          }
        }
        y[((size_t)co * OH + oh) * OW + ow] = esdk_requant(acc, mu, s, zy, qmin, qmax);
      }
  }
}

static void fc_forward(esdk_trainer *t, uint32_t li, const esdk_op *op) {
  esdk_model *m = t->m;
  esdk_tensor xr, yr, mr, sr;
  const int8_t *x = (const int8_t *)tr_tensor(m, esdk_op_io(m, op, 0), &xr);
  int8_t *y = (int8_t *)tr_tensor(m, esdk_op_io(m, op, op->nin), &yr);
  const uint8_t *mult = tr_tensor(m, esdk_op_io(m, op, 3), &mr);
  const uint8_t *shift = tr_tensor(m, esdk_op_io(m, op, 4), &sr);
  int32_t qmin = esdk_op_pi(m, op, 3), qmax = esdk_op_pi(m, op, 4), zx = xr.zp, zy = yr.zp;
  uint32_t M = tr_layer(t, li, L_M), K = tr_layer(t, li, L_K), c, k;
  for (c = 0; c < M; c++) {
    const int8_t *w = tr_weight_row(t, li, c);
    int32_t acc = tr_bias(t, li, c);
    for (k = 0; k < K; k++) acc += ((int32_t)x[k] - zx) * w[k];
    y[c] = esdk_requant(acc, (int32_t)esdk_rd32(mult + 4 * c), (int32_t)esdk_rd32(shift + 4 * c), zy, qmin, qmax);
  }
}

void tr_layer_forward(esdk_trainer *t, uint32_t li) {
  esdk_op op;
  esdk_op_get(t->m, tr_layer(t, li, L_OP), &op);
  if (op.code == OP_CONV2D) conv_forward(t, li, &op);
  else fc_forward(t, li, &op);
}
