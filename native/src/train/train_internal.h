/* Private to native/src/train: the trainer context and TRNP accessors. */
#ifndef ESDK_TRAIN_INTERNAL_H
#define ESDK_TRAIN_INTERNAL_H
#include "../runtime/internal.h"
#include "edge_sdk_train.h"
#include "trnp.h"

#define ESDK_TRAINER_MAGIC 0x54524E52u
#define ESDK_TRAIN_ERR_LEN 160

struct esdk_trainer {
  uint32_t magic;
  esdk_model *m;
  const uint8_t *sec; /* TRNP words, inside the artifact */
  uint32_t n_words;
  uint32_t steps_done; /* seeds stochastic rounding: replaying the same samples replays the same updates */
  char err[ESDK_TRAIN_ERR_LEN];
};

static inline uint32_t trw(const esdk_trainer *t, uint32_t i) { return esdk_rd32(t->sec + 4u * i); }
static inline float trf(const esdk_trainer *t, uint32_t i) { return esdk_rdf32(t->sec + 4u * i); }
static inline uint32_t tr_layer(const esdk_trainer *t, uint32_t li, uint32_t w) {
  return trw(t, trw(t, H_LAYERS_OFF) + li * L_WORDS + w);
}
static inline uint32_t tr_step(const esdk_trainer *t, uint32_t si, uint32_t w) {
  return trw(t, trw(t, H_STEPS_OFF) + si * S_WORDS + w);
}
static inline float *tr_f32(esdk_trainer *t, uint32_t arena_off) { return (float *)(t->m->arena + arena_off); }

/* pointer to a tensor's bytes (constants in the artifact, activations in the arena) */
static inline uint8_t *tr_tensor(const esdk_model *m, uint32_t idx, esdk_tensor *rec) {
  esdk_tensor_get(m, idx, rec);
  return rec->storage ? (uint8_t *)(uintptr_t)(m->cnst + rec->offset) : m->arena + rec->offset;
}

/* weights of output channel c of layer li: the SRAM row when it is being updated, else flash */
const int8_t *tr_weight_row(esdk_trainer *t, uint32_t li, uint32_t c);
int32_t tr_bias(esdk_trainer *t, uint32_t li, uint32_t c);
int32_t tr_layer_of_op(const esdk_trainer *t, uint32_t op);

void tr_layer_forward(esdk_trainer *t, uint32_t li);
float tr_loss(esdk_trainer *t, int32_t label, const float *target);
void tr_backward_step(esdk_trainer *t, uint32_t si);
/* shared by the fp32 and int8 backward (train_backward.c) */
float *tr_grad_in(esdk_trainer *t, uint32_t si, uint32_t k, size_t n);
void tr_apply_bias(esdk_trainer *t, uint32_t li, uint32_t c, float gb);
void tr_clamp_mask(float *g, const int8_t *y, size_t n, int32_t qmin, int32_t qmax);
/* int8 backward of a conv / fc step (train_backward_i8.c) */
void tr_backward_step_i8(esdk_trainer *t, uint32_t si);
void tr_pool_backward(esdk_trainer *t, uint32_t si); /* train_backward_pool.c */

/* deterministic float helpers, identical on every target (no libm: its last ulp differs) */
int32_t tr_floor(float v);
float tr_exp(float x);
float tr_log(float x);
int8_t tr_update_weight(int8_t w, float d, uint32_t rounding, uint32_t seed, uint32_t step, uint32_t li, uint32_t idx);
int32_t tr_update_bias(int32_t b, float d);
float tr_uniform(uint32_t seed, uint32_t step, uint32_t li, uint32_t idx);
int32_t tr_round_half_away(float d);
#endif
