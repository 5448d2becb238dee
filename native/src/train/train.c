/* Trainer setup: finds and validates the TRNP section, places the updated parameters in
   the arena, and runs steps (forward with the SRAM parameters, loss, backward program). */
#include <stdarg.h>
#include <stdio.h>
#include "train_internal.h"

size_t esdk_trainer_size(void) { return sizeof(esdk_trainer); }
const char *esdk_train_error(const esdk_trainer *t) { return t ? t->err : "no trainer"; }

static esdk_status fail(esdk_trainer *t, esdk_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->err, sizeof t->err, fmt, ap);
  va_end(ap);
  return st;
}

static int find_trnp(esdk_trainer *t) {
  const uint8_t *d = t->m->data;
  uint32_t n = esdk_rd32(d + 12), table = esdk_rd32(d + 32), i;
  for (i = 0; i < n; i++) {
    const uint8_t *e = d + table + 32u * i;
    if (memcmp(e, "TRNP", 4) == 0) {
      uint64_t off = esdk_rd64(e + 8), size = esdk_rd64(e + 16);
      t->sec = d + off;
      t->n_words = (uint32_t)(size / 4);
      return 1;
    }
  }
  return 0;
}

int32_t tr_layer_of_op(const esdk_trainer *t, uint32_t op) {
  uint32_t li, n = trw(t, H_NLAYERS);
  for (li = 0; li < n; li++)
    if (tr_layer(t, li, L_OP) == op) return (int32_t)li;
  return -1;
}

const int8_t *tr_weight_row(esdk_trainer *t, uint32_t li, uint32_t c) {
  uint32_t K = tr_layer(t, li, L_K), row = trw(t, tr_layer(t, li, L_ROWMAP) + c);
  esdk_tensor w;
  if (row != TRNP_ABSENT) return (const int8_t *)(t->m->arena + tr_layer(t, li, L_WSRAM) + (size_t)row * K);
  return (const int8_t *)tr_tensor(t->m, tr_layer(t, li, L_W), &w) + (size_t)c * K;
}

int32_t tr_bias(esdk_trainer *t, uint32_t li, uint32_t c) {
  uint32_t bs = tr_layer(t, li, L_BSRAM), bi = tr_layer(t, li, L_B);
  esdk_tensor b;
  if (bs != TRNP_ABSENT) return ((const int32_t *)(t->m->arena + bs))[c];
  if (bi == TRNP_ABSENT) return 0;
  return (int32_t)esdk_rd32(tr_tensor(t->m, bi, &b) + 4u * c);
}

/* every word offset, tensor index and arena range the steps will touch is checked here, so
   the step code trusts the section like the kernels trust a validated model */
static esdk_status validate(esdk_trainer *t) {
  esdk_model *m = t->m;
  uint32_t nw = t->n_words, i, nl, ns, lo, so;
  uint64_t arena = m->arena_size;
  if (nw < H_WORDS || trw(t, H_MAGIC) != TRNP_MAGIC) return fail(t, ESDK_ERR_FORMAT, "TRNP: bad magic");
  if (trw(t, H_VERSION) != TRNP_VERSION) return fail(t, ESDK_ERR_VERSION, "TRNP: version %u", (unsigned)trw(t, H_VERSION));
  ns = trw(t, H_NSTEPS);
  nl = trw(t, H_NLAYERS);
  so = trw(t, H_STEPS_OFF);
  lo = trw(t, H_LAYERS_OFF);
  if (ns == 0 || ns > nw || nl > nw || so > nw || lo > nw || (uint64_t)so + (uint64_t)ns * S_WORDS > nw ||
      (uint64_t)lo + (uint64_t)nl * L_WORDS > nw)
    return fail(t, ESDK_ERR_FORMAT, "TRNP: step or layer table outside the section");
  if (trw(t, H_NOPS) != m->n_ops) return fail(t, ESDK_ERR_FORMAT, "TRNP: plan made for a different model");
  if (trw(t, H_ARENA) != arena) return fail(t, ESDK_ERR_FORMAT, "TRNP: arena size differs from the header's");
  if (trw(t, H_BACKWARD) > BW_INT8_SR) return fail(t, ESDK_ERR_FORMAT, "TRNP: backward mode %u", (unsigned)trw(t, H_BACKWARD));
  if ((uint64_t)trw(t, H_PARAMS_OFF) + trw(t, H_PARAMS_SIZE) > arena)
    return fail(t, ESDK_ERR_FORMAT, "TRNP: parameter region outside the arena");
  if (trw(t, H_LOGITS) >= m->n_tensors) return fail(t, ESDK_ERR_FORMAT, "TRNP: logits tensor index");
  {
    esdk_tensor lg;
    esdk_tensor_get(m, trw(t, H_LOGITS), &lg);
    if (lg.dtype != ESDK_F32 || lg.storage || esdk_nelem(&lg) != trw(t, H_NLOGITS) ||
        (uint64_t)trw(t, H_GLOGITS) + 4 * esdk_nelem(&lg) > arena)
      return fail(t, ESDK_ERR_FORMAT, "TRNP: logits must be a float32 activation with a gradient buffer");
  }
  for (i = 0; i < nl; i++) {
    uint32_t op_i = tr_layer(t, i, L_OP), M = tr_layer(t, i, L_M), K = tr_layer(t, i, L_K), nu = tr_layer(t, i, L_NUPD);
    uint32_t k;
    esdk_op op;
    esdk_tensor w, x;
    if (op_i >= m->n_ops) return fail(t, ESDK_ERR_FORMAT, "TRNP layer %u: op index", (unsigned)i);
    esdk_op_get(m, op_i, &op);
    if ((op.code != OP_CONV2D && op.code != OP_FULLY_CONNECTED) || op.nin < 5 ||
        esdk_op_io(m, &op, 1) != tr_layer(t, i, L_W) || esdk_op_io(m, &op, 2) != tr_layer(t, i, L_B))
      return fail(t, ESDK_ERR_FORMAT, "TRNP layer %u: not the int8 conv/fc it names", (unsigned)i);
    esdk_tensor_get(m, esdk_op_io(m, &op, 1), &w);
    esdk_tensor_get(m, esdk_op_io(m, &op, 0), &x);
    if (w.dtype != ESDK_I8 || x.dtype != ESDK_I8 || (uint32_t)w.dims[0] != M || M == 0 ||
        (uint64_t)M * K != w.nbytes || nu > M || x.dims[0] != 1)
      return fail(t, ESDK_ERR_FORMAT, "TRNP layer %u: shapes do not match the model (batch must be 1)", (unsigned)i);
    if ((uint64_t)tr_layer(t, i, L_CHLIST) + nu > nw || (uint64_t)tr_layer(t, i, L_ROWMAP) + M > nw ||
        (uint64_t)tr_layer(t, i, L_SW) + M > nw || (uint64_t)tr_layer(t, i, L_LRW) + M > nw ||
        (uint64_t)tr_layer(t, i, L_LRB) + M > nw)
      return fail(t, ESDK_ERR_FORMAT, "TRNP layer %u: table outside the section", (unsigned)i);
    for (k = 0; k < nu; k++) {
      uint32_t c = trw(t, tr_layer(t, i, L_CHLIST) + k);
      if (c >= M || trw(t, tr_layer(t, i, L_ROWMAP) + c) != k)
        return fail(t, ESDK_ERR_FORMAT, "TRNP layer %u: channel list and row map disagree", (unsigned)i);
    }
    if (nu && (tr_layer(t, i, L_WSRAM) == TRNP_ABSENT || (uint64_t)tr_layer(t, i, L_WSRAM) + (uint64_t)nu * K > arena))
      return fail(t, ESDK_ERR_FORMAT, "TRNP layer %u: weight rows outside the arena", (unsigned)i);
    if ((tr_layer(t, i, L_FLAGS) & LF_BIAS) &&
        (tr_layer(t, i, L_BSRAM) == TRNP_ABSENT || (uint64_t)tr_layer(t, i, L_BSRAM) + 4ull * M > arena ||
         (tr_layer(t, i, L_BSRAM) & 3)))
      return fail(t, ESDK_ERR_FORMAT, "TRNP layer %u: biases outside the arena", (unsigned)i);
  }
  for (i = 0; i < ns; i++) {
    uint32_t kind = tr_step(t, i, S_KIND), op_i = tr_step(t, i, S_OP), li = tr_step(t, i, S_LAYER);
    uint32_t flags = tr_step(t, i, S_FLAGS), k;
    esdk_op op;
    esdk_tensor y, x;
    if (kind < K_LOSS_CE || kind > K_COPY)
      return fail(t, ESDK_ERR_UNSUPPORTED, "TRNP step %u: kind %u", (unsigned)i, (unsigned)kind);
    if ((kind == K_LOSS_CE || kind == K_LOSS_MSE) != (i == 0))
      return fail(t, ESDK_ERR_FORMAT, "TRNP: the loss must be the first step and only there");
    if (i == 0) {
      if (tr_step(t, 0, S_GOUT) != trw(t, H_GLOGITS)) return fail(t, ESDK_ERR_FORMAT, "TRNP: loss gradient buffer");
      continue;
    }
    if (op_i >= m->n_ops) return fail(t, ESDK_ERR_FORMAT, "TRNP step %u: op index", (unsigned)i);
    if (li != TRNP_ABSENT && (li >= nl || tr_layer(t, li, L_OP) != op_i))
      return fail(t, ESDK_ERR_FORMAT, "TRNP step %u: layer index", (unsigned)i);
    if ((kind == K_CONV || kind == K_FC) && li == TRNP_ABSENT)
      return fail(t, ESDK_ERR_FORMAT, "TRNP step %u: conv/fc step without its layer record", (unsigned)i);
    esdk_op_get(m, op_i, &op);
    esdk_tensor_get(m, esdk_op_io(m, &op, op.nin), &y);
    if ((kind == K_CONV && op.code != OP_CONV2D) || (kind == K_FC && op.code != OP_FULLY_CONNECTED) ||
        (kind == K_ADD && op.code != OP_BINARY) || (kind == K_GAP && op.code != OP_GLOBAL_AVGPOOL) ||
        (kind == K_AVGPOOL && op.code != OP_AVGPOOL) || (kind == K_MAXPOOL && op.code != OP_MAXPOOL))
      return fail(t, ESDK_ERR_FORMAT, "TRNP step %u: kind does not match the op", (unsigned)i);
    if (kind == K_AVGPOOL || kind == K_MAXPOOL || kind == K_GAP) {
      esdk_tensor_get(m, esdk_op_io(m, &op, 0), &x);
      if (x.dtype != ESDK_I8 || x.rank != 4 || x.dims[0] != 1 || !(flags & SF_NEED(0)))
        return fail(t, ESDK_ERR_FORMAT, "TRNP step %u: pooling backward needs an int8 NCHW input (batch 1)", (unsigned)i);
    }
    if ((uint64_t)tr_step(t, i, S_GOUT) + 4 * esdk_nelem(&y) > arena)
      return fail(t, ESDK_ERR_FORMAT, "TRNP step %u: gradient buffer outside the arena", (unsigned)i);
    for (k = 0; k < 2; k++) {
      if (!(flags & SF_NEED(k))) continue;
      if (k >= op.nin) return fail(t, ESDK_ERR_FORMAT, "TRNP step %u: input %u", (unsigned)i, (unsigned)k);
      esdk_tensor_get(m, esdk_op_io(m, &op, k), &x);
      if (x.storage || (uint64_t)tr_step(t, i, S_GIN0 + k) + 4 * esdk_nelem(&x) > arena ||
          (kind == K_ADD && esdk_nelem(&x) != esdk_nelem(&y)) || (kind == K_COPY && esdk_nelem(&x) != esdk_nelem(&y)))
        return fail(t, ESDK_ERR_FORMAT, "TRNP step %u: input gradient buffer", (unsigned)i);
    }
  }
  return ESDK_OK;
}

static void load_params_from_model(esdk_trainer *t) {
  uint32_t li, nl = trw(t, H_NLAYERS);
  for (li = 0; li < nl; li++) {
    uint32_t M = tr_layer(t, li, L_M), K = tr_layer(t, li, L_K), nu = tr_layer(t, li, L_NUPD), k, bs, bi;
    esdk_tensor rec;
    const uint8_t *w = tr_tensor(t->m, tr_layer(t, li, L_W), &rec);
    for (k = 0; k < nu; k++)
      memcpy(t->m->arena + tr_layer(t, li, L_WSRAM) + (size_t)k * K, w + (size_t)trw(t, tr_layer(t, li, L_CHLIST) + k) * K, K);
    bs = tr_layer(t, li, L_BSRAM);
    bi = tr_layer(t, li, L_B);
    if (bs == TRNP_ABSENT) continue;
    if (bi == TRNP_ABSENT) memset(t->m->arena + bs, 0, 4u * M);
    else memcpy(t->m->arena + bs, tr_tensor(t->m, bi, &rec), 4u * M);
  }
}

esdk_status esdk_train_init(esdk_trainer *t, esdk_model *m) {
  esdk_status st;
  if (!t || !m) return ESDK_ERR_ARG;
  memset(t, 0, sizeof *t);
  t->m = m;
  if (m->magic != ESDK_MODEL_MAGIC) return fail(t, ESDK_ERR_STATE, "model not loaded");
  if (!m->arena) return fail(t, ESDK_ERR_ARENA, "set the arena before binding the trainer");
  if (!find_trnp(t)) return fail(t, ESDK_ERR_FORMAT, "the artifact has no training plan (TRNP section); make one with 'edge-sdk finetune plan'");
  st = validate(t);
  if (st != ESDK_OK) return st;
  load_params_from_model(t);
  t->magic = ESDK_TRAINER_MAGIC;
  return ESDK_OK;
}

esdk_status esdk_train_forward(esdk_trainer *t) {
  uint32_t i;
  if (!t || t->magic != ESDK_TRAINER_MAGIC) return ESDK_ERR_STATE;
  for (i = 0; i < t->m->n_ops; i++) {
    int32_t li = tr_layer_of_op(t, i);
    if (li >= 0 && (tr_layer(t, (uint32_t)li, L_NUPD) || (tr_layer(t, (uint32_t)li, L_FLAGS) & LF_BIAS)))
      tr_layer_forward(t, (uint32_t)li); /* frozen layers on the backward path run the fast kernels */
    else esdk_invoke_op(t->m, i);
  }
  return ESDK_OK;
}

esdk_status esdk_train_step(esdk_trainer *t, int32_t label, const float *target, float *loss) {
  uint32_t i, ns;
  float l;
  if (!t || t->magic != ESDK_TRAINER_MAGIC) return ESDK_ERR_STATE;
  if (trw(t, H_LOSS) == 0 && (label < 0 || (uint32_t)label >= trw(t, H_NLOGITS)))
    return fail(t, ESDK_ERR_ARG, "label %ld outside [0, %u)", (long)label, (unsigned)trw(t, H_NLOGITS));
  if (trw(t, H_LOSS) == 1 && !target) return fail(t, ESDK_ERR_ARG, "an MSE plan needs a target vector");
  esdk_train_forward(t);
  l = tr_loss(t, label, target);
  ns = trw(t, H_NSTEPS);
  for (i = 1; i < ns; i++) {
    uint32_t kind = tr_step(t, i, S_KIND);
    if (kind == K_AVGPOOL || kind == K_MAXPOOL) tr_pool_backward(t, i);
    else if (trw(t, H_BACKWARD) != BW_FP32 && (kind == K_CONV || kind == K_FC)) tr_backward_step_i8(t, i);
    else tr_backward_step(t, i); /* kept apart: its fp32 code is the one measured in docs/performance.md */
  }
  t->steps_done++;
  if (loss) *loss = l;
  return ESDK_OK;
}

int32_t esdk_train_argmax(const esdk_trainer *t) {
  const float *z;
  uint32_t i, n;
  int32_t best = 0;
  if (!t || t->magic != ESDK_TRAINER_MAGIC) return -1;
  {
    esdk_tensor lg;
    z = (const float *)tr_tensor(t->m, trw(t, H_LOGITS), &lg);
  }
  n = trw(t, H_NLOGITS);
  for (i = 1; i < n; i++)
    if (z[i] > z[best]) best = (int32_t)i;
  return best;
}

void *esdk_train_params(esdk_trainer *t, size_t *size) {
  if (!t || t->magic != ESDK_TRAINER_MAGIC) return NULL;
  if (size) *size = trw(t, H_PARAMS_SIZE);
  return t->m->arena + trw(t, H_PARAMS_OFF);
}

esdk_status esdk_train_set_params(esdk_trainer *t, const void *blob, size_t size) {
  if (!t || t->magic != ESDK_TRAINER_MAGIC || !blob) return ESDK_ERR_ARG;
  if (size != trw(t, H_PARAMS_SIZE)) return fail(t, ESDK_ERR_ARG, "parameter blob is %lu bytes, the plan's is %u",
                                                 (unsigned long)size, (unsigned)trw(t, H_PARAMS_SIZE));
  memcpy(t->m->arena + trw(t, H_PARAMS_OFF), blob, size);
  return ESDK_OK;
}

uint32_t esdk_train_steps_done(const esdk_trainer *t) { return t ? t->steps_done : 0; }
void esdk_train_set_steps_done(esdk_trainer *t, uint32_t steps) {
  if (t) t->steps_done = steps;
}
