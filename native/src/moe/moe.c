/* MoE decoder: artifact loader, decode step (RMSNorm, GQA attention with RoPE and a KV
 * cache, top-k routed experts + optional shared expert, optional pre-attention router),
 * expert cache with LRU / LFU-with-decay / LFU within per-layer quotas, prediction, sampling. Portable C99, no malloc;
 * the I/O thread lives in moe_io_thread.c (+ moe_io_uring.c). Format: docs/moe.md. */
#include <math.h>
#include <string.h>

#include "moe_internal.h"
#include "xmatvec.h"

/* ---------------------------------------------------------------- CRC-32 (zlib) */
static uint32_t k_crc[8][256];
static int k_crc_ready;

void esdk_moe_crc_init(void) {
  if (k_crc_ready) return;
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int j = 0; j < 8; j++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    k_crc[0][i] = c;
  }
  for (int t = 1; t < 8; t++)
    for (int i = 0; i < 256; i++) k_crc[t][i] = (k_crc[t - 1][i] >> 8) ^ k_crc[0][k_crc[t - 1][i] & 0xff];
  k_crc_ready = 1;
}

uint32_t esdk_moe_crc32(const uint8_t *p, size_t n) {
  uint32_t crc = 0xFFFFFFFFu;
  while (n >= 8) {
    uint32_t one = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
    uint32_t two = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
    crc = k_crc[7][one & 0xff] ^ k_crc[6][(one >> 8) & 0xff] ^ k_crc[5][(one >> 16) & 0xff] ^ k_crc[4][one >> 24] ^
          k_crc[3][two & 0xff] ^ k_crc[2][(two >> 8) & 0xff] ^ k_crc[1][(two >> 16) & 0xff] ^ k_crc[0][two >> 24];
    p += 8;
    n -= 8;
  }
  while (n--) crc = (crc >> 8) ^ k_crc[0][(crc ^ *p++) & 0xff];
  return ~crc;
}

/* ---------------------------------------------------------------- helpers */
static esdk_status fail(esdk_moe *m, esdk_status st, const char *msg, const char *detail) {
  size_t n = 0;
  for (; msg[n] && n < sizeof m->err - 1; n++) m->err[n] = msg[n];
  if (detail)
    for (size_t i = 0; detail[i] && n < sizeof m->err - 1; i++) m->err[n++] = detail[i];
  m->err[n] = 0;
  return st;
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static float rdf(const uint8_t *p) { uint32_t u = rd32(p); float f; memcpy(&f, &u, 4); return f; }
static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

size_t esdk_moe_size(void) { return sizeof(esdk_moe); }
const char *esdk_moe_error(const esdk_moe *m) { return m ? m->err : "null context"; }

/* ---------------------------------------------------------------- artifact */
#define ART_HDR 24
#define ART_CFG_WORDS 32
#define ART_ENTRY 48

/* the tensor table entry named `name` (name, u64 offset, u32 byte count, u32 CRC), NULL if none */
static const uint8_t *find_entry(const esdk_moe *m, const char *name) {
  const uint8_t *tab = m->data + ART_HDR + 4 * ART_CFG_WORDS;
  for (uint32_t i = 0, n = rd32(m->data + 12); i < n; i++)
    if (strncmp((const char *)tab + (size_t)i * ART_ENTRY, name, 32) == 0) return tab + (size_t)i * ART_ENTRY;
  return NULL;
}

static const float *find_tensor(esdk_moe *m, const char *name, uint64_t want_floats, int required, esdk_status *st) {
  const uint8_t *e = find_entry(m, name);
  if (!e) {
    if (required) *st = fail(m, ESDK_ERR_FORMAT, "artifact: missing tensor ", name);
    return NULL;
  }
  if (rd32(e + 40) != want_floats * 4) {
    *st = fail(m, ESDK_ERR_FORMAT, "artifact: wrong size for tensor ", name);
    return NULL;
  }
  return (const float *)(m->data + rd64(e + 32));
}

/* q/k RMSNorm weights: head_dim floats normalise each head (Qwen3-MoE), else the whole
   projection (OLMoE); the size the tensor is checked against */
static uint64_t qk_norm_floats(const esdk_moe *m, const char *name, uint64_t whole, uint64_t hd) {
  const uint8_t *e = find_entry(m, name);
  return e && rd32(e + 40) == hd * 4 ? hd : whole;
}

/* "L{l}.{suffix}" into nm (32 bytes) */
static void layer_name(char *nm, int l, const char *suffix) {
  int k = 0;
  nm[k++] = 'L';
  if (l >= 100) nm[k++] = (char)('0' + l / 100);
  if (l >= 10) nm[k++] = (char)('0' + (l / 10) % 10);
  nm[k++] = (char)('0' + l % 10);
  nm[k++] = '.';
  for (; *suffix; suffix++) nm[k++] = *suffix;
  nm[k] = 0;
}

esdk_status esdk_moe_load(esdk_moe *m, const void *data, size_t size) {
  if (!m || !data) return ESDK_ERR_ARG;
  memset(m, 0, sizeof *m);
  esdk_moe_crc_init();
  const uint8_t *d = (const uint8_t *)data;
  if ((uintptr_t)d % 16) return fail(m, ESDK_ERR_ARG, "artifact bytes must be 16-byte aligned", 0);
  if (size < ART_HDR + 4 * ART_CFG_WORDS) return fail(m, ESDK_ERR_TRUNCATED, "artifact: shorter than its header", 0);
  if (memcmp(d, "ESDKMOE\0", 8) != 0) return fail(m, ESDK_ERR_FORMAT, "not an edge-sdk MoE artifact (bad magic)", 0);
  if (rd32(d + 8) != 1) return fail(m, ESDK_ERR_VERSION, "artifact: unsupported MoE format version", 0);
  uint32_t n = rd32(d + 12);
  if (rd32(d + 16) != ART_CFG_WORDS || n > 4096) return fail(m, ESDK_ERR_FORMAT, "artifact: bad header counts", 0);
  size_t hdr_end = ART_HDR + 4 * ART_CFG_WORDS + (size_t)n * ART_ENTRY;
  if (size < hdr_end) return fail(m, ESDK_ERR_TRUNCATED, "artifact: truncated tensor table", 0);
  if (esdk_moe_crc32(d + ART_HDR, hdr_end - ART_HDR) != rd32(d + 20))
    return fail(m, ESDK_ERR_CHECKSUM, "artifact: header checksum mismatch (corrupted file?)", 0);
  const uint8_t *cw = d + ART_HDR;
  esdk_moe_config *c = &m->c;
  c->n_layers = (int32_t)rd32(cw + 0); c->d_model = (int32_t)rd32(cw + 4); c->n_heads = (int32_t)rd32(cw + 8);
  c->n_kv_heads = (int32_t)rd32(cw + 12); c->head_dim = (int32_t)rd32(cw + 16); c->vocab = (int32_t)rd32(cw + 20);
  c->n_experts = (int32_t)rd32(cw + 24); c->top_k = (int32_t)rd32(cw + 28); c->d_ff_expert = (int32_t)rd32(cw + 32);
  c->d_ff_shared = (int32_t)rd32(cw + 36); c->pre_router = (int32_t)rd32(cw + 40); c->norm_topk = (int32_t)rd32(cw + 44);
  c->shared_gate = (int32_t)rd32(cw + 48); c->tie_embeddings = (int32_t)rd32(cw + 52); c->max_seq = (int32_t)rd32(cw + 56);
  c->expert_quant = (int32_t)rd32(cw + 60); c->rope_theta = rdf(cw + 64); c->rms_eps = rdf(cw + 68);
  if (c->n_layers < 1 || c->n_layers > MOE_MAX_LAYERS || c->d_model < 1 || c->n_heads < 1 || c->n_kv_heads < 1 ||
      c->n_heads % c->n_kv_heads || c->head_dim < 2 || c->head_dim % 2 || c->vocab < 1 || c->n_experts < 1 ||
      c->top_k < 1 || c->top_k > c->n_experts || c->d_ff_expert < 1 || c->d_ff_shared < 0 || c->max_seq < 1 ||
      c->expert_quant < 0 || c->expert_quant > 2 || (c->expert_quant == 2 && c->d_ff_expert % 2) ||
      (c->expert_quant == 2 && c->d_model % 2) || !(c->rms_eps > 0) || !(c->rope_theta > 0) ||
      c->d_model > (1 << 16) || c->vocab > (1 << 22) || c->n_experts > 4096 || c->d_ff_expert > (1 << 20) ||
      c->n_heads > (1 << 16) || c->head_dim > (1 << 16) || c->d_ff_shared > (1 << 20))
    return fail(m, ESDK_ERR_FORMAT, "artifact: invalid model configuration", 0);
  /* every tensor: in bounds, 16-byte aligned, CRC */
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *e = d + ART_HDR + 4 * ART_CFG_WORDS + (size_t)i * ART_ENTRY;
    uint64_t off = rd64(e + 32), nb = rd32(e + 40);
    if (off % 16 || off < hdr_end || off > size || nb > size - off)
      return fail(m, ESDK_ERR_TRUNCATED, "artifact: tensor data out of bounds (truncated file?)", 0);
    if (esdk_moe_crc32(d + off, nb) != rd32(e + 44)) {
      char nm[33];
      memcpy(nm, e, 32);
      nm[32] = 0;
      return fail(m, ESDK_ERR_CHECKSUM, "artifact: checksum mismatch in tensor ", nm);
    }
  }
  m->data = d;
  m->size = size;
  esdk_status st = ESDK_OK;
  const uint64_t D = c->d_model, H = c->n_heads, KV = c->n_kv_heads, hd = c->head_dim, E = c->n_experts;
  const uint64_t S = c->d_ff_shared;
  m->tok_emb = find_tensor(m, "tok_emb", (uint64_t)c->vocab * D, 1, &st);
  m->norm = find_tensor(m, "norm", D, 1, &st);
  m->lm_head = c->tie_embeddings ? m->tok_emb : find_tensor(m, "lm_head", (uint64_t)c->vocab * D, 1, &st);
  for (int l = 0; l < c->n_layers && st == ESDK_OK; l++) {
    char nm[32];
    moe_layer *L = &m->L[l];
#define T(field, suffix, count, req)                \
  do {                                              \
    layer_name(nm, l, suffix);                      \
    L->field = find_tensor(m, nm, (count), (req), &st); \
  } while (0)
    T(attn_norm, "attn_norm", D, 1);
    T(wq, "wq", H * hd * D, 1);
    T(wk, "wk", KV * hd * D, 1);
    T(wv, "wv", KV * hd * D, 1);
    T(wo, "wo", D * H * hd, 1);
    T(bq, "bq", H * hd, 0);
    T(bk, "bk", KV * hd, 0);
    T(bv, "bv", KV * hd, 0);
    layer_name(nm, l, "q_norm");
    L->q_norm_len = (int32_t)qk_norm_floats(m, nm, H * hd, hd);
    T(q_norm, "q_norm", L->q_norm_len, 0);
    layer_name(nm, l, "k_norm");
    L->k_norm_len = (int32_t)qk_norm_floats(m, nm, KV * hd, hd);
    T(k_norm, "k_norm", L->k_norm_len, 0);
    T(ffn_norm, "ffn_norm", D, 1);
    T(router, "router", E * D, 1);
    if (S) {
      T(sh_gate, "sh_gate", S * D, 1);
      T(sh_up, "sh_up", S * D, 1);
      T(sh_down, "sh_down", D * S, 1);
      if (c->shared_gate) T(sh_g, "sh_g", D, 1);
    }
#undef T
  }
  if (st != ESDK_OK) return st;
  /* expert record layout (docs/moe.md): gate [F x D], up [F x D], down [D x F]; per matrix
     f32 row scales, then rows at a 64-byte boundary; each matrix padded to 4 KiB. */
  const int32_t rows[3] = {c->d_ff_expert, c->d_ff_expert, c->d_model};
  const int32_t cols[3] = {c->d_model, c->d_model, c->d_ff_expert};
  uint64_t off = 0;
  for (int i = 0; i < 3; i++) {
    uint64_t rb = c->expert_quant == 0 ? (uint64_t)cols[i] * 4 : c->expert_quant == 1 ? (uint64_t)cols[i] : (uint64_t)cols[i] / 2;
    m->mat_rows[i] = rows[i];
    m->mat_cols[i] = cols[i];
    m->row_bytes[i] = rb;
    m->mat_off[i] = off;
    m->mat_data[i] = align_up((uint64_t)rows[i] * 4, 64);
    off += align_up(m->mat_data[i] + rb * (uint64_t)rows[i], MOE_PAGE);
  }
  m->stride = off;
  m->loaded = 1;
  esdk_moe_set_kernels(m, -1);
  m->decay = 0.95f;
  m->prefetch_on = 1;
  m->lookahead = c->pre_router ? 0 : 1;
  return ESDK_OK;
}

esdk_status esdk_moe_get_config(const esdk_moe *m, esdk_moe_config *cfg) {
  if (!m || !cfg || !m->loaded) return ESDK_ERR_STATE;
  *cfg = m->c;
  return ESDK_OK;
}
uint64_t esdk_moe_expert_bytes(const esdk_moe *m) { return m && m->loaded ? m->stride : 0; }

/* ---------------------------------------------------------------- arena */
/* offsets in uint64_t: the sizes are checked to fit size_t (esdk_moe_arena_size) before any
   pointer is made from them */
static uint64_t carve(uint8_t *base, uint64_t *off, uint64_t bytes, void **out) {
  uint64_t o = align_up(*off, 64);
  if (out) *out = base ? base + (size_t)o : NULL;
  *off = o + bytes;
  return *off;
}

static uint64_t layout(esdk_moe *m, uint8_t *base, int32_t max_seq) {
  const esdk_moe_config *c = &m->c;
  uint64_t off = 0, D = (uint64_t)c->d_model, hd = (uint64_t)c->head_dim, E = (uint64_t)c->n_experts;
  uint64_t QD = (uint64_t)c->n_heads * hd, KD = (uint64_t)c->n_kv_heads * hd, L = (uint64_t)c->n_layers, K = (uint64_t)c->top_k;
  uint64_t F = (uint64_t)(c->d_ff_expert > c->d_ff_shared ? c->d_ff_expert : c->d_ff_shared);
  uint64_t S = (uint64_t)max_seq, f = sizeof(float);
  void *p;
#define C(field, bytes) carve(base, &off, (bytes), &p); m->field = p
  C(x, D * f); C(xn, D * f); C(hn, D * f); C(pn, D * f); C(q, QD * f); C(k, KD * f); C(v, KD * f);
  C(ao, QD * f); C(att, S * f); C(g, F * f); C(u, F * f); C(eo, D * f); C(eok, K * D * f); C(todo, K); C(acc, D * f); C(rl, E * f); C(pl, E * f);
  C(logits, (uint64_t)c->vocab * f); C(tokw, (uint64_t)c->vocab * sizeof(double)); C(rc, hd / 2 * f); C(rs, hd / 2 * f);
  C(kc, L * S * KD * f); C(vc, L * S * KD * f);
  C(route, L * K * 4); C(route_w, K * f); C(pred, L * E * 4); C(npred, L * 4); C(order, E * 4);
  C(xslot, L * E * 4); C(freq, L * E * f); C(freq_t, L * E * 4); C(verified, L * E); C(is_pred, L * E);
  C(xtab, L * E * sizeof(moe_xentry));
  const uint64_t B = S < MOE_PREFILL_BLOCK ? S : MOE_PREFILL_BLOCK;
  C(bx, B * D * f); C(bhn, B * D * f); C(beok, B * K * D * f); C(bw, B * K * f); C(broute, B * K * 4); C(bused, E * 4); C(bstate, E);
  m->pblock = (int32_t)B;
#undef C
  return off;
}

size_t esdk_moe_arena_size(const esdk_moe *m, int32_t max_seq) {
  if (!m || !m->loaded || max_seq < 1) return 0;
  /* the KV cache grows with max_seq; the rest is bounded by the config checks (< 2^40 bytes):
     0 when the arena would not fit size_t */
  const uint64_t kv_per_token = 2 * (uint64_t)m->c.n_layers * (uint64_t)m->c.n_kv_heads * (uint64_t)m->c.head_dim * 4;
  if ((uint64_t)max_seq > (UINT64_MAX / 4) / kv_per_token) return 0;
  esdk_moe tmp;
  memcpy(&tmp.c, &m->c, sizeof m->c);
  uint64_t n = layout(&tmp, NULL, max_seq) + 64;
  return n > SIZE_MAX ? 0 : (size_t)n;
}

esdk_status esdk_moe_set_arena(esdk_moe *m, void *arena, size_t size, int32_t max_seq) {
  if (!m || !m->loaded) return ESDK_ERR_STATE;
  if (!arena || (uintptr_t)arena % 64 || max_seq < 1) return fail(m, ESDK_ERR_ARG, "arena must be 64-byte aligned, max_seq >= 1", 0);
  if (m->io_running) return fail(m, ESDK_ERR_STATE, "cannot change the arena while the I/O thread runs", 0);
  const size_t need = esdk_moe_arena_size(m, max_seq);
  if (!need) return fail(m, ESDK_ERR_ARENA, "arena size overflows: max_seq too large for this model", 0);
  if (size < need) return fail(m, ESDK_ERR_ARENA, "arena too small", 0);
  memset(arena, 0, need);
  m->arena = (uint8_t *)arena;
  layout(m, m->arena, max_seq);
  m->max_seq = max_seq;
  m->pos = 0;
  size_t LE = (size_t)m->c.n_layers * (size_t)m->c.n_experts;
  for (size_t i = 0; i < LE; i++) m->xslot[i] = -1;
  m->arena_set = 1;
  m->have_bundle = 0;
  m->xmem = NULL;
  m->cmem = NULL;
  return ESDK_OK;
}

/* ---------------------------------------------------------------- bundle */
#define BUNDLE_HDR 64

size_t esdk_moe_bundle_header_size(const void *first64) {
  const uint8_t *h = (const uint8_t *)first64;
  if (!h || memcmp(h, "ESDKMOEX", 8) != 0) return 0;
  return (size_t)rd64(h + 40); /* data_offset: header + table, 4 KiB aligned */
}

esdk_status esdk_moe_set_bundle(esdk_moe *m, const void *header, size_t size, uint64_t file_size) {
  if (!m || !m->arena_set) return ESDK_ERR_STATE;
  const uint8_t *h = (const uint8_t *)header;
  const esdk_moe_config *c = &m->c;
  if (!h || size < BUNDLE_HDR) return fail(m, ESDK_ERR_TRUNCATED, "expert bundle: shorter than its header", 0);
  if (memcmp(h, "ESDKMOEX", 8) != 0) return fail(m, ESDK_ERR_FORMAT, "not an edge-sdk expert bundle (bad magic)", 0);
  if (rd32(h + 8) != 1) return fail(m, ESDK_ERR_VERSION, "expert bundle: unsupported version", 0);
  if ((int32_t)rd32(h + 12) != c->n_layers || (int32_t)rd32(h + 16) != c->n_experts || (int32_t)rd32(h + 20) != c->d_model ||
      (int32_t)rd32(h + 24) != c->d_ff_expert || (int32_t)rd32(h + 28) != c->expert_quant)
    return fail(m, ESDK_ERR_FORMAT, "expert bundle does not belong to this model (shape or quantization differ)", 0);
  uint64_t stride = rd64(h + 32), data_off = rd64(h + 40), declared = rd64(h + 48);
  size_t LE = (size_t)c->n_layers * (size_t)c->n_experts;
  if (stride != m->stride || data_off % MOE_PAGE || data_off < BUNDLE_HDR + LE * 16)
    return fail(m, ESDK_ERR_FORMAT, "expert bundle: bad layout (stride or data offset)", 0);
  if (size < data_off) return fail(m, ESDK_ERR_TRUNCATED, "expert bundle: header truncated", 0);
  uint32_t crc = esdk_moe_crc32(h, 56);
  crc = esdk_moe_crc32(h + BUNDLE_HDR, LE * 16) ^ crc;
  if (crc != rd32(h + 56)) return fail(m, ESDK_ERR_CHECKSUM, "expert bundle: header checksum mismatch (corrupted file?)", 0);
  if (file_size < declared) return fail(m, ESDK_ERR_TRUNCATED, "expert bundle is truncated (file shorter than its header says)", 0);
  for (size_t i = 0; i < LE; i++) {
    const uint8_t *e = h + BUNDLE_HDR + i * 16;
    m->xtab[i].offset = rd64(e);
    m->xtab[i].crc = rd32(e + 8);
    if (m->xtab[i].offset % MOE_PAGE || m->xtab[i].offset < data_off || m->xtab[i].offset > declared ||
        stride > declared - m->xtab[i].offset) /* not offset + stride > declared: that sum can wrap */
      return fail(m, ESDK_ERR_FORMAT, "expert bundle: expert offset out of bounds", 0);
    m->verified[i] = 0;
    m->xslot[i] = -1;
  }
  m->data_off = data_off;
  m->file_size = declared;
  m->have_bundle = 1;
  return ESDK_OK;
}

esdk_status esdk_moe_set_expert_memory(esdk_moe *m, const void *bundle, size_t size) {
  if (!m || !m->have_bundle) return ESDK_ERR_STATE;
  if (!bundle || size < m->file_size) return fail(m, ESDK_ERR_TRUNCATED, "expert bundle is truncated (memory shorter than its header says)", 0);
  m->xmem = (const uint8_t *)bundle;
  m->xmem_size = size;
  m->cmem = NULL;
  return ESDK_OK;
}

esdk_status esdk_moe_cache_init(esdk_moe *m, void *mem, size_t bytes, int32_t policy, float decay) {
  if (!m || !m->have_bundle) return fail(m, ESDK_ERR_STATE, "set the expert bundle before the cache", 0);
  if (m->io_running) return fail(m, ESDK_ERR_STATE, "cannot change the cache while the I/O thread runs", 0);
  if (!mem || (uintptr_t)mem % MOE_PAGE) return fail(m, ESDK_ERR_ARG, "expert cache memory must be 4096-byte aligned", 0);
  if (policy < 0 || policy > 2 || !(decay > 0.0f && decay <= 1.0f))
    return fail(m, ESDK_ERR_ARG, "cache policy must be 0 (lru), 1 (lfu-decay) or 2 (lfu-quota), decay in (0, 1]", 0);
  size_t per = (size_t)m->stride + sizeof(moe_slot) + sizeof(int32_t);
  size_t n = (bytes > 256 ? bytes - 256 : 0) / per;
  if (n < (size_t)m->c.top_k + 1)
    return fail(m, ESDK_ERR_ARENA, "expert cache too small: it must hold at least top_k + 1 experts", 0);
  size_t LE = (size_t)m->c.n_layers * (size_t)m->c.n_experts;
  if (n > LE) n = LE;
  m->cmem = (uint8_t *)mem;
  m->n_slots = (int32_t)n;
  m->slots = (moe_slot *)(void *)(m->cmem + align_up(n * m->stride, 64));
  m->queue = (int32_t *)(void *)(m->slots + n);
  for (size_t i = 0; i < n; i++) { m->slots[i].key = -1; m->slots[i].state = SLOT_EMPTY; m->slots[i].pins = 0; m->slots[i].last = 0; }
  for (size_t i = 0; i < LE; i++) m->xslot[i] = -1;
  m->q_head = m->q_len = m->q_busy = 0;
  m->policy = policy;
  m->decay = decay;
  m->xmem = NULL;
  return ESDK_OK;
}
int32_t esdk_moe_cache_slots(const esdk_moe *m) { return m ? m->n_slots : 0; }

esdk_status esdk_moe_set_lookahead(esdk_moe *m, int32_t layers, int32_t idle_only) {
  if (!m || layers < 0 || layers > 3) return ESDK_ERR_ARG;
  m->lookahead = layers;
  m->idle_only = idle_only ? 1 : 0;
  return ESDK_OK;
}

esdk_status esdk_moe_set_cache_routing(esdk_moe *m, float bias) {
  if (!m) return ESDK_ERR_ARG;
  if (!(bias >= 0.0f && bias <= 1.0f)) return fail(m, ESDK_ERR_ARG, "cache routing bias must be in [0, 1]", 0);
  m->cache_bias = bias;
  return ESDK_OK;
}

esdk_status esdk_moe_set_prefetch(esdk_moe *m, int32_t on, int32_t extra) {
  if (!m || extra < 0) return ESDK_ERR_ARG;
  m->prefetch_on = on ? 1 : 0;
  m->prefetch_extra = extra;

  return ESDK_OK;
}

/* ---------------------------------------------------------------- cache (lock held) */
static float score_of(const esdk_moe *m, int32_t key) {
  uint32_t dt = m->ttick - m->freq_t[key];
  return m->freq[key] * powf(m->decay, (float)dt);
}

static void touch(esdk_moe *m, int32_t key) {
  m->freq[key] = score_of(m, key) + 1.0f;
  m->freq_t[key] = m->ttick;
}

/* lfu-quota: the layer that the victim must come from. Every layer uses top_k experts per
   token, so each has an equal share of the cache: the layer holding the most slots (the layer
   of `key` counts `pending` more: its routed experts that have no slot yet); on a tie, the layer
   whose next use is farthest ahead ((j - l) mod n_layers layer-steps, 0 counting as n_layers:
   the layer being read, then the layers just computed). Only layers with an evictable slot
   compete. -1 if none. (edge_sdk/moe/policies.py: Quota, the offline model of this rule.) */
static int32_t quota_layer(const esdk_moe *m, int allow_pred, int32_t key, int32_t pending) {
  const int32_t E = m->c.n_experts, L = m->c.n_layers, l = key / E;
  int32_t cnt[MOE_MAX_LAYERS];
  uint8_t open[MOE_MAX_LAYERS];
  for (int32_t j = 0; j < L; j++) { cnt[j] = 0; open[j] = 0; }
  for (int32_t i = 0; i < m->n_slots; i++) {
    const moe_slot *s = &m->slots[i];
    if (s->key < 0 || s->state == SLOT_ERROR) continue;
    cnt[s->key / E]++;
    if (!s->pins && s->state == SLOT_READY && (allow_pred || !m->is_pred[s->key])) open[s->key / E] = 1;
  }
  cnt[l] += pending;
  int32_t best = -1, bc = 0, bd = 0;
  for (int32_t j = 0; j < L; j++) {
    if (!open[j]) continue;
    int32_t d = ((j - l) % L + L) % L;
    if (d == 0) d = L;
    if (best < 0 || cnt[j] > bc || (cnt[j] == bc && d > bd)) { best = j; bc = cnt[j]; bd = d; }
  }
  return best;
}

/* The slot to read `key` into: an empty one, else the unpinned, not-in-flight slot with the
   lowest score (LRU: 0 for all, LFU: decayed use count; LRU breaks ties), within the quota
   layer for lfu-quota. Experts asked for ahead of use (is_pred) only when allow_pred. */
static int32_t victim(esdk_moe *m, int allow_pred, int32_t key, int32_t pending) {
  int32_t best = -1, layer = -1;
  float bs = 0;
  for (int32_t i = 0; i < m->n_slots; i++) {
    moe_slot *s = &m->slots[i];
    if (s->pins || s->state == SLOT_LOADING) continue;
    if (s->state == SLOT_EMPTY || s->state == SLOT_ERROR) return i;
  }
  if (m->policy == 2) {
    layer = quota_layer(m, allow_pred, key, pending);
    if (layer < 0) return -1;
  }
  for (int32_t i = 0; i < m->n_slots; i++) {
    moe_slot *s = &m->slots[i];
    if (s->pins || s->state != SLOT_READY) continue;
    if (!allow_pred && m->is_pred[s->key]) continue; /* asked for by the layer about to run */
    if (layer >= 0 && s->key / m->c.n_experts != layer) continue;
    float sc = m->policy >= 1 ? score_of(m, s->key) : 0.0f;
    if (best < 0 || sc < bs || (sc == bs && (int32_t)(s->last - m->slots[best].last) < 0)) { best = i; bs = sc; }
  }
  return best;
}

static void enqueue(esdk_moe *m, int32_t slot, int front) {
  int32_t cap = m->n_slots;
  if (front) {
    m->q_head = (m->q_head + cap - 1) % cap;
    m->queue[m->q_head] = slot;
  } else {
    m->queue[(m->q_head + m->q_len) % cap] = slot;
  }
  m->q_len++;
}

static void promote(esdk_moe *m, int32_t slot) {
  int32_t cap = m->n_slots;
  for (int32_t i = 0; i < m->q_len; i++) {
    int32_t idx = (m->q_head + i) % cap;
    if (m->queue[idx] != slot) continue;
    for (int32_t j = i; j > 0; j--) m->queue[(m->q_head + j) % cap] = m->queue[(m->q_head + j - 1) % cap];
    m->queue[m->q_head] = slot;
    return;
  }
}

static int in_list(const int32_t *list, int32_t n, int32_t v) {
  for (int32_t i = 0; i < n; i++) if (list[i] == v) return 1;
  return 0;
}
static int in_list_u8(const uint8_t *list, int32_t n, uint8_t v) {
  for (int32_t i = 0; i < n; i++) if (list[i] == v) return 1;
  return 0;
}

/* Drop queued (not yet started) reads of layer l's experts that are not in keep[0..n): a
   prediction that the layer's actual routing, or a newer prediction, has overruled. The slot
   is freed, so the read costs no bandwidth. */
static void cancel_stale(esdk_moe *m, int32_t l, const int32_t *keep, int32_t n) {
  const int32_t E = m->c.n_experts, cap = m->n_slots;
  int32_t w = 0;
  for (int32_t i = 0; i < m->q_len; i++) {
    int32_t s = m->queue[(m->q_head + i) % cap], key = m->slots[s].key;
    if (key / E == l && !in_list(keep, n, key % E) && m->slots[s].pins == 0) {
      m->xslot[key] = -1;
      m->is_pred[key] = 0;
      m->slots[s].key = -1;
      m->slots[s].state = SLOT_EMPTY;
      m->st.prefetch_cancelled++;
      continue;
    }
    m->queue[(m->q_head + w++) % cap] = s;
  }
  m->q_len = w;
}

/* Make `key` present or in flight. prio 0: a prediction (back of the queue); 1: known to be
   needed, ahead of use (pre-attention router; front); 2: demand at use (front, pinned, and
   promoted if it was queued behind others). */
static esdk_status request(esdk_moe *m, int32_t key, int prio) {
  int32_t s = m->xslot[key];
  if (prio == 2) touch(m, key);
  if (s >= 0) {
    if (prio == 2) {
      if (m->slots[s].state == SLOT_LOADING) promote(m, s);
      m->slots[s].pins++;
      m->slots[s].last = ++m->clock;
    } else if (prio == 1 && m->slots[s].state == SLOT_LOADING) {
      promote(m, s);
    }
    return ESDK_OK;
  }
  int32_t pending = 1; /* for lfu-quota: this key's layer's routed experts without a slot */
  if (m->policy == 2 && prio > 0) {
    const int32_t E = m->c.n_experts, K = m->c.top_k, l = key / E;
    const int32_t *r = m->route + (size_t)l * K;
    pending = 0;
    for (int32_t j = 0; j < K; j++) pending += m->xslot[l * E + r[j]] < 0;
    if (pending < 1) pending = 1;
  }
  s = victim(m, 0, key, pending);
  if (s < 0 && prio == 2) s = victim(m, 1, key, pending);
  if (s < 0) {
    if (prio < 2) { m->st.prefetch_dropped++; return ESDK_OK; }
    return fail(m, ESDK_ERR_ARENA, "expert cache too small: every slot is in use", 0);
  }
  if (m->slots[s].key >= 0) { m->xslot[m->slots[s].key] = -1; m->st.evictions++; }
  m->slots[s].key = key;
  m->slots[s].state = SLOT_LOADING;
  m->slots[s].last = ++m->clock;
  m->slots[s].tick = m->ttick;
  m->slots[s].demand = prio == 2;
  m->xslot[key] = s;
  if (prio == 2) m->slots[s].pins++;
  enqueue(m, s, prio > 0);
  moe_kick_io(m);
  return ESDK_OK;
}

static esdk_status io_failure(esdk_moe *m) {
  size_t n = 0;
  for (; m->io_err[n] && n < sizeof m->err - 1; n++) m->err[n] = m->io_err[n];
  m->err[n] = 0;
  return m->io_status ? m->io_status : ESDK_ERR_TRUNCATED;
}

/* resident / mmap: the expert in place, its CRC checked on first use */
static esdk_status in_memory(esdk_moe *m, int32_t key, const uint8_t **out) {
  const uint8_t *p = m->xmem + m->xtab[key].offset;
  if (!m->verified[key]) {
    double t0 = moe_now();
    if (esdk_moe_crc32(p, m->stride) != m->xtab[key].crc) {
      char msg[64];
      int l = key / m->c.n_experts, e = key % m->c.n_experts, n = 0;
      const char *pre = "layer ";
      while (*pre) msg[n++] = *pre++;
      if (l >= 100) msg[n++] = (char)('0' + l / 100);
      if (l >= 10) msg[n++] = (char)('0' + (l / 10) % 10);
      msg[n++] = (char)('0' + l % 10);
      pre = " expert ";
      while (*pre) msg[n++] = *pre++;
      if (e >= 1000) msg[n++] = (char)('0' + (e / 1000) % 10);
      if (e >= 100) msg[n++] = (char)('0' + (e / 100) % 10);
      if (e >= 10) msg[n++] = (char)('0' + (e / 10) % 10);
      msg[n++] = (char)('0' + e % 10);
      msg[n] = 0;
      return fail(m, ESDK_ERR_CHECKSUM, "expert bundle: checksum mismatch (corrupted file?) at ", msg);
    }
    m->verified[key] = 1;
    m->st.io_s += moe_now() - t0;
  }
  m->st.expert_uses++;
  m->st.hits++;
  m->st.reused++;
  *out = p;
  return ESDK_OK;
}

/* Of layer l's experts ids[0..n) that are asked for and not yet computed (todo[j] == 1), the first
   that is ready; if none is, wait (a stall) until one is. `since`: when the caller began waiting
   for this expert already (0: it did not). Statistics are counted here, when the kernel needs the
   expert: a hit is an expert ready without waiting. */
static esdk_status take_ready(esdk_moe *m, int32_t l, const int32_t *ids, const uint8_t *todo, int32_t n,
                              double since, int32_t *jout, const uint8_t **out) {
  const int32_t E = m->c.n_experts;
  int waited = since > 0.0;
  double t0 = since;
  for (;;) {
    if (m->io_failed) return io_failure(m);
    for (int32_t j = 0; j < n; j++) {
      if (todo[j] != 1) continue;
      int32_t s = m->xslot[l * E + ids[j]];
      if (s < 0) return fail(m, ESDK_ERR_STATE, "internal: expert not requested", 0);
      if (m->slots[s].state == SLOT_ERROR) return io_failure(m);
      if (m->slots[s].state != SLOT_READY) continue;
      m->st.expert_uses++;
      if (waited) {
        m->st.stalls++;
        m->st.stall_s += moe_now() - t0;
        if (m->slots[s].demand) m->st.misses++; else m->st.late++;
      } else {
        m->st.hits++;
      }
      if (m->slots[s].tick != m->ttick) m->st.reused++;
      *jout = j;
      *out = m->cmem + (size_t)s * m->stride;
      return ESDK_OK;
    }
    if (!waited) { waited = 1; t0 = moe_now(); }
    moe_wait_done(m);
  }
}

/* more uses of an expert in memory, after its first (counted by take_ready / in_memory): a prefill
   block computes it for all of its tokens at once, so they are hits without a read */
static void count_more_uses(esdk_moe *m, int32_t more) {
  m->st.expert_uses += (uint64_t)more;
  m->st.hits += (uint64_t)more;
  m->st.reused += (uint64_t)more;
}

static void release(esdk_moe *m, int32_t key) {
  if (m->xmem) return;
  int32_t s = m->xslot[key];
  if (s >= 0 && m->slots[s].pins > 0) m->slots[s].pins--;
}

/* ---------------------------------------------------------------- math */
static void rmsnorm(float *y, const float *x, const float *w, int32_t n, float eps) {
  float ss = 0.0f;
  for (int32_t i = 0; i < n; i++) ss += x[i] * x[i];
  float r = 1.0f / sqrtf(ss / (float)n + eps);
  for (int32_t i = 0; i < n; i++) y[i] = x[i] * r * w[i];
}

static float dot8(const float *a, const float *b, int32_t n) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int32_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
  float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; i < n; i++) t += a[i] * b[i];
  return t;
}

static void matvec(float *y, const float *W, const float *x, int32_t rows, int32_t cols) {
  for (int32_t r = 0; r < rows; r++) y[r] = dot8(W + (size_t)r * cols, x, cols);
}

/* one expert matrix from a record: y = diag(scale) * Q * x (kernels: xmatvec.h) */
static void xmatvec(const esdk_moe *m, int mat, const uint8_t *rec, const float *x, float *y) {
  const uint8_t *base = rec + m->mat_off[mat];
  m->xmv((const uint8_t *)base + m->mat_data[mat], (size_t)m->row_bytes[mat], (const float *)(const void *)base, x, y,
         m->mat_rows[mat], m->mat_cols[mat]);
}

/* ---------------------------------------------------------------- kernel choice */
#ifdef ESDK_MOE_X86
static int cpu_avx2(void) {
  __builtin_cpu_init(); /* libgcc: CPU flag and OS-saved ymm state */
  return __builtin_cpu_supports("avx2");
}
#endif

/* isa: -1 the best this build and CPU have, 0 scalar, 1 AVX2 (x86-64, when the CPU has it),
   2 NEON (aarch64 builds, always). NULL when that ISA is not available here. */
static moe_xmatvec_fn pick_kernel(int32_t quant, int32_t isa, const char **name) {
  static const moe_xmatvec_fn scalar[3] = {esdk_moe_xmatvec_f32_scalar, esdk_moe_xmatvec_i8_scalar, esdk_moe_xmatvec_i4_scalar};
  if (quant < 0 || quant > 2 || isa < -1 || isa > 2) return NULL;
#ifdef ESDK_MOE_X86
  static const moe_xmatvec_fn avx2[3] = {esdk_moe_xmatvec_f32_4x8_avx2, esdk_moe_xmatvec_i8_4x8_avx2, esdk_moe_xmatvec_i4_4x8_avx2};
  if ((isa == -1 || isa == 1) && cpu_avx2()) {
    if (name) *name = "avx2";
    return avx2[quant];
  }
#endif
#ifdef ESDK_MOE_NEON
  static const moe_xmatvec_fn neon[3] = {esdk_moe_xmatvec_f32_4x8_neon, esdk_moe_xmatvec_i8_4x8_neon, esdk_moe_xmatvec_i4_4x8_neon};
  if (isa == -1 || isa == 2) {
    if (name) *name = "neon";
    return neon[quant];
  }
#endif
  if (isa > 0) return NULL;
  if (name) *name = "scalar";
  return scalar[quant];
}

esdk_status esdk_moe_set_kernels(esdk_moe *m, int32_t isa) {
  if (!m || !m->loaded) return ESDK_ERR_STATE;
  const char *name = "scalar";
  moe_xmatvec_fn f = pick_kernel(m->c.expert_quant, isa, &name);
  if (!f) return isa == 1   ? fail(m, ESDK_ERR_UNSUPPORTED, "expert kernels: this CPU or build has no AVX2", 0)
                 : isa == 2 ? fail(m, ESDK_ERR_UNSUPPORTED, "expert kernels: NEON needs an aarch64 build", 0)
                            : fail(m, ESDK_ERR_ARG, "expert kernels: isa must be -1 (best), 0 (scalar), 1 (avx2) or 2 (neon)", 0);
  m->xmv = f;
  m->kname = name;
  return ESDK_OK;
}
const char *esdk_moe_kernels(const esdk_moe *m) { return m && m->loaded ? m->kname : ""; }

esdk_status esdk_moe_expert_matvec(int32_t quant, int32_t isa, const void *rows, size_t row_bytes, const float *scale,
                                   const float *x, float *y, int32_t n_rows, int32_t n_cols) {
  if (!rows || !scale || !x || !y || n_rows < 0 || n_cols < 0 || (quant == 2 && n_cols % 2)) return ESDK_ERR_ARG;
  moe_xmatvec_fn f = pick_kernel(quant, isa, NULL);
  if (!f) return quant >= 0 && quant <= 2 && (isa == 1 || isa == 2) ? ESDK_ERR_UNSUPPORTED : ESDK_ERR_ARG;
  f((const uint8_t *)rows, row_bytes, scale, x, y, n_rows, n_cols);
  return ESDK_OK;
}

static float silu(float v) { return v / (1.0f + expf(-v)); }

static void softmax(float *x, int32_t n) {
  float mx = x[0];
  for (int32_t i = 1; i < n; i++) if (x[i] > mx) mx = x[i];
  float s = 0.0f;
  for (int32_t i = 0; i < n; i++) { x[i] = expf(x[i] - mx); s += x[i]; }
  for (int32_t i = 0; i < n; i++) x[i] /= s;
}

/* indices of the k largest (ties: lower index first), descending */
static void topk(const float *x, int32_t n, int32_t k, int32_t *idx) {
  for (int32_t j = 0; j < k; j++) {
    int32_t b = -1;
    for (int32_t i = 0; i < n; i++) {
      int taken = 0;
      for (int32_t t = 0; t < j; t++) if (idx[t] == i) { taken = 1; break; }
      if (!taken && (b < 0 || x[i] > x[b])) b = i;
    }
    idx[j] = b;
  }
}

static void rope(float *v, int32_t nh, int32_t hd, const float *cs, const float *sn) {
  int32_t h2 = hd / 2;
  for (int32_t h = 0; h < nh; h++) {
    float *p = v + (size_t)h * hd;
    for (int32_t i = 0; i < h2; i++) {
      float a = p[i], b = p[i + h2];
      p[i] = a * cs[i] - b * sn[i];
      p[i + h2] = b * cs[i] + a * sn[i];
    }
  }
}

/* router: softmax over all experts, top-k of the probabilities. With cache routing, the k are
   chosen over logit + bias * (logit range) for experts present or in flight in the cache (an
   expert is in the cache exactly when its key has a slot: set and cleared on this thread, so the
   choice does not depend on read timing), from the logits elsewhere; the weights stay the
   router's probabilities of the chosen experts. */
static void route(esdk_moe *m, int l, const float *hn, int32_t *idx, float *w) {
  const esdk_moe_config *c = &m->c;
  const int32_t E = c->n_experts, K = c->top_k;
  matvec(m->rl, m->L[l].router, hn, E, c->d_model);
  if (m->cache_bias > 0.0f && m->cmem) {
    float lo = m->rl[0], hi = m->rl[0];
    for (int32_t e = 1; e < E; e++) { lo = m->rl[e] < lo ? m->rl[e] : lo; hi = m->rl[e] > hi ? m->rl[e] : hi; }
    const float b = m->cache_bias * (hi - lo);
    moe_lock(m);
    for (int32_t e = 0; e < E; e++) {
      int32_t s = m->xslot[l * E + e];
      m->pl[e] = m->rl[e] + (s >= 0 && m->slots[s].state != SLOT_ERROR ? b : 0.0f);
    }
    moe_unlock(m);
    softmax(m->rl, E);
    topk(m->pl, E, K, idx);
    /* count the experts the bias brought in: chosen, but not in the router's own top-k */
    topk(m->rl, E, K, m->order);
    for (int32_t j = 0; j < K; j++) m->st.rerouted += (uint64_t)!in_list(m->order, K, idx[j]);
  } else {
    softmax(m->rl, E);
    topk(m->rl, E, K, idx);
  }
  float s = 0.0f;
  for (int32_t j = 0; j < K; j++) { w[j] = m->rl[idx[j]]; s += w[j]; }
  if (c->norm_topk)
    for (int32_t j = 0; j < K; j++) w[j] /= s;
}

/* predict layer l's experts from hidden state x: layer l's router on its own norm of x. A
   newer prediction for l replaces an older one (its queued reads that the new one drops are
   cancelled). */
static void predict(esdk_moe *m, int l, const float *x, int use_pre_norm) {
  const esdk_moe_config *c = &m->c;
  rmsnorm(m->pn, x, use_pre_norm ? m->L[l].attn_norm : m->L[l].ffn_norm, c->d_model, c->rms_eps);
  matvec(m->pl, m->L[l].router, m->pn, c->n_experts, c->d_model);
  int32_t n = c->top_k + m->prefetch_extra;
  if (n > c->n_experts) n = c->n_experts;
  int32_t *p = m->pred + (size_t)l * c->n_experts;
  topk(m->pl, c->n_experts, n, p);
  m->npred[l] = n;
  moe_lock(m);
  cancel_stale(m, l, p, n);
  for (int32_t e = 0; e < c->n_experts; e++) m->is_pred[l * c->n_experts + e] = 0;
  /* idle_only: speculate only into idle bandwidth (nothing queued or in flight), so a guess
     never delays a read that is known to be needed nor shares the disk with one */
  if (m->idle_only && (m->q_len > 0 || m->q_busy > 0)) n = 0;
  for (int32_t j = 0; j < n; j++) {
    int32_t key = l * c->n_experts + p[j];
    m->is_pred[key] = 1;
    request(m, key, 0);
  }
  moe_unlock(m);
}

/* prediction statistics for layer l against its actual routing idx (lock held) */
static void pred_stats(esdk_moe *m, int l, const int32_t *idx) {
  const int32_t E = m->c.n_experts, K = m->c.top_k;
  if (m->npred[l] <= 0) return;
  const int32_t *p = m->pred + (size_t)l * E;
  for (int32_t j = 0; j < m->npred[l]; j++) {
    int used = 0;
    for (int32_t t = 0; t < K; t++) used |= idx[t] == p[j];
    m->st.predicted++;
    m->st.predicted_used += (uint64_t)used;
  }
  m->st.predict_needed += (uint64_t)K;
  m->npred[l] = 0;
}

/* ---------------------------------------------------------------- decode */
esdk_status esdk_moe_reset(esdk_moe *m) {
  if (!m || !m->arena_set) return ESDK_ERR_STATE;
  m->pos = 0;
  return ESDK_OK;
}
int32_t esdk_moe_position(const esdk_moe *m) { return m ? m->pos : 0; }
const float *esdk_moe_logits(const esdk_moe *m) { return m && m->arena_set ? m->logits : NULL; }
const int32_t *esdk_moe_last_routing(const esdk_moe *m) { return m && m->arena_set ? m->route : NULL; }

/* Ask for layer l's routed experts (lock held). All of them are marked before any is asked
   for, so that reading one never evicts another (at prio 2 moe_ffn clears the marks once they
   are pinned). */
static esdk_status ask_layer(esdk_moe *m, int l, const int32_t *idx, int prio) {
  const int32_t E = m->c.n_experts, K = m->c.top_k;
  esdk_status st = ESDK_OK;
  for (int32_t j = 0; j < K; j++) m->is_pred[l * E + idx[j]] = 1;
  for (int32_t j = K - 1; j >= 0 && st == ESDK_OK; j--) st = request(m, l * E + idx[j], prio);
  return st;
}

/* Layer l's routing is known: count the prediction made for it, drop queued reads of its
   experts that it does not use, and ask for the ones it does (prio 1 ahead of use, 2 at use). */
static esdk_status routed(esdk_moe *m, int l, const int32_t *idx, int prio) {
  const int32_t E = m->c.n_experts;
  pred_stats(m, l, idx);
  cancel_stale(m, l, idx, m->c.top_k);
  for (int32_t e = 0; e < E; e++) m->is_pred[l * E + e] = 0;
  return ask_layer(m, l, idx, prio);
}

/* one routed expert on its input hn: eo = down(silu(gate hn) * up hn) */
static void expert_apply(esdk_moe *m, const uint8_t *rec, const float *hn, float *eo) {
  const int32_t F = m->c.d_ff_expert;
  xmatvec(m, 0, rec, hn, m->g);
  xmatvec(m, 1, rec, hn, m->u);
  for (int32_t i = 0; i < F; i++) m->g[i] = silu(m->g[i]) * m->u[i];
  xmatvec(m, 2, rec, m->g, eo);
}

/* x += the shared expert on hn (if any) + sum over j in router order of w[j] * eok[j] */
static void ffn_combine(esdk_moe *m, int l, const float *hn, const float *w, const float *eok, float *x) {
  const esdk_moe_config *c = &m->c;
  const int32_t D = c->d_model, K = c->top_k;
  const moe_layer *L = &m->L[l];
  for (int32_t i = 0; i < D; i++) m->acc[i] = 0.0f;
  if (c->d_ff_shared) {
    const int32_t S = c->d_ff_shared;
    matvec(m->g, L->sh_gate, hn, S, D);
    matvec(m->u, L->sh_up, hn, S, D);
    for (int32_t i = 0; i < S; i++) m->g[i] = silu(m->g[i]) * m->u[i];
    matvec(m->eo, L->sh_down, m->g, D, S);
    float gs = 1.0f;
    if (c->shared_gate) gs = 1.0f / (1.0f + expf(-dot8(L->sh_g, hn, D)));
    for (int32_t i = 0; i < D; i++) m->acc[i] += gs * m->eo[i];
  }
  for (int32_t j = 0; j < K; j++) {
    const float *eo = eok + (size_t)j * D;
    for (int32_t i = 0; i < D; i++) m->acc[i] += w[j] * eo[i];
  }
  for (int32_t i = 0; i < D; i++) x[i] += m->acc[i];
}

static esdk_status moe_ffn(esdk_moe *m, int l, const float *hn, const int32_t *idx, const float *w) {
  const esdk_moe_config *c = &m->c;
  const int32_t D = c->d_model, E = c->n_experts, K = c->top_k;
  esdk_status st = ESDK_OK;
  /* demand (pin) the routed experts, then predict the next layers */
  moe_lock(m);
  if (m->io_failed) { st = io_failure(m); moe_unlock(m); return st; }
  if (!m->xmem) {
    /* a pre-attention router's layer was counted (and with prefetch on, asked for) before attention */
    st = c->pre_router ? ask_layer(m, l, idx, 2) : routed(m, l, idx, 2);
    for (int32_t e = 0; e < E; e++) m->is_pred[l * E + e] = 0; /* pinned now */
  }
  moe_unlock(m);
  if (st != ESDK_OK) return st;
  /* the next `lookahead` layers' experts: their routers on the current hidden state (after this
     layer's attention; a pre-attention router reads its attention norm, so that norm is used),
     the nearest first (it is needed first); the next layer refines a farther guess, cancelling
     what it overrules */
  if (m->prefetch_on && !m->xmem)
    for (int32_t d = 1; d <= m->lookahead; d++)
      if (l + d < c->n_layers) predict(m, l + d, m->x, c->pre_router);
  /* experts in the order they become ready, each output kept, then summed in router order:
     the result does not depend on arrival order */
  uint8_t *todo = m->todo;
  for (int32_t j = 0; j < K; j++) todo[j] = 1;
  for (int32_t n = 0; n < K; n++) {
    const uint8_t *rec = NULL;
    int32_t j = n;
    if (m->xmem) {
      st = in_memory(m, l * E + idx[j], &rec);
    } else {
      moe_lock(m);
      st = take_ready(m, l, idx, todo, K, 0.0, &j, &rec);
      moe_unlock(m);
    }
    if (st != ESDK_OK) break;
    expert_apply(m, rec, hn, m->eok + (size_t)j * D);
    todo[j] = 0;
    moe_lock(m);
    release(m, l * E + idx[j]);
    moe_unlock(m);
  }
  if (st != ESDK_OK) {
    moe_lock(m);
    for (int32_t j = 0; j < K; j++) if (todo[j]) release(m, l * E + idx[j]);
    moe_unlock(m);
    return st;
  }
  ffn_combine(m, l, hn, w, m->eok, m->x);
  return ESDK_OK;
}

/* what esdk_moe_step and esdk_moe_prefill need besides the arena: expert memory, and for a cache its I/O thread */
static esdk_status experts_ready(esdk_moe *m) {
  if (!m->have_bundle || (!m->xmem && !m->cmem)) return fail(m, ESDK_ERR_STATE, "no expert memory: set the bundle and a cache or memory", 0);
  if (m->cmem && !m->io_running) return fail(m, ESDK_ERR_STATE, "expert cache without a running I/O thread (esdk_moe_io_open)", 0);
  return ESDK_OK;
}

/* logits of the hidden state in x (final norm, lm_head) */
static void final_logits(esdk_moe *m) {
  rmsnorm(m->xn, m->x, m->norm, m->c.d_model, m->c.rms_eps);
  matvec(m->logits, m->lm_head, m->xn, m->c.vocab, m->c.d_model);
}

/* n more positions computed: the KV cache and the statistics' token clock move on */
static void advance(esdk_moe *m, int32_t n) {
  m->pos += n;
  moe_lock(m);
  m->st.tokens += (uint64_t)n;
  m->ttick += (uint32_t)n;
  moe_unlock(m);
}

/* rotary angles of position pos into rc, rs */
static void rope_angles(esdk_moe *m, int32_t pos) {
  const int32_t hd = m->c.head_dim;
  for (int32_t i = 0; i < hd / 2; i++) {
    float inv = powf(m->c.rope_theta, -(float)(2 * i) / (float)hd);
    float a = (float)pos * inv;
    m->rc[i] = cosf(a);
    m->rs[i] = sinf(a);
  }
}

/* layer l's attention at position pos (rotary angles in rc, rs) on xn: K and V into the cache,
   x += the output projection, then hn = the FFN norm of x */
static void attend(esdk_moe *m, int l, int32_t pos) {
  const esdk_moe_config *c = &m->c;
  const moe_layer *L = &m->L[l];
  const int32_t D = c->d_model, hd = c->head_dim, H = c->n_heads, KV = c->n_kv_heads;
  const int32_t QD = H * hd, KD = KV * hd, grp = H / KV;
  matvec(m->q, L->wq, m->xn, QD, D);
  matvec(m->k, L->wk, m->xn, KD, D);
  matvec(m->v, L->wv, m->xn, KD, D);
  if (L->bq) for (int32_t i = 0; i < QD; i++) m->q[i] += L->bq[i];
  if (L->bk) for (int32_t i = 0; i < KD; i++) m->k[i] += L->bk[i];
  if (L->bv) for (int32_t i = 0; i < KD; i++) m->v[i] += L->bv[i];
  if (L->q_norm)
    for (int32_t i = 0; i < QD; i += L->q_norm_len) rmsnorm(m->q + i, m->q + i, L->q_norm, L->q_norm_len, c->rms_eps);
  if (L->k_norm)
    for (int32_t i = 0; i < KD; i += L->k_norm_len) rmsnorm(m->k + i, m->k + i, L->k_norm, L->k_norm_len, c->rms_eps);
  rope(m->q, H, hd, m->rc, m->rs);
  rope(m->k, KV, hd, m->rc, m->rs);
  float *kc = m->kc + ((size_t)l * m->max_seq) * KD, *vc = m->vc + ((size_t)l * m->max_seq) * KD;
  memcpy(kc + (size_t)pos * KD, m->k, (size_t)KD * sizeof(float));
  memcpy(vc + (size_t)pos * KD, m->v, (size_t)KD * sizeof(float));
  const float scale = 1.0f / sqrtf((float)hd);
  for (int32_t h = 0; h < H; h++) {
    const float *qh = m->q + (size_t)h * hd;
    int32_t kvh = h / grp;
    for (int32_t t = 0; t <= pos; t++) m->att[t] = dot8(qh, kc + (size_t)t * KD + (size_t)kvh * hd, hd) * scale;
    softmax(m->att, pos + 1);
    float *o = m->ao + (size_t)h * hd;
    for (int32_t i = 0; i < hd; i++) o[i] = 0.0f;
    for (int32_t t = 0; t <= pos; t++) {
      const float *vt = vc + (size_t)t * KD + (size_t)kvh * hd;
      float a = m->att[t];
      for (int32_t i = 0; i < hd; i++) o[i] += a * vt[i];
    }
  }
  matvec(m->eo, L->wo, m->ao, D, QD);
  for (int32_t i = 0; i < D; i++) m->x[i] += m->eo[i];
  rmsnorm(m->hn, m->x, L->ffn_norm, D, c->rms_eps);
}

esdk_status esdk_moe_step(esdk_moe *m, int32_t token) {
  if (!m || !m->arena_set) return ESDK_ERR_STATE;
  esdk_status ready = experts_ready(m);
  if (ready != ESDK_OK) return ready;
  const esdk_moe_config *c = &m->c;
  if (token < 0 || token >= c->vocab) return fail(m, ESDK_ERR_ARG, "token id out of range", 0);
  if (m->pos >= m->max_seq) return fail(m, ESDK_ERR_ARENA, "context full (max_seq tokens)", 0);
  const int32_t D = c->d_model, K = c->top_k;
  memcpy(m->x, m->tok_emb + (size_t)token * D, (size_t)D * sizeof(float));
  rope_angles(m, m->pos);
  for (int l = 0; l < c->n_layers; l++) {
    const moe_layer *L = &m->L[l];
    int32_t *idx = m->route + (size_t)l * K;
    rmsnorm(m->xn, m->x, L->attn_norm, D, c->rms_eps);
    if (c->pre_router) {
      /* SmallThinker: route from the layer input; the reads overlap attention */
      route(m, l, m->xn, idx, m->route_w);
      if (!m->xmem) {
        /* the layer's own routed experts, known before attention: read while attention runs
           (with prediction off they are read on demand, after attention) */
        moe_lock(m);
        esdk_status st = m->prefetch_on ? routed(m, l, idx, 1) : ESDK_OK;
        if (!m->prefetch_on) pred_stats(m, l, idx);
        moe_unlock(m);
        if (st != ESDK_OK) return st;
      }
    }
    attend(m, l, m->pos);
    if (!c->pre_router) route(m, l, m->hn, idx, m->route_w);
    esdk_status st = moe_ffn(m, l, m->hn, idx, m->route_w);
    if (st != ESDK_OK) return st;
  }
  final_logits(m);
  advance(m, 1);
  return ESDK_OK;
}

/* ---------------------------------------------------------------- prefill */
/* The experts layer l's block of n tokens is routed to (broute), in first-use order, into bused. */
static int32_t block_experts(esdk_moe *m, int32_t n) {
  const int32_t K = m->c.top_k;
  int32_t nu = 0;
  for (int32_t i = 0; i < n * K; i++)
    if (!in_list(m->bused, nu, m->broute[i])) m->bused[nu++] = m->broute[i];
  return nu;
}

/* the block's tokens routed to expert e: how many */
static int32_t block_uses(const esdk_moe *m, int32_t n, int32_t e) {
  const int32_t K = m->c.top_k;
  int32_t c = 0;
  for (int32_t i = 0; i < n * K; i++) c += m->broute[i] == e;
  return c;
}

/* expert e (record rec) on every token of the block routed to it, each output in its token's
   router slot of beok (the same call as moe_ffn makes for one token) */
static void block_apply(esdk_moe *m, int32_t n, int32_t e, const uint8_t *rec) {
  const int32_t D = m->c.d_model, K = m->c.top_k;
  for (int32_t t = 0; t < n; t++)
    for (int32_t j = 0; j < K; j++)
      if (m->broute[t * K + j] == e) expert_apply(m, rec, m->bhn + (size_t)t * D, m->beok + ((size_t)t * K + j) * D);
}

/* Pre-attention router, prediction on: ask for the block's experts of layer l before its
   attention, as far as slots allow (lock held). They are marked first, so that reading one never
   evicts another. */
static esdk_status block_prefetch(esdk_moe *m, int l, int32_t nu) {
  const int32_t E = m->c.n_experts;
  esdk_status st = ESDK_OK;
  cancel_stale(m, l, m->bused, nu);
  m->npred[l] = 0;
  for (int32_t u = 0; u < nu; u++) m->is_pred[l * E + m->bused[u]] = 1;
  for (int32_t u = 0; u < nu && st == ESDK_OK; u++) {
    int32_t key = l * E + m->bused[u];
    if (m->xslot[key] < 0 && victim(m, 0, key, 1) < 0) break;
    st = request(m, key, 1);
  }
  return st;
}

/* Ask for (and pin) the block's experts of layer l that are not asked yet, while a slot can be
   had (lock held). */
static esdk_status block_ask(esdk_moe *m, int l, int32_t nu) {
  const int32_t E = m->c.n_experts;
  for (int32_t u = 0; u < nu; u++) {
    if (m->bstate[u]) continue;
    int32_t key = l * E + m->bused[u];
    if (m->xslot[key] < 0 && victim(m, 1, key, 1) < 0) break;
    esdk_status st = request(m, key, 2);
    if (st != ESDK_OK) return st;
    m->bstate[u] = 1;
  }
  return ESDK_OK;
}

/* Layer l's routed experts for the block, streamed: each expert the block uses is pinned while
   it is computed for all its tokens, in the order the experts become ready (take_ready, as for
   one token); with fewer slots than experts the rest are asked for as slots free up. A hit is an
   expert ready without a wait; its uses after the first in the block are hits too. */
static esdk_status block_ffn_stream(esdk_moe *m, int l, int32_t n, int32_t nu) {
  const int32_t E = m->c.n_experts;
  esdk_status st = ESDK_OK;
  moe_lock(m);
  for (int32_t u = 0; u < nu; u++) { m->bstate[u] = 0; m->is_pred[l * E + m->bused[u]] = 1; }
  for (int32_t u = 0; u < nu && st == ESDK_OK; u++) /* pin those with a slot first: ready or in flight */
    if (m->xslot[l * E + m->bused[u]] >= 0) { st = request(m, l * E + m->bused[u], 2); m->bstate[u] = 1; }
  if (st == ESDK_OK) st = block_ask(m, l, nu);
  for (int32_t left = nu; st == ESDK_OK && left > 0; left--) {
    /* none asked for and pending: every slot is pinned or being read, so wait for a read to end */
    double since = 0.0;
    while (st == ESDK_OK && !in_list_u8(m->bstate, nu, 1)) {
      if (m->io_failed) { st = io_failure(m); break; }
      if (since == 0.0) since = moe_now();
      moe_wait_done(m);
      st = block_ask(m, l, nu);
    }
    int32_t u = 0;
    const uint8_t *rec = NULL;
    if (st == ESDK_OK) st = take_ready(m, l, m->bused, m->bstate, nu, since, &u, &rec);
    if (st != ESDK_OK) break;
    const int32_t e = m->bused[u], key = l * E + e, more = block_uses(m, n, e) - 1;
    count_more_uses(m, more);
    for (int32_t i = 0; i < more; i++) touch(m, key);
    moe_unlock(m);
    block_apply(m, n, e, rec);
    moe_lock(m);
    release(m, key);
    m->is_pred[key] = 0;
    m->bstate[u] = 2;
    st = block_ask(m, l, nu);
  }
  if (st != ESDK_OK)
    for (int32_t u = 0; u < nu; u++) if (m->bstate[u] == 1) release(m, l * E + m->bused[u]);
  for (int32_t e = 0; e < E; e++) m->is_pred[l * E + e] = 0;
  moe_unlock(m);
  return st;
}

/* Layer l's routed experts for the block, from memory holding the bundle (resident / mmap) */
static esdk_status block_ffn_memory(esdk_moe *m, int l, int32_t n, int32_t nu) {
  const int32_t E = m->c.n_experts;
  for (int32_t u = 0; u < nu; u++) {
    const uint8_t *rec = NULL;
    const int32_t e = m->bused[u], uses = block_uses(m, n, e);
    esdk_status st = in_memory(m, l * E + e, &rec);
    if (st != ESDK_OK) return st;
    count_more_uses(m, uses - 1);
    block_apply(m, n, e, rec);
  }
  return ESDK_OK;
}

/* n (<= pblock) tokens at positions pos.., layer by layer: per token the same calls as
   esdk_moe_step (norms, router, attention, and the FFN combine in router order), so each token's
   bits are the step's; each expert is computed for all of its tokens while it is in memory */
static esdk_status prefill_block(esdk_moe *m, const int32_t *tokens, int32_t n, int last) {
  const esdk_moe_config *c = &m->c;
  const int32_t D = c->d_model, K = c->top_k;
  const size_t row = (size_t)D * sizeof(float);
  for (int32_t t = 0; t < n; t++) memcpy(m->bx + (size_t)t * D, m->tok_emb + (size_t)tokens[t] * D, row);
  for (int l = 0; l < c->n_layers; l++) {
    const moe_layer *L = &m->L[l];
    int32_t nu = 0;
    if (c->pre_router) {
      for (int32_t t = 0; t < n; t++) {
        rmsnorm(m->xn, m->bx + (size_t)t * D, L->attn_norm, D, c->rms_eps);
        route(m, l, m->xn, m->broute + (size_t)t * K, m->bw + (size_t)t * K);
      }
      nu = block_experts(m, n);
      if (!m->xmem && m->prefetch_on) {
        moe_lock(m);
        esdk_status st = block_prefetch(m, l, nu);
        moe_unlock(m);
        if (st != ESDK_OK) return st;
      }
    }
    for (int32_t t = 0; t < n; t++) {
      memcpy(m->x, m->bx + (size_t)t * D, row);
      rmsnorm(m->xn, m->x, L->attn_norm, D, c->rms_eps);
      rope_angles(m, m->pos + t);
      attend(m, l, m->pos + t);
      if (!c->pre_router) route(m, l, m->hn, m->broute + (size_t)t * K, m->bw + (size_t)t * K);
      memcpy(m->bx + (size_t)t * D, m->x, row);
      memcpy(m->bhn + (size_t)t * D, m->hn, row);
    }
    if (!c->pre_router) nu = block_experts(m, n);
    m->npred[l] = 0;
    esdk_status st = m->xmem ? block_ffn_memory(m, l, n, nu) : block_ffn_stream(m, l, n, nu);
    if (st != ESDK_OK) return st;
    for (int32_t t = 0; t < n; t++)
      ffn_combine(m, l, m->bhn + (size_t)t * D, m->bw + (size_t)t * K, m->beok + (size_t)t * K * D, m->bx + (size_t)t * D);
    memcpy(m->route + (size_t)l * K, m->broute + (size_t)(n - 1) * K, (size_t)K * sizeof(int32_t));
  }
  memcpy(m->x, m->bx + (size_t)(n - 1) * D, row);
  if (last) final_logits(m);
  advance(m, n);
  return ESDK_OK;
}

esdk_status esdk_moe_prefill(esdk_moe *m, const int32_t *tokens, int32_t n) {
  if (!m || !m->arena_set) return ESDK_ERR_STATE;
  esdk_status ready = experts_ready(m);
  if (ready != ESDK_OK) return ready;
  if (n < 0 || (n > 0 && !tokens)) return fail(m, ESDK_ERR_ARG, "prefill needs n >= 0 tokens", 0);
  for (int32_t i = 0; i < n; i++)
    if (tokens[i] < 0 || tokens[i] >= m->c.vocab) return fail(m, ESDK_ERR_ARG, "token id out of range", 0);
  if (n > m->max_seq - m->pos) return fail(m, ESDK_ERR_ARENA, "context full (max_seq tokens)", 0);
  const double t0 = moe_now();
  moe_lock(m);
  const esdk_moe_stats s0 = m->st;
  moe_unlock(m);
  esdk_status st = ESDK_OK;
  if (n == 1 || (m->cache_bias > 0.0f && m->cmem)) { /* one token, or a routing that depends on the cache */
    for (int32_t i = 0; i < n && st == ESDK_OK; i++) st = esdk_moe_step(m, tokens[i]);
  } else {
    for (int32_t off = 0; off < n && st == ESDK_OK; off += m->pblock) {
      int32_t b = n - off < m->pblock ? n - off : m->pblock;
      st = prefill_block(m, tokens + off, b, off + b == n);
    }
  }
  moe_lock(m);
  m->st.prefill_tokens += m->st.tokens - s0.tokens;
  m->st.prefill_uses += m->st.expert_uses - s0.expert_uses;
  m->st.prefill_hits += m->st.hits - s0.hits;
  m->st.prefill_reused += m->st.reused - s0.reused;
  m->st.prefill_reads += m->st.reads - s0.reads;
  m->st.prefill_bytes += m->st.bytes_read - s0.bytes_read;
  m->st.prefill_s += moe_now() - t0;
  moe_unlock(m);
  return st;
}

static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12; x ^= x << 25; x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

/* float -> unsigned key in the same order (-inf first), and back */
static uint32_t fkey(float f) {
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
static float keyf(uint32_t k) {
  uint32_t b = (k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k;
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}

/* the weight w of the tokens whose logit lg is >= lo, summed in index order */
static double mass_from(const float *lg, const double *w, int32_t V, float lo) {
  double s = 0.0;
  for (int32_t i = 0; i < V; i++) if (lg[i] >= lo) s += w[i];
  return s;
}

/* the next token: greedy when temperature <= 0; else sampled from softmax(logits / temperature)
   restricted to the topn largest logits (0: all; tokens tied with the last one kept), then to the
   smallest set of largest-logit tokens whose probability reaches top_p (< 1; ties kept), as
   transformers' top-k then top-p warpers do */
static int32_t pick(esdk_moe *m, float temperature, int32_t topn, float top_p, uint64_t *rng) {
  const int32_t V = m->c.vocab;
  const float *lg = m->logits;
  int32_t best = 0;
  for (int32_t i = 1; i < V; i++) if (lg[i] > lg[best]) best = i;
  if (temperature <= 0.0f) return best;
  /* threshold = topn-th largest logit (all when topn <= 0) */
  float thr = -INFINITY;
  if (topn > 0 && topn < V) {
    /* partial: repeatedly find the largest below the previous (ties counted) */
    float prev = INFINITY;
    int32_t have = 0;
    while (have < topn) {
      float mx = -INFINITY;
      for (int32_t i = 0; i < V; i++) if (lg[i] < prev && lg[i] > mx) mx = lg[i];
      int32_t cnt = 0;
      for (int32_t i = 0; i < V; i++) if (lg[i] == mx) cnt++;
      have += cnt;
      prev = mx;
      thr = mx;
      if (cnt == 0) break;
    }
  }
  /* each token's weight exp((logit - top) / temperature), computed once */
  const float top = lg[best];
  double *w = m->tokw;
  for (int32_t i = 0; i < V; i++) w[i] = lg[i] >= thr ? exp((double)(lg[i] - top) / temperature) : 0.0;
  double sum = mass_from(lg, w, V, thr);
  if (top_p < 1.0f) {
    /* the largest logit L such that the tokens >= L hold top_p of the mass: bisection over the
       floats' order, 32 passes at most (exact: the mass changes only at logit values, so L is one) */
    const double want = (double)top_p * sum;
    uint32_t lo = fkey(thr), hi = fkey(top); /* mass_from(lo) >= want; the largest such key */
    while (lo < hi) {
      uint32_t mid = lo + (hi - lo + 1) / 2;
      if (mass_from(lg, w, V, keyf(mid)) >= want) lo = mid; else hi = mid - 1;
    }
    thr = keyf(lo);
    sum = mass_from(lg, w, V, thr);
  }
  double r = (double)(rng_next(rng) >> 11) * (1.0 / 9007199254740992.0) * sum, acc = 0.0;
  int32_t last = best;
  for (int32_t i = 0; i < V; i++) {
    if (lg[i] < thr) continue;
    acc += w[i];
    last = i;
    if (acc > r) return i;
  }
  return last;
}

esdk_status esdk_moe_generate_until(esdk_moe *m, const int32_t *prompt, int32_t n_prompt, int32_t max_new,
                                    float temperature, int32_t top_k_sample, float top_p, uint64_t seed,
                                    const int32_t *stop, int32_t n_stop, int32_t *out, int32_t *n_out) {
  if (!m || !n_out || (n_prompt > 0 && !prompt) || (max_new > 0 && !out) || n_prompt < 1 || max_new < 0 ||
      n_stop < 0 || (n_stop > 0 && !stop))
    return m ? fail(m, ESDK_ERR_ARG, "generate needs a prompt of at least one token", 0) : ESDK_ERR_ARG;
  if (!(top_p > 0.0f && top_p <= 1.0f)) return fail(m, ESDK_ERR_ARG, "top_p must be in (0, 1]", 0);
  *n_out = 0;
  uint64_t rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
  esdk_status pst = esdk_moe_prefill(m, prompt, n_prompt);
  if (pst != ESDK_OK) return pst;
  for (int32_t i = 0; i < max_new; i++) {
    int32_t t = pick(m, temperature, top_k_sample, top_p, &rng);
    out[(*n_out)++] = t;
    int stopped = 0;
    for (int32_t k = 0; k < n_stop; k++) stopped |= t == stop[k];
    if (m->on_token && m->on_token(m->on_token_user, t) != 0) stopped = 1;
    if (stopped || i + 1 == max_new || m->pos >= m->max_seq) break;
    esdk_status st = esdk_moe_step(m, t);
    if (st != ESDK_OK) return st;
  }
  return ESDK_OK;
}

esdk_status esdk_moe_set_token_callback(esdk_moe *m, esdk_moe_token_fn fn, void *user) {
  if (!m) return ESDK_ERR_ARG;
  m->on_token = fn;
  m->on_token_user = fn ? user : NULL;
  return ESDK_OK;
}

esdk_status esdk_moe_generate(esdk_moe *m, const int32_t *prompt, int32_t n_prompt, int32_t max_new,
                              float temperature, int32_t top_k_sample, uint64_t seed, int32_t stop_token,
                              int32_t *out, int32_t *n_out) {
  return esdk_moe_generate_until(m, prompt, n_prompt, max_new, temperature, top_k_sample, 1.0f, seed, &stop_token,
                                 stop_token >= 0, out, n_out);
}

void esdk_moe_get_stats(const esdk_moe *m, esdk_moe_stats *s) {
  if (!m || !s) return;
  moe_lock((esdk_moe *)m);
  *s = m->st;
  moe_unlock((esdk_moe *)m);
}
void esdk_moe_reset_stats(esdk_moe *m) {
  if (!m) return;
  moe_lock(m);
  memset(&m->st, 0, sizeof m->st);
  moe_unlock(m);
}
