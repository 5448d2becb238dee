/* edge-sdk on-device training: runs the training plan (TRNP section) of an .esm made by
 * edge_sdk.finetune.plan. Same rules as the inference API: no allocation, the caller owns
 * the trainer context (esdk_trainer_size() bytes, 16-byte aligned) and the arena, which
 * must be esdk_arena_size() of the plan artifact (it holds forward activations, saved
 * activations, float gradients and the updated parameters).
 *
 * A step: write the input with esdk_input_data(model, 0), then esdk_train_step(). The
 * updated parameters live in one contiguous arena region (esdk_train_params) so they can be
 * persisted as one blob and restored with esdk_train_set_params.
 */
#ifndef EDGE_SDK_TRAIN_H
#define EDGE_SDK_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "edge_sdk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct esdk_trainer esdk_trainer; /* opaque; storage provided by the caller */

size_t esdk_trainer_size(void);

/* Bind to a loaded model whose arena is set; validates the TRNP section against the model
   and copies the parameters to update from the artifact's constants into the arena. */
esdk_status esdk_train_init(esdk_trainer *t, esdk_model *model);
const char *esdk_train_error(const esdk_trainer *t);

/* Forward pass with the current (updated) parameters; outputs via esdk_output_data. */
esdk_status esdk_train_forward(esdk_trainer *t);

/* One SGD step on the input already written: forward, loss, backward, in-place updates.
   Cross-entropy plans take `label` (target ignored); MSE plans take `target` (one float per
   logit). *loss receives the loss before the update (may be NULL). */
esdk_status esdk_train_step(esdk_trainer *t, int32_t label, const float *target, float *loss);

/* Index of the largest logit of the last forward (classification). */
int32_t esdk_train_argmax(const esdk_trainer *t);

/* The updated parameters: a pointer into the arena and its size in bytes. */
void *esdk_train_params(esdk_trainer *t, size_t *size);
esdk_status esdk_train_set_params(esdk_trainer *t, const void *blob, size_t size);
uint32_t esdk_train_steps_done(const esdk_trainer *t);
void esdk_train_set_steps_done(esdk_trainer *t, uint32_t steps);

#ifdef __cplusplus
}
#endif
#endif /* EDGE_SDK_TRAIN_H */
