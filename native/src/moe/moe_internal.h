/* Internal state of the MoE decoder (native/src/moe). Not a public header. */
#ifndef ESDK_MOE_INTERNAL_H
#define ESDK_MOE_INTERNAL_H

#include "edge_sdk_moe.h"
#include "xmatvec.h"

#if (defined(__unix__) || defined(__APPLE__)) && !defined(ESDK_MOE_NO_IO)
#define ESDK_MOE_HAVE_IO 1
#else
#define ESDK_MOE_HAVE_IO 0
#endif

#define MOE_MAX_LAYERS 128
#define MOE_PREFILL_BLOCK 64 /* prompt tokens per prefill block (fewer when max_seq is smaller) */
#define MOE_PAGE 4096u
#define MOE_IO_STORAGE 4096 /* moe_io (moe_io.h): locks, threads, io_uring ring and reads in flight */

enum { SLOT_EMPTY = 0, SLOT_LOADING = 1, SLOT_READY = 2, SLOT_ERROR = 3 };

typedef struct { uint64_t offset; uint32_t crc; uint32_t reserved; } moe_xentry;
/* last: LRU clock; tick: token in which the read was issued; demand: issued at use */
typedef struct { int32_t key; int32_t state; int32_t pins; uint32_t last; uint32_t tick; int32_t demand; } moe_slot;

typedef struct {
  const float *attn_norm, *wq, *wk, *wv, *wo, *bq, *bk, *bv, *q_norm, *k_norm;
  const float *ffn_norm, *router, *sh_gate, *sh_up, *sh_down, *sh_g;
  int32_t q_norm_len, k_norm_len; /* elements normalised together: head_dim (per head) or the whole projection */
} moe_layer;

struct esdk_moe {
  esdk_moe_config c;
  char err[256];
  const uint8_t *data;
  size_t size;
  int loaded;
  const float *tok_emb, *norm, *lm_head;
  moe_layer L[MOE_MAX_LAYERS];
  /* arena */
  uint8_t *arena;
  int32_t max_seq, pos, arena_set;
  float *x, *xn, *hn, *pn, *eok, *q, *k, *v, *ao, *att, *g, *u, *eo, *acc, *rl, *pl, *logits, *kc, *vc, *rc, *rs;
  double *tokw; /* sampling weights, one per vocabulary entry */
  /* prefill (esdk_moe_prefill): a block of up to pblock tokens, layer by layer */
  float *bx, *bhn, *beok, *bw; /* per token: residual, FFN input, routed experts' outputs, weights */
  int32_t *broute, *bused;     /* per token: the layer's routed experts; the layer's experts in use */
  uint8_t *bstate;             /* per expert in use: 0 not asked, 1 asked and pinned, 2 computed */
  int32_t pblock;
  int32_t *route, *pred, *npred, *xslot, *order;
  float *route_w, *freq;
  uint32_t *freq_t;
  uint8_t *verified, *is_pred, *todo;
  moe_xentry *xtab;
  /* bundle */
  int have_bundle;
  uint64_t stride, data_off, file_size;
  uint64_t mat_off[3], mat_data[3];
  int32_t mat_rows[3], mat_cols[3];
  uint64_t row_bytes[3];
  moe_xmatvec_fn xmv; /* expert kernel for expert_quant (esdk_moe_set_kernels) */
  const char *kname;
  /* expert memory (resident / mmap) */
  const uint8_t *xmem;
  size_t xmem_size;
  /* cache */
  uint8_t *cmem;
  moe_slot *slots;
  int32_t *queue;
  int32_t n_slots, q_head, q_len, policy;
  int32_t q_busy; /* reads taken from the queue by the I/O thread(s) and not yet done */
  float decay;
  float cache_bias; /* cache routing (esdk_moe_set_cache_routing); 0 = exact routing */
  uint32_t clock, ttick;
  int32_t prefetch_on, prefetch_extra, lookahead, idle_only;
  volatile int32_t io_failed;
  esdk_status io_status;
  char io_err[256];
  esdk_moe_stats st;
  int32_t io_running;
  esdk_moe_token_fn on_token; /* esdk_moe_set_token_callback; NULL = off */
  void *on_token_user;
  /* host I/O state (moe_io.h), opaque here */
  union { uint8_t b[MOE_IO_STORAGE]; uint64_t u; void *p; double d; } io_impl;
};

uint32_t esdk_moe_crc32(const uint8_t *p, size_t n);
void esdk_moe_crc_init(void);

/* Synchronisation, provided by moe_io_thread.c on host builds and by no-ops elsewhere. */
void moe_lock(esdk_moe *m);
void moe_unlock(esdk_moe *m);
void moe_wait_done(esdk_moe *m);   /* with the lock held: until an I/O completes */
void moe_kick_io(esdk_moe *m);     /* with the lock held: new requests queued */
double moe_now(void);

#endif
