/* Word layout of the TRNP section (edge_sdk/finetune/encode.py writes it; docs/finetune.md
   describes it). All words little-endian u32; floats are their IEEE bits. */
#ifndef ESDK_TRNP_H
#define ESDK_TRNP_H
#include <stdint.h>

#define TRNP_MAGIC 0x504E5254u
#define TRNP_VERSION 1u
#define TRNP_ABSENT 0xFFFFFFFFu

/* header words */
enum {
  H_MAGIC, H_VERSION, H_NSTEPS, H_NLAYERS, H_STEPS_OFF, H_LAYERS_OFF, H_LOSS, H_LOGITS, H_NLOGITS, H_GLOGITS,
  H_PARAMS_OFF, H_PARAMS_SIZE, H_ROUNDING, H_SEED, H_ARENA, H_NOPS, H_BACKWARD, H_WORDS = 32
};
/* H_BACKWARD: arithmetic of the conv / fc backward steps (0 in plans written before it existed) */
enum { BW_FP32, BW_INT8, BW_INT8_SR };
/* step words */
enum { S_KIND, S_OP, S_GOUT, S_GIN0, S_GIN1, S_FLAGS, S_LAYER, S_WORDS = 8 };
enum { K_LOSS_CE = 1, K_LOSS_MSE, K_CONV, K_FC, K_ADD, K_GAP, K_AVGPOOL, K_MAXPOOL, K_COPY };
#define SF_ACC(k) (1u << (k))   /* add into g_in[k] (fan-out) */
#define SF_NEED(k) (4u << (k))  /* g_in[k] is wanted */
/* layer words */
enum {
  L_OP, L_W, L_B, L_M, L_K, L_NUPD, L_CHLIST, L_ROWMAP, L_WSRAM, L_BSRAM, L_SW, L_LRW, L_LRB, L_FLAGS, L_WORDS = 16
};
#define LF_BIAS 1u
#endif
