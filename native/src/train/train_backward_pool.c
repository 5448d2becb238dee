/* Backward of int8 AVGPOOL / MAXPOOL (native/src/kernels/scalar/pool-i8-scalar.c): input and
   output share scale and zero point, so the real-domain gradient passes without rescaling.
   Average: each output's gradient is spread over its window, divided by the forward's count
   (with or without the padding, as the op says); the rounding of the int8 average is taken
   as identity, like GLOBAL_AVGPOOL's. Max: the whole gradient goes to the first maximum of
   the window in row-major order (PyTorch's rule; int8 windows often tie). Overlapping
   windows add in (c, oh, ow) order, which edge_sdk/finetune/reference.py follows. */
#include "train_internal.h"

static void pool_backward(esdk_trainer *t, uint32_t si, const esdk_op *op) {
  esdk_model *m = t->m;
  esdk_tensor xr, yr;
  const int8_t *x = (const int8_t *)tr_tensor(m, esdk_op_io(m, op, 0), &xr);
  const float *g = tr_f32(t, tr_step(t, si, S_GOUT));
  int32_t C, H, W, OH, OW, KH, KW, sh, sw, pt, pl, c, oh, ow, h, w, is_max = op->code == OP_MAXPOOL;
  int32_t incl = is_max ? 0 : esdk_op_pi(m, op, PP_COUNT_INCLUDE_PAD);
  float *d;
  esdk_tensor_get(m, esdk_op_io(m, op, op->nin), &yr);
  C = xr.dims[1], H = xr.dims[2], W = xr.dims[3], OH = yr.dims[2], OW = yr.dims[3];
  KH = esdk_op_pi(m, op, PP_KH), KW = esdk_op_pi(m, op, PP_KW);
  sh = esdk_op_pi(m, op, PP_STRIDE_H), sw = esdk_op_pi(m, op, PP_STRIDE_W);
  pt = esdk_op_pi(m, op, PP_PAD_T), pl = esdk_op_pi(m, op, PP_PAD_L);
  d = tr_grad_in(t, si, 0, (size_t)C * H * W);
  for (c = 0; c < C; c++) {
    const int8_t *xc = x + (size_t)c * H * W;
    float *dc = d + (size_t)c * H * W;
    for (oh = 0; oh < OH; oh++)
      for (ow = 0; ow < OW; ow++) {
        int32_t h0 = oh * sh - pt, w0 = ow * sw - pl;
        int32_t hs = h0 < 0 ? 0 : h0, ws = w0 < 0 ? 0 : w0;
        int32_t he = h0 + KH > H ? H : h0 + KH, we = w0 + KW > W ? W : w0 + KW;
        float gv = g[((size_t)c * OH + oh) * OW + ow];
        if (he <= hs || we <= ws) continue;
        if (is_max) {
          int32_t best = hs * W + ws;
          for (h = hs; h < he; h++)
            for (w = ws; w < we; w++)
              if (xc[h * W + w] > xc[best]) best = h * W + w;
          dc[best] += gv;
        } else {
          float v = gv / (float)(incl ? KH * KW : (he - hs) * (we - ws));
          for (h = hs; h < he; h++)
            for (w = ws; w < we; w++) dc[h * W + w] += v;
        }
      }
  }
}

void tr_pool_backward(esdk_trainer *t, uint32_t si) {
  esdk_op op;
  esdk_op_get(t->m, tr_step(t, si, S_OP), &op);
  pool_backward(t, si, &op);
}
