/* Per-op dispatch: decode the op's tensors and parameters, pick the fastest kernel that
   covers the shape, and fall back to the scalar reference otherwise. */
#include "internal.h"

typedef struct {
  esdk_model *m;
  const esdk_op *op;
  esdk_tensor t[8]; /* inputs 0..6, output at 7 */
  const void *p[8];
  void *y;
} ictx;

void esdk_act_range(int act, float amin, float amax, float *lo, float *hi) {
  *lo = -__builtin_inff();
  *hi = __builtin_inff();
  if (act == ACT_RELU) *lo = 0.0f;
  if (act == ACT_CLIP) {
    *lo = amin;
    *hi = amax;
  }
}

static const void *tdata(const esdk_model *m, const esdk_tensor *t) {
  return t->storage ? (const void *)(m->cnst + t->offset) : (const void *)(m->arena + t->offset);
}

/* right-align dims to rank 6 */
static void dims6(const esdk_tensor *t, int64_t d[6]) {
  int i, off = 6 - t->rank;
  for (i = 0; i < 6; i++) d[i] = i < off ? 1 : t->dims[i - off];
}

static void strides(const esdk_tensor *t, int64_t s[6]) {
  int i;
  int64_t acc = 1;
  for (i = t->rank - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= t->dims[i];
  }
}

/* ---- conv / fc / sparse: split output channels across threads ---- */
typedef struct {
  ictx *c;
  int kind; /* 0 conv f32, 1 conv i8, 2 convT, 3 fc f32, 4 fc i8, 5 spmm f32, 6 spmm i8 */
  esdk_conv_args ca;
  esdk_fc_args fa;
  esdk_spmm_args sa;
  int64_t n_images, x_img, y_img;
} chan_job;

static void run_chan(void *ctx, int32_t m0, int32_t m1) {
  chan_job *j = (chan_job *)ctx;
  const esdk_isa_kernels *k = j->c->m->isa;
  const void *x = j->c->p[0], *w = j->c->p[1];
  void *y = j->c->y;
  switch (j->kind) {
    case 0: {
      esdk_conv_args a = j->ca;
      const float *b = (const float *)j->c->p[2];
      a.m0 = m0;
      a.m1 = m1;
      if (a.KH == 1 && a.KW == 1 && a.sh == 1 && a.sw == 1 && a.pt == 0 && a.pl == 0 && a.group == 1 &&
          a.OH == a.H && a.OW == a.W && k->conv1x1_f32 && k->conv1x1_f32(&a, (const float *)x, (const float *)w, b, (float *)y))
        return;
      if (a.group == a.C && a.group == a.M && a.KH == 3 && a.KW == 3 && a.dh == 1 && a.dw == 1 && k->dwconv3x3_f32 &&
          k->dwconv3x3_f32(&a, (const float *)x, (const float *)w, b, (float *)y))
        return;
      if (k->conv2d_f32 && k->conv2d_f32(&a, (const float *)x, (const float *)w, b, (float *)y)) return;
      esdk_conv2d_f32_scalar(&a, (const float *)x, (const float *)w, b, (float *)y);
      return;
    }
    case 1: {
      esdk_conv_args a = j->ca;
      const int32_t *b = (const int32_t *)j->c->p[2];
      a.m0 = m0;
      a.m1 = m1;
      if (a.KH == 1 && a.KW == 1 && a.sh == 1 && a.sw == 1 && a.pt == 0 && a.pl == 0 && a.group == 1 &&
          a.OH == a.H && a.OW == a.W && k->conv1x1_i8 && k->conv1x1_i8(&a, (const int8_t *)x, (const int8_t *)w, b, (int8_t *)y))
        return;
      if (a.group == a.C && a.group == a.M && k->dwconv_i8 &&
          k->dwconv_i8(&a, (const int8_t *)x, (const int8_t *)w, b, (int8_t *)y))
        return;
      if (k->conv2d_i8 && k->conv2d_i8(&a, (const int8_t *)x, (const int8_t *)w, b, (int8_t *)y)) return;
      esdk_conv2d_i8_scalar(&a, (const int8_t *)x, (const int8_t *)w, b, (int8_t *)y);
      return;
    }
    case 2: {
      esdk_conv_args a = j->ca;
      a.m0 = m0;
      a.m1 = m1;
      esdk_conv2d_transpose_f32_scalar(&a, (const float *)x, (const float *)w, (const float *)j->c->p[2], (float *)y);
      return;
    }
    case 3: {
      esdk_fc_args a = j->fa;
      a.m0 = m0;
      a.m1 = m1;
      if (!(k->fc_f32 && k->fc_f32(&a, (const float *)x, (const float *)w, (const float *)j->c->p[2], (float *)y)))
        esdk_fc_f32_scalar(&a, (const float *)x, (const float *)w, (const float *)j->c->p[2], (float *)y);
      return;
    }
    case 4: {
      esdk_fc_args a = j->fa;
      a.m0 = m0;
      a.m1 = m1;
      if (!(k->fc_i8 && k->fc_i8(&a, (const int8_t *)x, (const int8_t *)w, (const int32_t *)j->c->p[2], (int8_t *)y)))
        esdk_fc_i8_scalar(&a, (const int8_t *)x, (const int8_t *)w, (const int32_t *)j->c->p[2], (int8_t *)y);
      return;
    }
    default: {
      esdk_spmm_args a = j->sa;
      int64_t n;
      a.m0 = m0;
      a.m1 = m1;
      for (n = 0; n < j->n_images; n++) {
        if (j->kind == 5) {
          const float *xi = (const float *)x + n * j->x_img;
          float *yi = (float *)y + n * j->y_img;
          if (!(k->spmm_f32 && k->spmm_f32(&a, xi, (const float *)w, (const float *)j->c->p[4], yi)))
            esdk_spmm_f32_scalar(&a, xi, (const float *)w, (const float *)j->c->p[4], yi);
        } else {
          const int8_t *xi = (const int8_t *)x + n * j->x_img;
          int8_t *yi = (int8_t *)y + n * j->y_img;
          if (!(k->spmm_i8 && k->spmm_i8(&a, xi, (const int8_t *)w, (const int32_t *)j->c->p[4], yi)))
            esdk_spmm_i8_scalar(&a, xi, (const int8_t *)w, (const int32_t *)j->c->p[4], yi);
        }
      }
      return;
    }
  }
}

static void quant_fields(ictx *c, int mi, int32_t M, int32_t *zx, int32_t *zy, const int32_t **mult,
                         const int32_t **shift, int32_t *qstride) {
  *zx = c->t[0].zp;
  *zy = c->t[7].zp;
  if (c->p[mi]) {
    *mult = (const int32_t *)c->p[mi];
    *shift = (const int32_t *)c->p[mi + 1];
    *qstride = esdk_nelem(&c->t[mi]) == (uint64_t)M && M > 1 ? 1 : 0;
  }
}

static void op_conv(ictx *c, int transpose) {
  esdk_model *m = c->m;
  const esdk_op *op = c->op;
  chan_job j;
  esdk_conv_args *a = &j.ca;
  memset(&j, 0, sizeof j);
  j.c = c;
  a->N = c->t[0].dims[0];
  a->C = c->t[0].dims[1];
  a->H = c->t[0].dims[2];
  a->W = c->t[0].dims[3];
  a->M = c->t[7].dims[1];
  a->OH = c->t[7].dims[2];
  a->OW = c->t[7].dims[3];
  a->KH = c->t[1].dims[2];
  a->KW = c->t[1].dims[3];
  a->sh = esdk_op_pi(m, op, CP_STRIDE_H);
  a->sw = esdk_op_pi(m, op, CP_STRIDE_W);
  a->pt = esdk_op_pi(m, op, CP_PAD_T);
  a->pl = esdk_op_pi(m, op, CP_PAD_L);
  a->dh = esdk_op_pi(m, op, CP_DIL_H);
  a->dw = esdk_op_pi(m, op, CP_DIL_W);
  a->group = esdk_op_pi(m, op, CP_GROUP);
  esdk_act_range(esdk_op_pi(m, op, CP_ACT), esdk_op_pf(m, op, CP_ACT_MIN), esdk_op_pf(m, op, CP_ACT_MAX), &a->lo, &a->hi);
  a->qmin = esdk_op_pi(m, op, CP_QMIN);
  a->qmax = esdk_op_pi(m, op, CP_QMAX);
  quant_fields(c, 3, a->M, &a->zx, &a->zy, &a->mult, &a->shift, &a->qstride);
  j.kind = transpose ? 2 : (c->t[0].dtype == DT_I8 ? 1 : 0);
  if (j.kind == 1 && c->p[0] == c->y) { /* planned in place (memplan `inplace`): serial in-place kernel */
    a->m0 = 0;
    a->m1 = a->M;
    if (!esdk_dwconv_i8_inplace(a, (const int8_t *)c->p[0], (const int8_t *)c->p[1], (const int32_t *)c->p[2],
                                (int8_t *)c->y) &&
        !esdk_conv1x1_i8_inplace(a, (const int8_t *)c->p[0], (const int8_t *)c->p[1], (const int32_t *)c->p[2],
                                 (int8_t *)c->y))
    {
      esdk_set_error(m, "conv output aliases its input but no in-place kernel takes this shape");
      m->run_failed = 1;
    }
    return;
  }
  esdk_parallel_for(m, a->M, transpose ? a->M / a->group : 1, run_chan, &j);
}

static void op_fc(ictx *c) {
  esdk_model *m = c->m;
  const esdk_op *op = c->op;
  chan_job j;
  esdk_fc_args *a = &j.fa;
  memset(&j, 0, sizeof j);
  j.c = c;
  a->M = c->t[1].dims[0];
  a->K = c->t[1].dims[1];
  a->B = (int64_t)(esdk_nelem(&c->t[0]) / (uint64_t)a->K);
  esdk_act_range(esdk_op_pi(m, op, AP_ACT), esdk_op_pf(m, op, AP_ACT_MIN), esdk_op_pf(m, op, AP_ACT_MAX), &a->lo, &a->hi);
  a->qmin = esdk_op_pi(m, op, AP_QMIN);
  a->qmax = esdk_op_pi(m, op, AP_QMAX);
  quant_fields(c, 3, a->M, &a->zx, &a->zy, &a->mult, &a->shift, &a->qstride);
  j.kind = c->t[0].dtype == DT_I8 ? 4 : 3;
  esdk_parallel_for(m, a->M, 1, run_chan, &j);
}

static void op_sparse(ictx *c, int conv) {
  esdk_model *m = c->m;
  const esdk_op *op = c->op;
  chan_job j;
  esdk_spmm_args *a = &j.sa;
  memset(&j, 0, sizeof j);
  j.c = c;
  a->br = esdk_op_pi(m, op, SP_BLOCK_R);
  a->bc = esdk_op_pi(m, op, SP_BLOCK_C);
  a->M = esdk_op_pi(m, op, SP_ROWS);
  a->K = esdk_op_pi(m, op, SP_COLS);
  a->kc = op->n_params > SP_K_CHUNK ? esdk_op_pi(m, op, SP_K_CHUNK) : 0;
  a->nch = a->kc ? (a->K + a->kc - 1) / a->kc : 1;
  a->row_ptr = (const uint32_t *)c->p[2];
  a->col_idx = (const uint32_t *)c->p[3];
  esdk_act_range(esdk_op_pi(m, op, SP_ACT), esdk_op_pf(m, op, SP_ACT_MIN), esdk_op_pf(m, op, SP_ACT_MAX), &a->lo, &a->hi);
  a->qmin = esdk_op_pi(m, op, SP_QMIN);
  a->qmax = esdk_op_pi(m, op, SP_QMAX);
  quant_fields(c, 5, a->M, &a->zx, &a->zy, &a->mult, &a->shift, &a->qstride);
  if (conv) {
    int64_t hw = (int64_t)c->t[0].dims[2] * c->t[0].dims[3];
    a->P = hw;
    a->xs_k = hw;
    a->xs_p = 1;
    a->ys_m = hw;
    a->ys_p = 1;
    j.n_images = c->t[0].dims[0];
    j.x_img = hw * a->K;
    j.y_img = hw * a->M;
  } else {
    a->P = (int64_t)(esdk_nelem(&c->t[0]) / (uint64_t)a->K);
    a->xs_k = 1;
    a->xs_p = a->K;
    a->ys_m = 1;
    a->ys_p = a->M;
    j.n_images = 1;
  }
  j.kind = c->t[0].dtype == DT_I8 ? 6 : 5;
  esdk_parallel_for(m, a->M, a->br, run_chan, &j);
}

static void op_matmul(ictx *c) {
  const esdk_tensor *A = &c->t[0], *B = &c->t[1];
  esdk_matmul_args a;
  int64_t ad[4], bd[4], sa = 1, sb = 1;
  int i, ar = A->rank, br = B->rank;
  a.K = A->dims[ar - 1];
  a.M = ar >= 2 ? A->dims[ar - 2] : 1;
  a.N = br >= 2 ? B->dims[br - 1] : 1;
  for (i = 0; i < 4; i++) {
    int ia = i - (4 - (ar - 2)), ib = i - (4 - (br - 2));
    ad[i] = ia >= 0 ? A->dims[ia] : 1;
    bd[i] = ib >= 0 ? B->dims[ib] : 1;
  }
  for (i = 3; i >= 0; i--) {
    a.bd[i] = ad[i] > bd[i] ? ad[i] : bd[i];
    a.sa[i] = ad[i] == 1 ? 0 : sa * a.M * a.K;
    a.sb[i] = bd[i] == 1 ? 0 : sb * a.K * a.N;
    sa *= ad[i];
    sb *= bd[i];
  }
  esdk_matmul_f32_scalar(&a, (const float *)c->p[0], (const float *)c->p[1], (float *)c->y);
}

static void bcast_strides(const esdk_tensor *t, int64_t s[6]) {
  int64_t d[6], acc = 1;
  int i;
  dims6(t, d);
  for (i = 5; i >= 0; i--) {
    s[i] = d[i] == 1 ? 0 : acc;
    acc *= d[i];
  }
}

static void op_binary(ictx *c) {
  esdk_model *m = c->m;
  const esdk_op *op = c->op;
  esdk_binary_args a;
  dims6(&c->t[7], a.d);
  bcast_strides(&c->t[0], a.sa);
  bcast_strides(&c->t[1], a.sb);
  a.kind = esdk_op_pi(m, op, BP_KIND);
  esdk_act_range(esdk_op_pi(m, op, BP_ACT), esdk_op_pf(m, op, BP_ACT_MIN), esdk_op_pf(m, op, BP_ACT_MAX), &a.lo, &a.hi);
  a.qmin = esdk_op_pi(m, op, BP_QMIN);
  a.qmax = esdk_op_pi(m, op, BP_QMAX);
  a.a_mult = esdk_op_pi(m, op, BP_A_MULT);
  a.a_shift = esdk_op_pi(m, op, BP_A_SHIFT);
  a.b_mult = esdk_op_pi(m, op, BP_B_MULT);
  a.b_shift = esdk_op_pi(m, op, BP_B_SHIFT);
  a.out_mult = esdk_op_pi(m, op, BP_OUT_MULT);
  a.out_shift = esdk_op_pi(m, op, BP_OUT_SHIFT);
  a.left_shift = esdk_op_pi(m, op, BP_LEFT_SHIFT);
  a.za = c->t[0].zp;
  a.zb = c->t[1].zp;
  a.zy = c->t[7].zp;
  if (c->t[0].dtype == DT_I8) {
    if (!(m->isa->binary_i8 && m->isa->binary_i8(&a, (const int8_t *)c->p[0], (const int8_t *)c->p[1], (int8_t *)c->y)))
      esdk_binary_i8_scalar(&a, (const int8_t *)c->p[0], (const int8_t *)c->p[1], (int8_t *)c->y);
  }
  else if (!(m->isa->binary_f32 && m->isa->binary_f32(&a, (const float *)c->p[0], (const float *)c->p[1], (float *)c->y)))
    esdk_binary_f32_scalar(&a, (const float *)c->p[0], (const float *)c->p[1], (float *)c->y);
}

static void op_pool(ictx *c) {
  esdk_model *m = c->m;
  const esdk_op *op = c->op;
  esdk_pool_args a;
  int i8 = c->t[0].dtype == DT_I8;
  a.N = c->t[0].dims[0];
  a.C = c->t[0].dims[1];
  a.H = c->t[0].dims[2];
  a.W = c->t[0].dims[3];
  a.OH = c->t[7].dims[2];
  a.OW = c->t[7].dims[3];
  a.KH = esdk_op_pi(m, op, PP_KH);
  a.KW = esdk_op_pi(m, op, PP_KW);
  a.sh = esdk_op_pi(m, op, PP_STRIDE_H);
  a.sw = esdk_op_pi(m, op, PP_STRIDE_W);
  a.pt = esdk_op_pi(m, op, PP_PAD_T);
  a.pl = esdk_op_pi(m, op, PP_PAD_L);
  a.count_include_pad = op->code == OP_AVGPOOL ? esdk_op_pi(m, op, PP_COUNT_INCLUDE_PAD) : 0;
  a.zero_point = c->t[0].zp;
  if (op->code == OP_MAXPOOL) {
    if (i8) esdk_maxpool_i8_scalar(&a, (const int8_t *)c->p[0], (int8_t *)c->y);
    else esdk_maxpool_f32_scalar(&a, (const float *)c->p[0], (float *)c->y);
  } else {
    if (i8) esdk_avgpool_i8_scalar(&a, (const int8_t *)c->p[0], (int8_t *)c->y);
    else esdk_avgpool_f32_scalar(&a, (const float *)c->p[0], (float *)c->y);
  }
}

static void op_data(ictx *c) {
  esdk_model *m = c->m;
  const esdk_op *op = c->op;
  const esdk_tensor *x = &c->t[0], *y = &c->t[7];
  size_t esz = esdk_dtype_size(y->dtype);
  int64_t od[6], s[6], istr[6], base = 0;
  int i, off = 6 - y->rank;
  dims6(y, od);
  strides(x, s);
  for (i = 0; i < 6; i++) istr[i] = 0;
  if (op->code == OP_TRANSPOSE) {
    for (i = 0; i < y->rank; i++) istr[off + i] = s[esdk_op_pi(m, op, i)];
    esdk_transpose_any_scalar(c->p[0], c->y, esz, od, istr);
  } else if (op->code == OP_SLICE) {
    for (i = 0; i < y->rank; i++) {
      istr[off + i] = s[i] * esdk_op_pi(m, op, 2 * i + 1);
      base += s[i] * esdk_op_pi(m, op, 2 * i);
    }
    esdk_slice_any_scalar(c->p[0], c->y, esz, od, istr, base);
  } else { /* PAD */
    int64_t id[6], begin[6];
    int32_t vq = esdk_op_pi(m, op, PADP_VALUE_Q);
    float vf = esdk_op_pf(m, op, PADP_VALUE_F);
    uint8_t value[4];
    dims6(x, id);
    for (i = 0; i < 6; i++) begin[i] = i < off ? 0 : esdk_op_pi(m, op, 3 + (i - off));
    if (y->dtype == DT_F32) memcpy(value, &vf, 4);
    else if (esz == 4) memcpy(value, &vq, 4);
    else value[0] = (uint8_t)vq;
    esdk_pad_any_scalar(c->p[0], c->y, esz, id, begin, od, esdk_op_pi(m, op, PADP_MODE), value);
  }
}

static void op_concat(ictx *c) {
  esdk_model *m = c->m;
  const esdk_op *op = c->op;
  const esdk_tensor *y = &c->t[7];
  int32_t axis = esdk_op_pi(m, op, 0);
  int64_t outer = 1, inner = 1, off = 0;
  size_t esz = esdk_dtype_size(y->dtype);
  uint32_t j;
  int i;
  if (axis < 0) axis += y->rank;
  for (i = 0; i < axis; i++) outer *= y->dims[i];
  for (i = axis + 1; i < y->rank; i++) inner *= y->dims[i];
  for (j = 0; j < op->nin; j++) {
    esdk_tensor x;
    int64_t chunk;
    esdk_tensor_get(m, esdk_op_io(m, op, j), &x);
    chunk = (int64_t)x.dims[axis] * inner * (int64_t)esz;
    esdk_concat_any_scalar(tdata(m, &x), c->y, outer, chunk, (int64_t)y->dims[axis] * inner * (int64_t)esz, off);
    off += chunk;
  }
}

static void run_op(esdk_model *m, const esdk_op *op) {
  ictx c;
  uint32_t j;
  c.m = m;
  c.op = op;
  for (j = 0; j < 8; j++) c.p[j] = NULL;
  for (j = 0; j < op->nin && j < 7; j++) {
    uint32_t t = esdk_op_io(m, op, j);
    if (t == ESDK_ABSENT) continue;
    esdk_tensor_get(m, t, &c.t[j]);
    c.p[j] = tdata(m, &c.t[j]);
  }
  esdk_tensor_get(m, esdk_op_io(m, op, op->nin), &c.t[7]);
  c.y = m->arena + c.t[7].offset;
  switch (op->code) {
    case OP_CONV2D: op_conv(&c, 0); break;
    case OP_CONV2D_TRANSPOSE: op_conv(&c, 1); break;
    case OP_FULLY_CONNECTED: op_fc(&c); break;
    case OP_SPARSE_CONV1X1: op_sparse(&c, 1); break;
    case OP_SPARSE_FULLY_CONNECTED: op_sparse(&c, 0); break;
    case OP_MATMUL: op_matmul(&c); break;
    case OP_BINARY: op_binary(&c); break;
    case OP_UNARY:
      esdk_unary_f32_scalar(esdk_op_pi(m, op, UP_KIND), esdk_op_pf(m, op, UP_P0), esdk_op_pf(m, op, UP_P1),
                            (const float *)c.p[0], (float *)c.y, (int64_t)esdk_nelem(&c.t[0]));
      break;
    case OP_SOFTMAX: {
      int32_t ax = esdk_op_pi(m, op, 0), i;
      int64_t outer = 1, inner = 1;
      if (ax < 0) ax += c.t[0].rank;
      for (i = 0; i < ax; i++) outer *= c.t[0].dims[i];
      for (i = ax + 1; i < c.t[0].rank; i++) inner *= c.t[0].dims[i];
      esdk_softmax_f32_scalar((const float *)c.p[0], (float *)c.y, outer, c.t[0].dims[ax], inner);
      break;
    }
    case OP_REDUCE_MEAN: {
      int64_t d[6];
      dims6(&c.t[0], d);
      esdk_reduce_mean_f32_scalar((const float *)c.p[0], (float *)c.y, d,
                                  (int)(((uint32_t)esdk_op_pi(m, op, 0)) << (6 - c.t[0].rank)));
      break;
    }
    case OP_MAXPOOL:
    case OP_AVGPOOL: op_pool(&c); break;
    case OP_GLOBAL_AVGPOOL: {
      int64_t nc = (int64_t)c.t[0].dims[0] * c.t[0].dims[1], hw = (int64_t)c.t[0].dims[2] * c.t[0].dims[3];
      if (c.t[0].dtype == DT_I8) esdk_global_avgpool_i8_scalar((const int8_t *)c.p[0], (int8_t *)c.y, nc, hw);
      else if (m->isa->global_avgpool_f32) m->isa->global_avgpool_f32((const float *)c.p[0], (float *)c.y, nc, hw);
      else esdk_global_avgpool_f32_scalar((const float *)c.p[0], (float *)c.y, nc, hw);
      break;
    }
    case OP_RESHAPE:
      if (c.p[0] != c.y) memmove(c.y, c.p[0], (size_t)c.t[7].nbytes);
      break;
    case OP_TRANSPOSE:
    case OP_SLICE:
    case OP_PAD: op_data(&c); break;
    case OP_CONCAT: op_concat(&c); break;
    case OP_RESIZE: {
      esdk_resize_args a;
      a.NC = c.t[0].dims[0] * c.t[0].dims[1];
      a.H = c.t[0].dims[2];
      a.W = c.t[0].dims[3];
      a.OH = c.t[7].dims[2];
      a.OW = c.t[7].dims[3];
      a.mode = esdk_op_pi(m, op, RP_MODE);
      a.coord = esdk_op_pi(m, op, RP_COORD);
      a.nearest = esdk_op_pi(m, op, RP_NEAREST);
      if (c.t[0].dtype == DT_I8) esdk_resize_i8_scalar(&a, (const int8_t *)c.p[0], (int8_t *)c.y);
      else esdk_resize_f32_scalar(&a, (const float *)c.p[0], (float *)c.y);
      break;
    }
    case OP_QUANTIZE:
      if (m->isa->quantize_f32 && c.p[0] != c.y) /* in place: the forward scalar loop is safe */
        m->isa->quantize_f32((const float *)c.p[0], (int8_t *)c.y, (int64_t)esdk_nelem(&c.t[0]), c.t[7].scale,
                             c.t[7].zp);
      else
        esdk_quantize_f32_scalar((const float *)c.p[0], (int8_t *)c.y, (int64_t)esdk_nelem(&c.t[0]), c.t[7].scale,
                               c.t[7].zp);
      break;
    case OP_DEQUANTIZE:
      if (m->isa->dequantize_i8)
        m->isa->dequantize_i8((const int8_t *)c.p[0], (float *)c.y, (int64_t)esdk_nelem(&c.t[0]), c.t[0].scale,
                              c.t[0].zp);
      else
        esdk_dequantize_i8_scalar((const int8_t *)c.p[0], (float *)c.y, (int64_t)esdk_nelem(&c.t[0]), c.t[0].scale,
                                c.t[0].zp);
      break;
    case OP_REQUANTIZE:
      esdk_requantize_i8_scalar((const int8_t *)c.p[0], (int8_t *)c.y, (int64_t)esdk_nelem(&c.t[0]), c.t[0].zp,
                                c.t[7].zp, esdk_op_pi(m, op, 0), esdk_op_pi(m, op, 1));
      break;
    default: break; /* unreachable: the loader rejected unknown opcodes */
  }
}

esdk_status esdk_invoke(esdk_model *m) {
  uint32_t i;
  if (!m) return ESDK_ERR_ARG;
  if (m->magic != ESDK_MODEL_MAGIC) return ESDK_ERR_STATE;
  if (!m->arena && m->arena_size > 0) {
    esdk_set_error(m, "invoke before esdk_set_arena");
    return ESDK_ERR_ARENA;
  }
  if (!m->arena) {
    static uint8_t empty[64]; /* zero-size arena: tensors still need a base address */
    m->arena = empty;
  }
  m->run_failed = 0;
  for (i = 0; i < m->n_ops; i++) {
    esdk_invoke_op(m, i);
    if (m->run_failed) return ESDK_ERR_UNSUPPORTED; /* never hand back outputs computed past a failed op */
  }
  return ESDK_OK;
}

/* One op by index, for esdk_invoke and the host-only profiler (profile.c); the caller has
   checked the model state and the arena. */
void esdk_invoke_op(esdk_model *m, uint32_t i) {
  esdk_op op;
  esdk_op_get(m, i, &op);
  run_op(m, &op);
}
