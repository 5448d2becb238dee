/* ONNX Resize on H and W of NCHW data, coordinates computed in float32 like onnxruntime. */
#include <math.h>
#include "../kernels.h"
#include "../../runtime/opcodes.h"

static float source_coord(int coord, int64_t o, int32_t in, int32_t out) {
  float scale = (float)out / (float)in;
  switch (coord) {
    case RC_ALIGN_CORNERS: return out == 1 ? 0.0f : (float)o * (float)(in - 1) / (float)(out - 1);
    case RC_ASYMMETRIC: return (float)o / scale;
    case RC_PYTORCH_HALF_PIXEL: return out > 1 ? ((float)o + 0.5f) / scale - 0.5f : 0.0f;
    case RC_TF_HALF_PIXEL_FOR_NN: return ((float)o + 0.5f) / scale;
    default: return ((float)o + 0.5f) / scale - 0.5f;
  }
}

static int64_t nearest(int mode, float v, int32_t in) {
  float f = floorf(v);
  int64_t r;
  switch (mode) {
    case RN_ROUND_PREFER_CEIL: r = (int64_t)(v - f >= 0.5f ? f + 1 : f); break;
    case RN_FLOOR: r = (int64_t)f; break;
    case RN_CEIL: r = (int64_t)ceilf(v); break;
    default: r = (int64_t)(v - f > 0.5f ? f + 1 : f); break;
  }
  return r < 0 ? 0 : (r >= in ? in - 1 : r);
}

static void index_map(const esdk_resize_args *a, int64_t o, int32_t in, int32_t out, int64_t *i0, int64_t *i1, float *t) {
  float v = source_coord(a->coord, o, in, out);
  if (a->mode == RS_NEAREST) {
    if (v < -(float)in) v = -(float)in; /* keep the float -> int conversion defined */
    if (v > 2.0f * (float)in) v = 2.0f * (float)in;
    *i0 = *i1 = nearest(a->nearest, v, in);
    *t = 0.0f;
    return;
  }
  if (!(v > 0.0f)) v = 0.0f;
  if (v > (float)(in - 1)) v = (float)(in - 1);
  *i0 = (int64_t)v;
  *i1 = *i0 + 1 < in ? *i0 + 1 : in - 1;
  *t = v - (float)*i0;
}

void esdk_resize_f32_scalar(const esdk_resize_args *a, const float *x, float *y) {
  int64_t c, oh, ow;
  for (c = 0; c < a->NC; c++) {
    const float *xc = x + c * a->H * a->W;
    for (oh = 0; oh < a->OH; oh++) {
      int64_t h0, h1, w0, w1;
      float th, tw;
      index_map(a, oh, a->H, a->OH, &h0, &h1, &th);
      for (ow = 0; ow < a->OW; ow++) {
        index_map(a, ow, a->W, a->OW, &w0, &w1, &tw);
        if (a->mode == RS_NEAREST) {
          *y++ = xc[h0 * a->W + w0];
        } else {
          float top = xc[h0 * a->W + w0] * (1.0f - tw) + xc[h0 * a->W + w1] * tw;
          float bot = xc[h1 * a->W + w0] * (1.0f - tw) + xc[h1 * a->W + w1] * tw;
          *y++ = top * (1.0f - th) + bot * th;
        }
      }
    }
  }
}

void esdk_resize_i8_scalar(const esdk_resize_args *a, const int8_t *x, int8_t *y) {
  int64_t c, oh, ow, h0, h1, w0, w1;
  float t;
  for (c = 0; c < a->NC; c++) {
    const int8_t *xc = x + c * a->H * a->W;
    for (oh = 0; oh < a->OH; oh++) {
      index_map(a, oh, a->H, a->OH, &h0, &h1, &t);
      for (ow = 0; ow < a->OW; ow++) {
        index_map(a, ow, a->W, a->OW, &w0, &w1, &t);
        *y++ = xc[h0 * a->W + w0];
      }
    }
  }
}
