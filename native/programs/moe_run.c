/* moe_run: decode with the MoE runtime from the command line (used by the aarch64
 * emulation test, tests/test_moe_aarch64.py). Memory is static buffers / one malloc'd
 * region owned by this program, never by the runtime.
 *   moe_run [-k auto|scalar|avx2|neon] [-io auto|pread|io_uring] ART BUNDLE MAX_NEW CACHE_BYTES(0 = resident) TOKEN...
 * prints the generated ids; on stderr the statistics, the I/O backend, the expert kernels used
 * and an FNV-1a hash of the last step's logits (to compare kernels and cache modes bit for bit). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge_sdk_moe.h"

static void *read_all(const char *path, size_t *n, size_t align) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *p = NULL;
  if (posix_memalign(&p, align, (size_t)sz + 1) != 0) { fclose(f); return NULL; }
  *n = fread(p, 1, (size_t)sz, f);
  fclose(f);
  return p;
}

static uint64_t fnv1a(const void *p, size_t n) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < n; i++) h = (h ^ ((const uint8_t *)p)[i]) * 1099511628211ull;
  return h;
}

int main(int argc, char **argv) {
  int32_t isa = -1, io = ESDK_MOE_IO_AUTO;
  while (argc >= 3 && (!strcmp(argv[1], "-k") || !strcmp(argv[1], "-io"))) {
    if (!strcmp(argv[1], "-k")) {
      static const char *names[4] = {"scalar", "avx2", "neon", "auto"};
      isa = -2;
      for (int i = 0; i < 4; i++) if (!strcmp(argv[2], names[i])) isa = i == 3 ? -1 : i;
      if (isa == -2) { fprintf(stderr, "error: -k takes auto, scalar, avx2 or neon\n"); return 2; }
    } else {
      static const char *names[3] = {"auto", "pread", "io_uring"};
      static const int32_t flags[3] = {ESDK_MOE_IO_AUTO, ESDK_MOE_IO_PREAD, ESDK_MOE_IO_URING};
      io = -1;
      for (int i = 0; i < 3; i++) if (!strcmp(argv[2], names[i])) io = flags[i];
      if (io == -1) { fprintf(stderr, "error: -io takes auto, pread or io_uring\n"); return 2; }
    }
    argc -= 2;
    argv += 2;
  }
  if (argc < 6) { fprintf(stderr, "usage: moe_run [-k KERNELS] [-io BACKEND] ART BUNDLE MAX_NEW CACHE_BYTES TOKEN...\n"); return 2; }
  size_t an = 0, bn = 0;
  void *art = read_all(argv[1], &an, 64);
  void *ctx = NULL;
  posix_memalign(&ctx, 64, esdk_moe_size());
  esdk_moe *m = (esdk_moe *)ctx;
  if (!art || esdk_moe_load(m, art, an) != ESDK_OK) { fprintf(stderr, "error: %s\n", art ? esdk_moe_error(m) : "cannot read artifact"); return 1; }
  if (esdk_moe_set_kernels(m, isa) != ESDK_OK) { fprintf(stderr, "error: %s\n", esdk_moe_error(m)); return 1; }
  int32_t max_seq = 512;
  size_t arn = esdk_moe_arena_size(m, max_seq);
  void *arena = NULL;
  posix_memalign(&arena, 64, arn);
  if (esdk_moe_set_arena(m, arena, arn, max_seq) != ESDK_OK) { fprintf(stderr, "error: %s\n", esdk_moe_error(m)); return 1; }
  size_t cache = (size_t)strtoull(argv[4], NULL, 10);
  void *bundle = read_all(argv[2], &bn, 4096); /* header (and, resident, everything) */
  if (!bundle) { fprintf(stderr, "error: cannot read bundle\n"); return 1; }
  size_t hn = esdk_moe_bundle_header_size(bundle);
  if (!hn || esdk_moe_set_bundle(m, bundle, hn, bn) != ESDK_OK) { fprintf(stderr, "error: %s\n", esdk_moe_error(m)); return 1; }
  esdk_status st;
  if (cache == 0) {
    st = esdk_moe_set_expert_memory(m, bundle, bn);
  } else {
    void *cm = NULL;
    posix_memalign(&cm, 4096, cache);
    st = esdk_moe_cache_init(m, cm, cache, 1, 0.95f);
    if (st == ESDK_OK) st = esdk_moe_io_open(m, argv[2], ESDK_MOE_IO_DIRECT | io);
  }
  if (st != ESDK_OK) { fprintf(stderr, "error: %s\n", esdk_moe_error(m)); return 1; }
  int32_t np = argc - 5, prompt[256], out[512], n = 0;
  if (np > 256) np = 256;
  for (int i = 0; i < np; i++) prompt[i] = atoi(argv[5 + i]);
  int32_t max_new = atoi(argv[3]);
  st = esdk_moe_generate(m, prompt, np, max_new > 256 ? 256 : max_new, 0.0f, 0, 1, -1, out, &n);
  if (st != ESDK_OK) { fprintf(stderr, "error: %s\n", esdk_moe_error(m)); return 1; }
  for (int i = 0; i < n; i++) printf("%d%c", out[i], i + 1 == n ? '\n' : ' ');
  esdk_moe_stats s;
  esdk_moe_get_stats(m, &s);
  fprintf(stderr, "tokens %llu hits %llu misses %llu late %llu reads %llu\n", (unsigned long long)s.tokens,
          (unsigned long long)s.hits, (unsigned long long)s.misses, (unsigned long long)s.late, (unsigned long long)s.reads);
  esdk_moe_config cfg;
  esdk_moe_get_config(m, &cfg);
  if (cache) fprintf(stderr, "io %s\n", esdk_moe_io_backend(m));
  fprintf(stderr, "kernels %s logits %016llx\n", esdk_moe_kernels(m),
          (unsigned long long)fnv1a(esdk_moe_logits(m), (size_t)cfg.vocab * sizeof(float)));
  esdk_moe_io_close(m);
  return 0;
}
