/* libFuzzer target for the MoE loaders and decoder: one input carries an artifact (.esmoe) and
 * its expert bundle (.esmx); load, size the arena, set the bundle header, give it the bundle as
 * resident expert memory, then decode a short prompt, as edge_sdk.Generator does in resident mode.
 *
 * Input framing (make_corpus_moe.py writes it):
 *   u8 flags   bit 0: recompute the artifact's CRCs, bit 1: the bundle's (header, table and every
 *              expert record whose extent is in bounds) before loading, so that coverage-guided
 *              mutations get past the checksums; bit 2: sample (temperature, top-k, top-p)
 *              instead of greedy decoding; bits 3-4: arena context (8, 32, 256 or 1024 tokens),
 *              and in stream mode the cache policy (bits % 3) and lookahead (0-3);
 *              bit 5: stream the experts (the bundle written to a file, a cache, the I/O thread)
 *              instead of resident memory; bit 6: pread reader (else auto: io_uring where the
 *              kernel allows it); bit 7: a cache of every expert (else the smallest, top_k + 1)
 *   u32        artifact length A (little-endian), then A artifact bytes, then the bundle bytes.
 * Built without libFuzzer (-DESDK_FUZZ_MAIN) it runs every file named on the command line. */
#define _POSIX_C_SOURCE 200112L /* posix_memalign */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "edge_sdk_moe.h"

uint32_t esdk_moe_crc32(const uint8_t *p, size_t n); /* moe.c */
void esdk_moe_crc_init(void);

#define ARENA_MAX ((size_t)256 << 20) /* larger arenas are sized, then skipped */
static _Alignas(64) unsigned char g_ctx[1 << 16];

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }

/* artifact: each in-bounds entry's CRC, then the header CRC (docs/moe.md, "Artifact .esmoe") */
static void fix_artifact(uint8_t *d, size_t n) {
  if (n < 24 + 128) return;
  uint64_t cnt = rd32(d + 12), end = 24 + 128 + cnt * 48;
  if (end > n) return;
  for (uint64_t i = 0; i < cnt; i++) {
    uint8_t *e = d + 24 + 128 + i * 48;
    uint64_t off = rd64(e + 32), nb = rd32(e + 40);
    if (off <= n && nb <= n - off) wr32(e + 44, esdk_moe_crc32(d + off, (size_t)nb));
  }
  wr32(d + 20, esdk_moe_crc32(d + 24, (size_t)(end - 24)));
}

/* bundle: each in-bounds record's CRC, then the header CRC (docs/moe.md, "Expert bundle .esmx") */
static void fix_bundle(uint8_t *b, size_t n) {
  if (n < 64) return;
  uint64_t le = (uint64_t)rd32(b + 12) * rd32(b + 16), stride = rd64(b + 32);
  if (le > (n - 64) / 16) return;
  for (uint64_t i = 0; i < le; i++) {
    uint8_t *e = b + 64 + i * 16;
    uint64_t off = rd64(e);
    if (off <= n && stride <= n - off) wr32(e + 8, esdk_moe_crc32(b + off, (size_t)stride));
  }
  wr32(b + 56, esdk_moe_crc32(b, 56) ^ esdk_moe_crc32(b + 64, (size_t)le * 16));
}

/* every failure must explain itself in one line */
static void check_error(const esdk_moe *m) {
  const char *e = esdk_moe_error(m);
  if (!e[0] || strchr(e, '\n')) abort();
}

/* stream mode: the bundle as a file read by the I/O thread into a cache (*mem); 0 if refused */
static int stream(esdk_moe *m, const esdk_moe_config *c, const uint8_t *bun, size_t nb, unsigned flags, void **mem) {
  static char path[512];
  if (!path[0]) {
    const char *dir = getenv("FUZZ_MOE_TMPDIR");
    snprintf(path, sizeof path, "%s/fuzz_moe_%ld.esmx", dir ? dir : "/tmp", (long)getpid());
  }
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  if (fwrite(bun, 1, nb, f) != nb) abort();
  fclose(f);
  const uint64_t per = esdk_moe_expert_bytes(m) + 64;
  const uint64_t slots = (flags & 128) ? (uint64_t)c->n_layers * (uint64_t)c->n_experts : (uint64_t)c->top_k + 1;
  if (per > ARENA_MAX || slots > (ARENA_MAX - 4096) / per) return 0;
  const size_t bytes = (size_t)(4096 + slots * per);
  if (posix_memalign(mem, 4096, bytes)) return 0;
  const int32_t mode = (flags >> 3) & 3;
  if (esdk_moe_cache_init(m, *mem, bytes, mode % 3, 0.95f) != ESDK_OK ||
      esdk_moe_set_lookahead(m, mode, mode & 1) != ESDK_OK || esdk_moe_set_prefetch(m, 1, mode & 1) != ESDK_OK) {
    check_error(m);
    return 0;
  }
  if (esdk_moe_io_open(m, path, (flags & 64) ? ESDK_MOE_IO_PREAD : ESDK_MOE_IO_AUTO) != ESDK_OK) {
    check_error(m);
    return 0;
  }
  return 1;
}

static void run(const uint8_t *art, size_t na, const uint8_t *bun, size_t nb, unsigned flags) {
  esdk_moe *m = (esdk_moe *)g_ctx;
  if (esdk_moe_size() > sizeof g_ctx) abort();
  if (esdk_moe_load(m, art, na) != ESDK_OK) { check_error(m); return; }
  esdk_moe_config c;
  if (esdk_moe_get_config(m, &c) != ESDK_OK) abort();
  static const int32_t ctx_len[4] = {8, 32, 256, 1024};
  const int32_t max_seq = ctx_len[(flags >> 3) & 3];
  /* sizing: nonzero for a short context, and never wrapped around (0, or growing with the
     context) for a huge one */
  const size_t one = esdk_moe_arena_size(m, 1), big = esdk_moe_arena_size(m, INT32_MAX);
  if (!one || (big && big < esdk_moe_arena_size(m, 1 << 20))) abort();
  size_t need = esdk_moe_arena_size(m, max_seq);
  if (need > ARENA_MAX) return;
  void *arena = NULL, *xmem = NULL;
  uint8_t *hdr = NULL;
  if (posix_memalign(&arena, 64, need)) return;
  if (esdk_moe_set_arena(m, arena, need, max_seq) != ESDK_OK) { check_error(m); goto done; }
  if (nb < 64) goto done; /* Generator: "not an edge-sdk expert bundle" */
  size_t hsize = esdk_moe_bundle_header_size(bun);
  if (!hsize) goto done;
  if (hsize > nb) hsize = nb; /* a short read of the header: the loader must see it */
  hdr = (uint8_t *)malloc(hsize); /* exactly sized, so ASan sees any read past the header */
  if (!hdr) goto done;
  memcpy(hdr, bun, hsize);
  if (esdk_moe_set_bundle(m, hdr, hsize, nb) != ESDK_OK) { check_error(m); goto done; }
  if (flags & 32) {
    if (!stream(m, &c, bun, nb, flags, &xmem)) goto done;
  } else {
    if (posix_memalign(&xmem, 4096, nb)) goto done;
    memcpy(xmem, bun, nb);
    if (esdk_moe_set_expert_memory(m, xmem, nb) != ESDK_OK) { check_error(m); goto done; }
  }
  int32_t prompt[3] = {0, c.vocab / 2, c.vocab - 1}, out[4], n_out = 0, stop = 0;
  esdk_status st;
  if (flags & 4)
    st = esdk_moe_generate_until(m, prompt, 3, 4, 0.8f, 5, 0.9f, 7, &stop, 1, out, &n_out);
  else
    st = esdk_moe_generate(m, prompt, 3, 4, 0.0f, 0, 0, -1, out, &n_out);
  if (st != ESDK_OK) {
    check_error(m);
  } else {
    for (int32_t i = 0; i < n_out; i++)
      if (out[i] < 0 || out[i] >= c.vocab) abort();
  }
  if (esdk_moe_step(m, c.vocab) == ESDK_OK) abort(); /* out of range: refused */
  if (flags & 32) esdk_moe_io_close(m);
done:
  free(xmem);
  free(hdr);
  free(arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 5) return 0;
  unsigned flags = data[0];
  size_t na = rd32(data + 1);
  if (na > size - 5) na = size - 5;
  size_t nb = size - 5 - na;
  /* fresh, exactly sized copies (malloc: 16-byte aligned, as the loader requires) */
  uint8_t *art = (uint8_t *)malloc(na ? na : 1), *bun = (uint8_t *)malloc(nb ? nb : 1);
  if (!art || !bun) abort();
  memcpy(art, data + 5, na);
  memcpy(bun, data + 5 + na, nb);
  esdk_moe_crc_init();
  if (flags & 1) fix_artifact(art, na);
  if (flags & 2) fix_bundle(bun, nb);
  run(art, na, bun, nb, flags);
  free(art);
  free(bun);
  return 0;
}

#include "fuzz_main.h"
