/* Per-opcode checks: after these pass, every kernel may trust its shapes, dtypes and the
   block-CSR structure, so no kernel ever needs a bounds check of its own. */
#include <math.h>
#include "internal.h"

#define FAIL(...)                         \
  do {                                    \
    esdk_set_error(m, __VA_ARGS__);       \
    return ESDK_ERR_FORMAT;               \
  } while (0)
#define NEED(cond, ...) \
  do {                  \
    if (!(cond)) FAIL(__VA_ARGS__); \
  } while (0)
#define LIMIT (1 << 24) /* bound on strides, pads and dilations: keeps index math far from overflow */

typedef struct {
  esdk_model *m;
  uint32_t idx;
  const esdk_op *op;
  esdk_tensor t[8];
  int present[8];
} vctx;

static const char *const k_names[OP_COUNT] = {
    "?", "CONV2D", "CONV2D_TRANSPOSE", "FULLY_CONNECTED", "SPARSE_CONV1X1", "SPARSE_FULLY_CONNECTED", "MATMUL",
    "BINARY", "UNARY", "SOFTMAX", "REDUCE_MEAN", "MAXPOOL", "AVGPOOL", "GLOBAL_AVGPOOL", "RESHAPE", "TRANSPOSE",
    "CONCAT", "SLICE", "PAD", "RESIZE", "QUANTIZE", "DEQUANTIZE", "REQUANTIZE"};

static int same_shape(const esdk_tensor *a, const esdk_tensor *b) {
  int i;
  if (a->rank != b->rank) return 0;
  for (i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return 0;
  return 1;
}

static int same_quant(const esdk_tensor *a, const esdk_tensor *b) {
  return a->dtype != DT_I8 || (a->zp == b->zp && memcmp(&a->scale, &b->scale, 4) == 0);
}

static const uint8_t *cdata(const esdk_model *m, const esdk_tensor *t) { return m->cnst + t->offset; }

/* mult/shift constants: int32 [M] or [1]; shifts bounded so requantization is defined */
static esdk_status check_requant(esdk_model *m, uint32_t oi, const esdk_tensor *mu, const esdk_tensor *sh,
                                 int32_t M) {
  uint64_t i, n = esdk_nelem(mu);
  NEED(mu->storage == 1 && sh->storage == 1, "op %u: mult/shift must be constants", oi);
  NEED(mu->dtype == DT_I32 && sh->dtype == DT_I32, "op %u: mult/shift must be int32", oi);
  NEED((n == (uint64_t)M || n == 1) && esdk_nelem(sh) == n, "op %u: mult/shift have %llu/%llu values, need %d or 1",
       oi, (unsigned long long)n, (unsigned long long)esdk_nelem(sh), M);
  for (i = 0; i < n; i++) {
    int32_t mv = (int32_t)esdk_rd32(cdata(m, mu) + 4 * i), sv = (int32_t)esdk_rd32(cdata(m, sh) + 4 * i);
    NEED(mv >= 0 && sv >= -31 && sv <= 30, "op %u: requantization pair %llu (mult %d, shift %d) out of range", oi,
         (unsigned long long)i, mv, sv);
  }
  return ESDK_OK;
}

static esdk_status check_act(vctx *c, uint32_t base, int int8) {
  esdk_model *m = c->m;
  int32_t act = esdk_op_pi(m, c->op, base), qmin = esdk_op_pi(m, c->op, base + 3), qmax = esdk_op_pi(m, c->op, base + 4);
  NEED(act >= 0 && act <= 2, "op %u: activation kind %d unknown", c->idx, act);
  if (int8)
    NEED(qmin >= -128 && qmax <= 127 && qmin <= qmax, "op %u: int8 clamp [%d, %d] invalid", c->idx, qmin, qmax);
  return ESDK_OK;
}

/* common to conv/fc/sparse: bias and requantization inputs at positions bi, bi+1, bi+2 */
static esdk_status check_bias_quant(vctx *c, int bi, int int8, int32_t M) {
  esdk_model *m = c->m;
  if (c->present[bi]) {
    NEED(c->t[bi].dtype == (int8 ? DT_I32 : DT_F32), "op %u: bias dtype %u, need %s", c->idx, c->t[bi].dtype,
         int8 ? "int32" : "float32");
    NEED(esdk_nelem(&c->t[bi]) == (uint64_t)M, "op %u: bias has %llu values, need %d", c->idx,
         (unsigned long long)esdk_nelem(&c->t[bi]), M);
  }
  if (int8) {
    NEED(c->present[bi + 1] && c->present[bi + 2], "op %u: int8 op needs mult and shift inputs", c->idx);
    return check_requant(m, c->idx, &c->t[bi + 1], &c->t[bi + 2], M);
  }
  NEED(!c->present[bi + 1] && !c->present[bi + 2], "op %u: float op has mult/shift inputs", c->idx);
  return ESDK_OK;
}

static esdk_status v_conv(vctx *c, int transpose) {
  esdk_model *m = c->m;
  const esdk_tensor *x = &c->t[0], *w = &c->t[1], *y = &c->t[7];
  const esdk_op *op = c->op;
  int64_t sh = esdk_op_pi(m, op, CP_STRIDE_H), sw = esdk_op_pi(m, op, CP_STRIDE_W);
  int64_t pt = esdk_op_pi(m, op, CP_PAD_T), pl = esdk_op_pi(m, op, CP_PAD_L), pb = esdk_op_pi(m, op, CP_PAD_B),
          pr = esdk_op_pi(m, op, CP_PAD_R), dh = esdk_op_pi(m, op, CP_DIL_H), dw = esdk_op_pi(m, op, CP_DIL_W),
          g = esdk_op_pi(m, op, CP_GROUP);
  int64_t C, M, KH, KW, eh, ew;
  int int8 = x->dtype == DT_I8;
  esdk_status st;
  NEED(x->rank == 4 && w->rank == 4 && y->rank == 4, "op %u: x, w, y must be 4-D", c->idx);
  NEED(x->dtype == DT_F32 || (x->dtype == DT_I8 && !transpose), "op %u: x dtype %u unsupported", c->idx, x->dtype);
  NEED(w->dtype == x->dtype && y->dtype == x->dtype, "op %u: x/w/y dtypes differ", c->idx);
  NEED(!int8 || w->zp == 0, "op %u: int8 weights need zero point 0", c->idx);
  NEED(sh >= 1 && sw >= 1 && dh >= 1 && dw >= 1 && sh < LIMIT && sw < LIMIT && dh < LIMIT && dw < LIMIT,
       "op %u: strides/dilations must be in 1..2^24", c->idx);
  NEED(pt >= 0 && pl >= 0 && pb >= 0 && pr >= 0 && pt < LIMIT && pl < LIMIT && pb < LIMIT && pr < LIMIT,
       "op %u: pads must be in 0..2^24", c->idx);
  NEED(g >= 1, "op %u: group %lld", c->idx, (long long)g);
  C = x->dims[1];
  KH = w->dims[2];
  KW = w->dims[3];
  NEED(C % g == 0, "op %u: %lld input channels not divisible by group %lld", c->idx, (long long)C, (long long)g);
  if (!transpose) {
    M = w->dims[0];
    NEED(w->dims[1] == C / g, "op %u: weight in-channels %d, need C/group = %lld", c->idx, w->dims[1],
         (long long)(C / g));
    NEED(M % g == 0, "op %u: %lld output channels not divisible by group", c->idx, (long long)M);
    eh = x->dims[2] + pt + pb - dh * (KH - 1) - 1;
    ew = x->dims[3] + pl + pr - dw * (KW - 1) - 1;
    NEED(eh >= 0 && ew >= 0, "op %u: kernel larger than padded input", c->idx);
    eh = eh / sh + 1;
    ew = ew / sw + 1;
    NEED(y->dims[0] == x->dims[0] && y->dims[1] == M && y->dims[2] == eh && y->dims[3] == ew,
         "op %u: conv output [%d,%d,%d,%d], computed [%d,%lld,%lld,%lld]", c->idx, y->dims[0], y->dims[1], y->dims[2],
         y->dims[3], x->dims[0], (long long)M, (long long)eh, (long long)ew);
  } else {
    int64_t mh = sh > dh ? sh : dh, mw = sw > dw ? sw : dw;
    NEED(w->dims[0] == C, "op %u: transposed-conv weight dim 0 is %d, need C = %lld", c->idx, w->dims[0], (long long)C);
    M = (int64_t)w->dims[1] * g;
    eh = sh * (x->dims[2] - 1) + dh * (KH - 1) + 1 - pt - pb;
    ew = sw * (x->dims[3] - 1) + dw * (KW - 1) + 1 - pl - pr;
    NEED(y->dims[0] == x->dims[0] && y->dims[1] == M && y->dims[2] >= eh && y->dims[2] < eh + mh &&
             y->dims[3] >= ew && y->dims[3] < ew + mw,
         "op %u: transposed-conv output [%d,%d,%d,%d] inconsistent with computed [%d,%lld,%lld,%lld] (+output padding)",
         c->idx, y->dims[0], y->dims[1], y->dims[2], y->dims[3], x->dims[0], (long long)M, (long long)eh,
         (long long)ew);
  }
  if ((st = check_act(c, CP_ACT, int8)) != ESDK_OK) return st;
  return check_bias_quant(c, 2, int8, (int32_t)M);
}

static esdk_status v_fc(vctx *c) {
  esdk_model *m = c->m;
  const esdk_tensor *x = &c->t[0], *w = &c->t[1], *y = &c->t[7];
  int int8 = x->dtype == DT_I8;
  esdk_status st;
  int32_t K, M;
  NEED(x->dtype == DT_F32 || int8, "op %u: x dtype %u unsupported", c->idx, x->dtype);
  NEED(w->dtype == x->dtype && y->dtype == x->dtype, "op %u: x/w/y dtypes differ", c->idx);
  NEED(!int8 || w->zp == 0, "op %u: int8 weights need zero point 0", c->idx);
  NEED(w->rank == 2 && x->rank >= 1 && y->rank >= 1, "op %u: w must be 2-D, x and y at least 1-D", c->idx);
  M = w->dims[0];
  K = w->dims[1];
  NEED(x->dims[x->rank - 1] == K, "op %u: x last dim %d, weights K %d", c->idx, x->dims[x->rank - 1], K);
  NEED(y->dims[y->rank - 1] == M && esdk_nelem(x) / K == esdk_nelem(y) / M,
       "op %u: output shape inconsistent with [rows, %d]", c->idx, M);
  if ((st = check_act(c, AP_ACT, int8)) != ESDK_OK) return st;
  return check_bias_quant(c, 2, int8, M);
}

static esdk_status v_sparse(vctx *c, int conv) {
  esdk_model *m = c->m;
  const esdk_op *op = c->op;
  const esdk_tensor *x = &c->t[0], *v = &c->t[1], *rp = &c->t[2], *ci = &c->t[3], *y = &c->t[7];
  int32_t br = esdk_op_pi(m, op, SP_BLOCK_R), bc = esdk_op_pi(m, op, SP_BLOCK_C), rows = esdk_op_pi(m, op, SP_ROWS),
          cols = esdk_op_pi(m, op, SP_COLS);
  int int8 = x->dtype == DT_I8;
  int32_t kc = op->n_params > SP_K_CHUNK ? esdk_op_pi(m, op, SP_K_CHUNK) : 0;
  uint64_t nbr, nbc, nnzb, r, j, nch = 1;
  const uint8_t *rpd, *cid;
  esdk_status st;
  NEED(br >= 1 && bc >= 1 && rows >= 1 && cols >= 1 && rows % br == 0 && cols % bc == 0,
       "op %u: block %dx%d does not tile a %dx%d matrix", c->idx, br, bc, rows, cols);
  if (kc != 0) {
    NEED(kc > 0 && kc <= cols, "op %u: k_chunk %d outside [1, cols = %d]", c->idx, kc, cols);
    NEED(br == 1 && bc == 1 && x->dtype == DT_F32 && conv,
         "op %u: k_chunk %d needs a float32 SPARSE_CONV1X1 with 1x1 blocks", c->idx, kc);
    nch = ((uint64_t)cols + (uint64_t)kc - 1) / (uint64_t)kc;
  }
  NEED(x->dtype == DT_F32 || int8, "op %u: x dtype %u unsupported", c->idx, x->dtype);
  NEED(v->dtype == x->dtype && y->dtype == x->dtype, "op %u: x/values/y dtypes differ", c->idx);
  NEED(v->storage == 1 && rp->storage == 1 && ci->storage == 1, "op %u: values/row_ptr/col_idx must be constants",
       c->idx);
  NEED((rp->dtype == DT_U32 || rp->dtype == DT_I32) && (ci->dtype == DT_U32 || ci->dtype == DT_I32),
       "op %u: row_ptr/col_idx must be uint32", c->idx);
  nbr = (uint64_t)(rows / br) * nch; /* K-chunked: chunk-major rows (chunk, row) */
  nbc = (uint64_t)(cols / bc);
  NEED(esdk_nelem(rp) == nbr + 1, "op %u: row_ptr has %llu entries, need %llu", c->idx,
       (unsigned long long)esdk_nelem(rp), (unsigned long long)(nbr + 1));
  rpd = cdata(m, rp);
  cid = cdata(m, ci);
  NEED(esdk_rd32(rpd) == 0, "op %u: row_ptr[0] = %u, need 0", c->idx, esdk_rd32(rpd));
  nnzb = esdk_rd32(rpd + 4 * nbr);
  NEED((nnzb == 0 || esdk_nelem(ci) == nnzb), "op %u: col_idx has %llu entries, row_ptr ends at %llu", c->idx,
       (unsigned long long)esdk_nelem(ci), (unsigned long long)nnzb);
  NEED(nnzb == 0 || esdk_nelem(v) == nnzb * (uint64_t)br * (uint64_t)bc,
       "op %u: values has %llu bytes, need nnzb*block_r*block_c*%u = %llu", c->idx, (unsigned long long)v->nbytes,
       (unsigned)esdk_dtype_size(v->dtype), (unsigned long long)(nnzb * br * bc * esdk_dtype_size(v->dtype)));
  NEED(!int8 || v->zp == 0, "op %u: int8 weights need zero point 0", c->idx);
  for (r = 0; r < nbr; r++) {
    uint32_t a = esdk_rd32(rpd + 4 * r), b = esdk_rd32(rpd + 4 * (r + 1));
    NEED(a <= b && b <= nnzb, "op %u: row_ptr[%llu..%llu] = %u, %u not monotonic/bounded by %llu", c->idx,
         (unsigned long long)r, (unsigned long long)r + 1, a, b, (unsigned long long)nnzb);
    for (j = a; j < b; j++) {
      uint32_t k = esdk_rd32(cid + 4 * j);
      NEED(k < nbc, "op %u: col_idx[%llu] = %u >= %llu block columns", c->idx, (unsigned long long)j, k,
           (unsigned long long)nbc);
      NEED(kc == 0 || k / (uint32_t)kc == r / (uint64_t)rows, "op %u: col_idx[%llu] = %u outside K chunk %llu",
           c->idx, (unsigned long long)j, k, (unsigned long long)(r / (uint64_t)rows));
      NEED(j == a || esdk_rd32(cid + 4 * (j - 1)) < k, "op %u: col_idx not increasing in block row %llu", c->idx,
           (unsigned long long)r);
    }
  }
  if (conv) {
    NEED(x->rank == 4 && y->rank == 4, "op %u: sparse conv needs 4-D x and y", c->idx);
    NEED(x->dims[1] == cols && y->dims[0] == x->dims[0] && y->dims[1] == rows && y->dims[2] == x->dims[2] &&
             y->dims[3] == x->dims[3],
         "op %u: x [%d,%d,%d,%d] / y [%d,%d,%d,%d] inconsistent with a %dx%d 1x1 conv", c->idx, x->dims[0], x->dims[1],
         x->dims[2], x->dims[3], y->dims[0], y->dims[1], y->dims[2], y->dims[3], rows, cols);
  } else {
    NEED(x->rank >= 1 && y->rank >= 1 && x->dims[x->rank - 1] == cols && y->dims[y->rank - 1] == rows &&
             esdk_nelem(x) / cols == esdk_nelem(y) / rows,
         "op %u: x/y shapes inconsistent with a %dx%d sparse FC", c->idx, rows, cols);
  }
  if ((st = check_act(c, SP_ACT, int8)) != ESDK_OK) return st;
  return check_bias_quant(c, 4, int8, rows);
}

static esdk_status v_matmul(vctx *c) {
  esdk_model *m = c->m;
  const esdk_tensor *a = &c->t[0], *b = &c->t[1], *y = &c->t[7];
  int32_t ad[6], bd[6], want[6];
  int ar = a->rank, brk = b->rank, nb, i, n = 0;
  NEED(a->dtype == DT_F32 && b->dtype == DT_F32 && y->dtype == DT_F32, "op %u: MATMUL is float32 only", c->idx);
  NEED(ar >= 1 && brk >= 1, "op %u: MATMUL operands must be at least 1-D", c->idx);
  NEED(a->dims[ar - 1] == (brk == 1 ? b->dims[0] : b->dims[brk - 2]), "op %u: inner dims differ", c->idx);
  nb = (ar > brk ? ar : brk) - 2;
  for (i = 0; i < 6; i++) ad[i] = bd[i] = 1;
  for (i = 0; i < ar - 2; i++) ad[nb - (ar - 2) + i] = a->dims[i];
  for (i = 0; i < brk - 2; i++) bd[nb - (brk - 2) + i] = b->dims[i];
  for (i = 0; i < nb; i++) {
    NEED(ad[i] == bd[i] || ad[i] == 1 || bd[i] == 1, "op %u: batch dims not broadcastable", c->idx);
    want[n++] = ad[i] > bd[i] ? ad[i] : bd[i];
  }
  if (ar >= 2) want[n++] = a->dims[ar - 2];
  if (brk >= 2) want[n++] = b->dims[brk - 1];
  NEED(y->rank == n, "op %u: output rank %d, expected %d", c->idx, y->rank, n);
  for (i = 0; i < n; i++) NEED(y->dims[i] == want[i], "op %u: output dim %d is %d, expected %d", c->idx, i, y->dims[i], want[i]);
  return ESDK_OK;
}

static esdk_status v_binary(vctx *c) {
  esdk_model *m = c->m;
  const esdk_op *op = c->op;
  const esdk_tensor *a = &c->t[0], *b = &c->t[1], *y = &c->t[7];
  int32_t kind = esdk_op_pi(m, op, BP_KIND);
  int r = y->rank, i, int8 = a->dtype == DT_I8;
  esdk_status st;
  NEED(kind >= 0 && kind < BIN_COUNT, "op %u: BINARY kind %d unknown", c->idx, kind);
  NEED((a->dtype == DT_F32 || int8) && b->dtype == a->dtype && y->dtype == a->dtype, "op %u: dtypes unsupported or differ",
       c->idx);
  NEED(!int8 || kind == BIN_ADD || kind == BIN_MUL, "op %u: int8 BINARY supports Add and Mul only", c->idx);
  NEED(r == (a->rank > b->rank ? a->rank : b->rank), "op %u: output rank %d, operands %d and %d", c->idx, r, a->rank,
       b->rank);
  for (i = 0; i < r; i++) {
    int32_t da = i - (r - a->rank) >= 0 ? a->dims[i - (r - a->rank)] : 1;
    int32_t db = i - (r - b->rank) >= 0 ? b->dims[i - (r - b->rank)] : 1;
    int32_t d = da > db ? da : db;
    NEED((da == db || da == 1 || db == 1) && y->dims[i] == d, "op %u: shapes do not broadcast to the output at dim %d",
         c->idx, i);
  }
  if ((st = check_act(c, BP_ACT, int8)) != ESDK_OK) return st;
  if (int8) {
    int32_t ls = esdk_op_pi(m, op, BP_LEFT_SHIFT);
    NEED(ls >= 0 && ls <= 23, "op %u: left_shift %d outside 0..23", c->idx, ls);
    for (i = BP_A_MULT; i <= BP_OUT_MULT; i += 2) {
      int32_t mu = esdk_op_pi(m, op, i), sh = esdk_op_pi(m, op, i + 1);
      NEED(mu >= 0 && sh >= -31 && sh <= 30, "op %u: requantization pair (%d, %d) out of range", c->idx, mu, sh);
    }
  }
  return ESDK_OK;
}

static esdk_status v_pool(vctx *c) {
  esdk_model *m = c->m;
  const esdk_op *op = c->op;
  const esdk_tensor *x = &c->t[0], *y = &c->t[7];
  int64_t kh = esdk_op_pi(m, op, PP_KH), kw = esdk_op_pi(m, op, PP_KW), sh = esdk_op_pi(m, op, PP_STRIDE_H),
          sw = esdk_op_pi(m, op, PP_STRIDE_W), pt = esdk_op_pi(m, op, PP_PAD_T), pl = esdk_op_pi(m, op, PP_PAD_L),
          pb = esdk_op_pi(m, op, PP_PAD_B), pr = esdk_op_pi(m, op, PP_PAD_R), oh, ow;
  NEED(x->rank == 4 && y->rank == 4, "op %u: pooling needs 4-D tensors", c->idx);
  NEED((x->dtype == DT_F32 || x->dtype == DT_I8) && y->dtype == x->dtype && same_quant(x, y),
       "op %u: pooling dtype/quantization mismatch", c->idx);
  NEED(kh >= 1 && kw >= 1 && kh < LIMIT && kw < LIMIT && sh >= 1 && sw >= 1 && sh < LIMIT && sw < LIMIT,
       "op %u: pool kernel/strides out of range", c->idx);
  NEED(pt >= 0 && pb >= 0 && pl >= 0 && pr >= 0 && pt < kh && pb < kh && pl < kw && pr < kw,
       "op %u: pool pads must be in [0, kernel)", c->idx);
  if (op->code == OP_AVGPOOL) {
    int32_t cip = esdk_op_pi(m, op, PP_COUNT_INCLUDE_PAD);
    NEED(cip == 0 || cip == 1, "op %u: count_include_pad %d", c->idx, cip);
  }
  oh = x->dims[2] + pt + pb - kh;
  ow = x->dims[3] + pl + pr - kw;
  NEED(oh >= 0 && ow >= 0, "op %u: pool window larger than padded input", c->idx);
  oh = oh / sh + 1;
  ow = ow / sw + 1;
  NEED(y->dims[0] == x->dims[0] && y->dims[1] == x->dims[1] && y->dims[2] == oh && y->dims[3] == ow,
       "op %u: pool output [%d,%d,%d,%d], computed [%d,%d,%lld,%lld]", c->idx, y->dims[0], y->dims[1], y->dims[2],
       y->dims[3], x->dims[0], x->dims[1], (long long)oh, (long long)ow);
  return ESDK_OK;
}

static esdk_status v_concat(vctx *c) {
  esdk_model *m = c->m;
  const esdk_op *op = c->op;
  const esdk_tensor *y = &c->t[7];
  int32_t axis = esdk_op_pi(m, op, 0);
  int64_t sum = 0;
  uint32_t j;
  int i;
  if (axis < 0) axis += y->rank;
  NEED(axis >= 0 && axis < y->rank, "op %u: concat axis %d outside rank %d", c->idx, esdk_op_pi(m, op, 0), y->rank);
  for (j = 0; j < op->nin; j++) {
    uint32_t ti = esdk_op_io(m, op, j);
    esdk_tensor x;
    NEED(ti != ESDK_ABSENT, "op %u: concat input %u absent", c->idx, j);
    esdk_tensor_get(m, ti, &x);
    NEED(x.dtype == y->dtype && x.rank == y->rank && same_quant(&x, y), "op %u: concat input %u dtype/rank/quant differ",
         c->idx, j);
    for (i = 0; i < y->rank; i++)
      NEED(i == axis || x.dims[i] == y->dims[i], "op %u: concat input %u dim %d is %d, output %d", c->idx, j, i,
           x.dims[i], y->dims[i]);
    sum += x.dims[axis];
  }
  NEED(sum == y->dims[axis], "op %u: concat inputs sum to %lld along axis %d, output has %d", c->idx, (long long)sum,
       axis, y->dims[axis]);
  return ESDK_OK;
}

static esdk_status v_slice(vctx *c) {
  esdk_model *m = c->m;
  const esdk_op *op = c->op;
  const esdk_tensor *x = &c->t[0], *y = &c->t[7];
  int i;
  NEED(x->dtype == y->dtype && x->rank == y->rank && same_quant(x, y), "op %u: slice dtype/rank/quant differ", c->idx);
  NEED(op->n_params == 2u * x->rank, "op %u: SLICE has %u params, need 2*rank = %d", c->idx, op->n_params, 2 * x->rank);
  for (i = 0; i < x->rank; i++) {
    int64_t s = esdk_op_pi(m, op, 2 * i), st = esdk_op_pi(m, op, 2 * i + 1);
    int64_t last = s + (int64_t)(y->dims[i] - 1) * st;
    NEED(st != 0 && s >= 0 && s < x->dims[i] && last >= 0 && last < x->dims[i],
         "op %u: slice dim %d (start %lld, step %lld, %d outputs) reads outside [0, %d)", c->idx, i, (long long)s,
         (long long)st, y->dims[i], x->dims[i]);
  }
  return ESDK_OK;
}

static esdk_status v_pad(vctx *c) {
  esdk_model *m = c->m;
  const esdk_op *op = c->op;
  const esdk_tensor *x = &c->t[0], *y = &c->t[7];
  int32_t mode = esdk_op_pi(m, op, PADP_MODE);
  int i, r = x->rank;
  NEED(x->dtype == y->dtype && x->rank == y->rank && same_quant(x, y), "op %u: pad dtype/rank/quant differ", c->idx);
  NEED(op->n_params == 3u + 2u * r, "op %u: PAD has %u params, need 3 + 2*rank = %d", c->idx, op->n_params, 3 + 2 * r);
  NEED(mode >= 0 && mode <= 2, "op %u: pad mode %d unknown", c->idx, mode);
  for (i = 0; i < r; i++) {
    int64_t b = esdk_op_pi(m, op, 3 + i), e = esdk_op_pi(m, op, 3 + r + i);
    NEED(b >= 0 && e >= 0 && x->dims[i] + b + e == y->dims[i], "op %u: pad dim %d: %d + %lld + %lld != %d", c->idx, i,
         x->dims[i], (long long)b, (long long)e, y->dims[i]);
    NEED(mode != PAD_REFLECT || (b < x->dims[i] && e < x->dims[i]), "op %u: reflect pad of dim %d must be < %d", c->idx,
         i, x->dims[i]);
  }
  return ESDK_OK;
}

esdk_status esdk_validate_op(esdk_model *m, uint32_t oi, const esdk_op *op) {
  static const uint8_t nin_min[OP_COUNT] = {0, 2, 2, 2, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  static const uint8_t nin_max[OP_COUNT] = {0, 5, 3, 5, 7, 7, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 255, 1, 1, 1, 1, 1, 1};
  static const int16_t nparams[OP_COUNT] = {0,  CP_COUNT, CP_COUNT, AP_COUNT, SP_COUNT, SP_COUNT, 0, BP_COUNT,
                                            UP_COUNT, 1, 1, PP_COUNT - 1, PP_COUNT, 0, 0, 6, 1, -1, -1, RP_COUNT,
                                            0, 0, 2};
  vctx c;
  const esdk_tensor *x, *y;
  uint32_t j;
  c.m = m;
  c.idx = oi;
  c.op = op;
  if (op->nin < nin_min[op->code] || op->nin > nin_max[op->code])
    FAIL("op %u (%s): %u inputs, need %u..%u", oi, k_names[op->code], op->nin, nin_min[op->code], nin_max[op->code]);
  if (nparams[op->code] >= 0 && op->n_params != (uint32_t)nparams[op->code] &&
      !(op->code == OP_SPARSE_CONV1X1 && op->n_params == SP_COUNT + 1)) /* + optional k_chunk (1.1) */
    FAIL("op %u (%s): %u parameter words, need %d", oi, k_names[op->code], op->n_params, nparams[op->code]);
  for (j = 0; j < 8; j++) c.present[j] = 0;
  for (j = 0; j < op->nin && j < 7; j++) {
    uint32_t t = esdk_op_io(m, op, j);
    c.present[j] = t != ESDK_ABSENT;
    if (c.present[j]) esdk_tensor_get(m, t, &c.t[j]);
  }
  for (j = 0; j < nin_min[op->code]; j++)
    if (op->code != OP_CONCAT && !c.present[j]) FAIL("op %u (%s): required input %u absent", oi, k_names[op->code], j);
  esdk_tensor_get(m, esdk_op_io(m, op, op->nin), &c.t[7]);
  c.present[7] = 1;
  x = &c.t[0];
  y = &c.t[7];
  switch (op->code) {
    case OP_CONV2D: return v_conv(&c, 0);
    case OP_CONV2D_TRANSPOSE: return v_conv(&c, 1);
    case OP_FULLY_CONNECTED: return v_fc(&c);
    case OP_SPARSE_CONV1X1: return v_sparse(&c, 1);
    case OP_SPARSE_FULLY_CONNECTED: return v_sparse(&c, 0);
    case OP_MATMUL: return v_matmul(&c);
    case OP_BINARY: return v_binary(&c);
    case OP_UNARY: {
      int32_t k = esdk_op_pi(m, op, UP_KIND);
      NEED(k >= 0 && k < UN_COUNT, "op %u: UNARY kind %d unknown", oi, k);
      NEED(x->dtype == DT_F32 && y->dtype == DT_F32 && same_shape(x, y), "op %u: UNARY needs float32 x, y of one shape",
           oi);
      return ESDK_OK;
    }
    case OP_SOFTMAX: {
      int32_t ax = esdk_op_pi(m, op, 0);
      NEED(x->dtype == DT_F32 && y->dtype == DT_F32 && same_shape(x, y) && x->rank >= 1,
           "op %u: SOFTMAX needs float32 x, y of one shape", oi);
      NEED(ax >= -x->rank && ax < x->rank, "op %u: softmax axis %d outside rank %d", oi, ax, x->rank);
      return ESDK_OK;
    }
    case OP_REDUCE_MEAN: {
      uint32_t mask = (uint32_t)esdk_op_pi(m, op, 0);
      int i, n = 0, keep = y->rank == x->rank;
      NEED(x->dtype == DT_F32 && y->dtype == DT_F32, "op %u: REDUCE_MEAN is float32 only", oi);
      NEED((mask >> x->rank) == 0, "op %u: axes_mask 0x%x has bits past rank %d", oi, mask, x->rank);
      for (i = 0; i < x->rank; i++) {
        if (mask & (1u << i)) {
          if (keep) NEED(y->dims[i] == 1, "op %u: reduced dim %d must be 1 with keepdims", oi, i);
        } else {
          NEED(n < y->rank && y->dims[keep ? i : n] == x->dims[i], "op %u: kept dim %d differs", oi, i);
          n++;
        }
      }
      NEED(keep || n == y->rank, "op %u: output rank %d inconsistent with axes_mask", oi, y->rank);
      return ESDK_OK;
    }
    case OP_MAXPOOL:
    case OP_AVGPOOL: return v_pool(&c);
    case OP_GLOBAL_AVGPOOL:
      NEED(x->rank == 4 && y->rank == 4 && (x->dtype == DT_F32 || x->dtype == DT_I8) && y->dtype == x->dtype &&
               same_quant(x, y),
           "op %u: GLOBAL_AVGPOOL needs 4-D float32/int8 tensors with equal quantization", oi);
      NEED(y->dims[0] == x->dims[0] && y->dims[1] == x->dims[1] && y->dims[2] == 1 && y->dims[3] == 1,
           "op %u: GLOBAL_AVGPOOL output must be [N, C, 1, 1]", oi);
      return ESDK_OK;
    case OP_RESHAPE:
      NEED(x->dtype == y->dtype && esdk_nelem(x) == esdk_nelem(y), "op %u: RESHAPE changes dtype or element count", oi);
      return ESDK_OK;
    case OP_TRANSPOSE: {
      int i, seen = 0;
      NEED(x->dtype == y->dtype && x->rank == y->rank && same_quant(x, y), "op %u: transpose dtype/rank differ", oi);
      for (i = 0; i < x->rank; i++) {
        int32_t p = esdk_op_pi(m, op, i);
        NEED(p >= 0 && p < x->rank && !(seen & (1 << p)), "op %u: perm is not a permutation of 0..%d", oi, x->rank - 1);
        seen |= 1 << p;
        NEED(y->dims[i] == x->dims[p], "op %u: transpose output dim %d is %d, need %d", oi, i, y->dims[i], x->dims[p]);
      }
      return ESDK_OK;
    }
    case OP_CONCAT: return v_concat(&c);
    case OP_SLICE: return v_slice(&c);
    case OP_PAD: return v_pad(&c);
    case OP_RESIZE: {
      int32_t mode = esdk_op_pi(m, op, RP_MODE), co = esdk_op_pi(m, op, RP_COORD), nm = esdk_op_pi(m, op, RP_NEAREST);
      NEED(x->rank == 4 && y->rank == 4 && y->dims[0] == x->dims[0] && y->dims[1] == x->dims[1],
           "op %u: RESIZE needs 4-D NCHW tensors with equal N, C", oi);
      NEED(mode >= 0 && mode <= 1 && co >= 0 && co <= 4 && nm >= 0 && nm <= 3, "op %u: resize mode/coord/nearest unknown",
           oi);
      NEED(y->dtype == x->dtype && same_quant(x, y) && (x->dtype == DT_F32 || (x->dtype == DT_I8 && mode == RS_NEAREST)),
           "op %u: RESIZE supports float32, and int8 nearest", oi);
      return ESDK_OK;
    }
    case OP_QUANTIZE:
      NEED(x->dtype == DT_F32 && y->dtype == DT_I8 && esdk_nelem(x) == esdk_nelem(y), "op %u: QUANTIZE float32 -> int8", oi);
      NEED(y->scale > 0 && isfinite(y->scale), "op %u: output scale must be positive", oi);
      return ESDK_OK;
    case OP_DEQUANTIZE:
      NEED(x->dtype == DT_I8 && y->dtype == DT_F32 && esdk_nelem(x) == esdk_nelem(y), "op %u: DEQUANTIZE int8 -> float32", oi);
      return ESDK_OK;
    case OP_REQUANTIZE: {
      int32_t mu = esdk_op_pi(m, op, 0), sh = esdk_op_pi(m, op, 1);
      NEED(x->dtype == DT_I8 && y->dtype == DT_I8 && esdk_nelem(x) == esdk_nelem(y), "op %u: REQUANTIZE int8 -> int8", oi);
      NEED(mu >= 0 && sh >= -31 && sh <= 30, "op %u: requantization pair (%d, %d) out of range", oi, mu, sh);
      return ESDK_OK;
    }
    default: FAIL("op %u: unknown opcode %u", oi, op->code);
  }
}
