/* edge-sdk mixture-of-experts decoder: a decoder-only MoE language model whose experts
 * live in a separate bundle file and are streamed into a bounded RAM cache (docs/moe.md).
 *
 * Same rules as edge_sdk.h: the runtime never allocates. The caller owns
 *   - the artifact bytes (dense weights, used in place; esdk_moe_load validates CRCs),
 *   - the context (esdk_moe_size() bytes, 64-byte aligned),
 *   - the arena (esdk_moe_arena_size(), 64-byte aligned): KV cache, activations, expert tables,
 *     prefill buffers (min(max_seq, 64) tokens x (2 + top_k) x d_model floats),
 *   - the expert memory: either the whole bundle in memory (resident or mmap'd:
 *     esdk_moe_set_expert_memory) or a cache region (esdk_moe_cache_init, 4096-byte aligned)
 *     filled by a dedicated I/O thread (esdk_moe_io_open; host builds only) with pread, or on
 *     Linux with io_uring (several reads in flight; the rings are kernel memory, mmap'ed).
 * Every expert is checksummed (CRC-32) and verified on first read; a missing expert is
 * waited for (a counted stall), never skipped.
 */
#ifndef EDGE_SDK_MOE_H
#define EDGE_SDK_MOE_H

#include <stddef.h>
#include <stdint.h>
#include "edge_sdk.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct esdk_moe esdk_moe; /* opaque; storage provided by the caller */

typedef struct {
  int32_t n_layers, d_model, n_heads, n_kv_heads, head_dim, vocab;
  int32_t n_experts, top_k, d_ff_expert, d_ff_shared;
  int32_t pre_router;     /* 1: router reads the layer input before attention (SmallThinker) */
  int32_t norm_topk;      /* 1: renormalise the top-k softmax weights to sum to 1 */
  int32_t shared_gate;    /* 1: sigmoid gate (one row of d_model) scales the shared expert */
  int32_t tie_embeddings; /* 1: lm_head is tok_emb */
  int32_t max_seq;        /* longest context the model was made for */
  int32_t expert_quant;   /* 0 f32, 1 int8 per-row scales, 2 int4 per-row scales */
  float rope_theta, rms_eps;
} esdk_moe_config;

typedef struct {
  uint64_t tokens;          /* positions computed (prompt tokens included) */
  uint64_t expert_uses;     /* routed experts computed */
  /* counted when the kernel needs the expert (docs/moe.md, "Statistics"): */
  uint64_t hits;            /* ready in memory, no wait */
  uint64_t late;            /* read asked for ahead of use, still in flight: waited (stall) */
  uint64_t misses;          /* read asked for only at use (demand): waited (stall) */
  uint64_t stalls;          /* late + misses */
  uint64_t reads, bytes_read;
  uint64_t predicted;       /* experts requested ahead by the predictor */
  uint64_t predicted_used;  /* ... of which the layer then used */
  uint64_t predict_needed;  /* experts used at layers that had a prediction */
  uint64_t prefetch_dropped;/* predictions not issued: no evictable slot */
  uint64_t evictions;
  uint64_t reused;          /* routed experts used from memory without a read in this token */
  uint64_t prefetch_cancelled; /* queued predicted reads dropped unstarted (overruled) */
  uint64_t rerouted;        /* routed experts that cache routing chose instead of the router's own top-k */
  double stall_s;           /* time the compute thread waited for experts */
  double io_s;              /* time the I/O thread spent in reads (incl. CRC on first read) */
  /* the part of the counts above that esdk_moe_prefill made (prompt blocks), so that decoding's
     own figures are the totals less these: */
  uint64_t prefill_tokens, prefill_uses, prefill_hits, prefill_reused, prefill_reads, prefill_bytes;
  double prefill_s;         /* wall time in esdk_moe_prefill */
} esdk_moe_stats;

size_t esdk_moe_size(void);
/* Validate the artifact (header CRC, every tensor CRC and shape) and bind it. */
esdk_status esdk_moe_load(esdk_moe *m, const void *data, size_t size);
const char *esdk_moe_error(const esdk_moe *m);
esdk_status esdk_moe_get_config(const esdk_moe *m, esdk_moe_config *cfg);

/* Arena for a context of up to max_seq tokens; 0 when it would not fit size_t (set_arena refuses). */
size_t esdk_moe_arena_size(const esdk_moe *m, int32_t max_seq);
esdk_status esdk_moe_set_arena(esdk_moe *m, void *arena, size_t size, int32_t max_seq);

/* The bundle's header and expert table: its first esdk_moe_bundle_header_size() bytes
   (read the first 64 bytes, ask, then read that many). Checked against the model. */
size_t esdk_moe_bundle_header_size(const void *first64);
esdk_status esdk_moe_set_bundle(esdk_moe *m, const void *header, size_t size, uint64_t file_size);
uint64_t esdk_moe_expert_bytes(const esdk_moe *m); /* one expert record (4 KiB multiple) */

/* Experts used in place from memory holding the whole bundle file (resident or mmap). */
esdk_status esdk_moe_set_expert_memory(esdk_moe *m, const void *bundle, size_t size);

/* Expert cache: `bytes` of 4096-aligned memory, policy 0 = LRU, 1 = LFU with decay
   (frequency-aware; `decay` per token in (0,1], e.g. 0.95), 2 = LFU with decay within per-layer
   quotas (the victim comes from the layer holding the most slots; docs/moe.md). */
esdk_status esdk_moe_cache_init(esdk_moe *m, void *mem, size_t bytes, int32_t policy, float decay);
int32_t esdk_moe_cache_slots(const esdk_moe *m);
/* Host builds: open the bundle and start the I/O thread. flags, OR'ed:
     ESDK_MOE_IO_DIRECT          O_DIRECT (buffered where the file system refuses it)
     threads << 8                pread threads, 1-8 (0 = 1)
     ESDK_MOE_IO_AUTO (0)        io_uring where io_uring_setup succeeds, else pread
     ESDK_MOE_IO_PREAD           pread only
     ESDK_MOE_IO_URING           io_uring only: ESDK_ERR_UNSUPPORTED (one-line error) where the kernel,
                                 a seccomp filter, kernel.io_uring_disabled or the build refuses it;
                                 one thread (threads must be 1)
     depth << 24                 io_uring reads in flight, 1-16 (0 = 4)
   esdk_moe_io_backend: what runs, e.g. "io_uring depth 4, O_DIRECT" or, when auto fell back,
   "pread, O_DIRECT (io_uring unavailable: Function not implemented)". */
#define ESDK_MOE_IO_DIRECT 1
#define ESDK_MOE_IO_AUTO (0 << 16)
#define ESDK_MOE_IO_PREAD (1 << 16)
#define ESDK_MOE_IO_URING (2 << 16)
esdk_status esdk_moe_io_open(esdk_moe *m, const char *path, int32_t flags);
esdk_status esdk_moe_io_close(esdk_moe *m);
const char *esdk_moe_io_backend(const esdk_moe *m);
/* Prediction: 0 off (demand reads only), 1 on: when the model has a pre-attention router, the
   layer's own experts before attention, and the next `lookahead` layers' routers on the current
   hidden state after this layer's attention (a pre-attention router on its attention norm).
   extra: predicted experts beyond top_k per layer. lookahead: 0..3 layers (default: 0 with a
   pre-attention router, else 1; 0 keeps only the exact pre-attention reads); idle_only: 1
   issues a layer's predicted reads only when no read is queued or in flight at that moment
   (guesses use idle bandwidth only), 0 always. A newer prediction or the layer's routing cancels queued
   reads it overrules. */
esdk_status esdk_moe_set_prefetch(esdk_moe *m, int32_t on, int32_t extra);
esdk_status esdk_moe_set_lookahead(esdk_moe *m, int32_t layers, int32_t idle_only);
/* Cache routing (opt-in; streamed experts only; 0 = off, the default): the router's top-k is
   taken over logit + bias * (max logit - min logit) for experts present or being read in the
   cache, logit elsewhere; the chosen experts keep the router's own softmax weights. bias in
   [0, 1]. It trades the model's exact routing for cache hits: the output then depends on the
   cache's contents and differs from an all-resident run (docs/moe.md, "Cache routing"). */
esdk_status esdk_moe_set_cache_routing(esdk_moe *m, float bias);

/* Decoding. reset clears the KV cache; step feeds one token and computes its logits. */
esdk_status esdk_moe_reset(esdk_moe *m);
esdk_status esdk_moe_step(esdk_moe *m, int32_t token);
const float *esdk_moe_logits(const esdk_moe *m);
int32_t esdk_moe_position(const esdk_moe *m);
/* Feed n tokens (a prompt) at once: the same KV cache, logits (the last token's) and bits as n
   esdk_moe_step calls, computed layer by layer over blocks of up to 64 tokens, so that each
   routed expert a layer uses in a block is read (streamed experts) and computed once for all
   of the block's tokens routed to it, not once per token. Logits of the earlier tokens are not
   computed. Statistics count each (token, expert) use; an expert's uses after the first in a
   block are hits. With cache routing on (the routing then depends on the cache) it is n
   esdk_moe_step calls. esdk_moe_generate and esdk_moe_generate_until feed their prompt this way. */
esdk_status esdk_moe_prefill(esdk_moe *m, const int32_t *tokens, int32_t n);
/* Prompt, then up to max_new tokens: greedy when temperature <= 0, else sampled
   (softmax(logits / temperature) restricted to the top_k_sample best, 0 = all) with a
   seeded generator. Stops early at stop_token (>= 0). */
esdk_status esdk_moe_generate(esdk_moe *m, const int32_t *prompt, int32_t n_prompt, int32_t max_new,
                              float temperature, int32_t top_k_sample, uint64_t seed, int32_t stop_token,
                              int32_t *out, int32_t *n_out);
/* The same, with nucleus sampling and several stop tokens: after top_k_sample, only the smallest
   set of most likely tokens whose probability reaches top_p (in (0, 1]; 1 = off; tokens tied at
   the edge kept), as transformers' top-k then top-p warpers; stops early at any of the n_stop
   tokens in stop (a model may have several end-of-sequence ids, as in Hugging Face
   generation_config.json). */
esdk_status esdk_moe_generate_until(esdk_moe *m, const int32_t *prompt, int32_t n_prompt, int32_t max_new,
                                    float temperature, int32_t top_k_sample, float top_p, uint64_t seed,
                                    const int32_t *stop, int32_t n_stop, int32_t *out, int32_t *n_out);

/* Streaming: fn(user, token) is called by esdk_moe_generate / esdk_moe_generate_until right after
   each new token is written to out (prompt tokens are not passed), before the token is fed back.
   A non-zero return stops generation there: the call returns ESDK_OK with the tokens so far in
   out and *n_out (the last one is the token just passed to fn), exactly as if max_new had been
   reached. The callback does not change the tokens generated. fn NULL (the default after
   esdk_moe_load) turns it off. fn runs on the thread that called generate. */
typedef int32_t (*esdk_moe_token_fn)(void *user, int32_t token);
esdk_status esdk_moe_set_token_callback(esdk_moe *m, esdk_moe_token_fn fn, void *user);

/* Expert matvec kernels: -1 the fastest this CPU has (the default), 0 the scalar reference,
   1 AVX2 (x86-64), 2 NEON (aarch64); ESDK_ERR_UNSUPPORTED where the build or CPU lacks it.
   Every choice gives the same bits. */
esdk_status esdk_moe_set_kernels(esdk_moe *m, int32_t isa);
const char *esdk_moe_kernels(const esdk_moe *m); /* "avx2", "neon" or "scalar" */
/* One expert matrix, for tests and microbenchmarks: y[r] = scale[r] * dot(row r, x), rows
   row_bytes apart, quant 0 f32 / 1 int8 / 2 int4 (docs/moe.md), isa as above. */
esdk_status esdk_moe_expert_matvec(int32_t quant, int32_t isa, const void *rows, size_t row_bytes, const float *scale,
                                   const float *x, float *y, int32_t n_rows, int32_t n_cols);

void esdk_moe_get_stats(const esdk_moe *m, esdk_moe_stats *s);
void esdk_moe_reset_stats(esdk_moe *m);
/* Routed experts of the last step, layer by layer (n_layers * top_k ids), for analysis. */
const int32_t *esdk_moe_last_routing(const esdk_moe *m);

#ifdef __cplusplus
}
#endif
#endif /* EDGE_SDK_MOE_H */
