/* esdk_run ARTIFACT.esm [--isa scalar|best|avx2] [--warmup W] [--runs N] [--threads N]
              [--input i=path.bin ...] [--out-dir DIR]
   Loads an artifact, fills inputs (deterministic pattern, or raw files), runs it N times,
   writes each output as raw DIR/output_<i>.bin and prints timings as JSON. The program owns
   all memory (it may allocate; the library never does). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "edge_sdk.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *aligned_alloc64(size_t n) {
  void *p = NULL;
  if (posix_memalign(&p, 64, n ? n : 64) != 0) return NULL;
  return p;
}

static unsigned char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  unsigned char *buf;
  long len;
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  len = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = (unsigned char *)aligned_alloc64((size_t)len);
  if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *n = (size_t)len;
  return buf;
}

static void fill_pattern(void *data, const esdk_tensor_info *ti, int index) {
  size_t i, n = ti->nbytes;
  if (ti->dtype == ESDK_F32) {
    float *p = (float *)data;
    for (i = 0; i < n / 4; i++) p[i] = (float)((int)((i * 7 + (size_t)index * 13) % 17) - 8) / 8.0f;
  } else {
    unsigned char *p = (unsigned char *)data;
    for (i = 0; i < n; i++) p[i] = (unsigned char)((i * 7 + (size_t)index * 13) % 251);
  }
}

int main(int argc, char **argv) {
  const char *path = NULL, *out_dir = NULL, *inputs[64] = {0};
  int isa = 0, runs = 10, warmup = 0, threads = 1, i, r;
  size_t size;
  unsigned char *data;
  esdk_model *m;
  void *arena;
  esdk_status st;
  double t0, best = 1e30, total = 0, first, window;
  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
      const char *v = argv[++i];
      isa = !strcmp(v, "scalar") ? 1 : !strcmp(v, "avx2") ? 2 : 0;
    } else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
      runs = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) {
      warmup = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--out-dir") && i + 1 < argc) {
      out_dir = argv[++i];
    } else if (!strcmp(argv[i], "--input") && i + 1 < argc) {
      char *eq = strchr(argv[++i], '=');
      int k = atoi(argv[i]);
      if (!eq || k < 0 || k >= 64) {
        fprintf(stderr, "bad --input %s (want i=path.bin)\n", argv[i]);
        return 2;
      }
      inputs[k] = eq + 1;
    } else if (!path && argv[i][0] != '-') {
      path = argv[i];
    } else {
      fprintf(stderr, "usage: esdk_run ARTIFACT.esm [--isa scalar|best|avx2] [--warmup W] [--runs N] [--threads N] "
                      "[--input i=path.bin] [--out-dir DIR]\n");
      return 2;
    }
  }
  if (!path) {
    fprintf(stderr, "usage: esdk_run ARTIFACT.esm [--isa scalar] [--runs N] [--input i=path.bin] [--out-dir DIR]\n");
    return 2;
  }
  if (runs < 1) runs = 1;
  data = read_file(path, &size);
  if (!data) {
    fprintf(stderr, "cannot read %s\n", path);
    return 1;
  }
  m = (esdk_model *)aligned_alloc64(esdk_model_size());
  t0 = now_ms();
  st = esdk_load(m, data, size);
  if (st != ESDK_OK) {
    fprintf(stderr, "load failed: %s: %s\n", esdk_status_str(st), esdk_last_error(m));
    return 1;
  }
  first = now_ms() - t0;
  if (esdk_set_isa(m, isa) != ESDK_OK || (threads > 1 && esdk_set_threads(m, threads) != ESDK_OK)) {
    fprintf(stderr, "isa/threads: %s\n", esdk_last_error(m));
    return 1;
  }
  arena = aligned_alloc64(esdk_arena_size(m));
  if (!arena || esdk_set_arena(m, arena, esdk_arena_size(m)) != ESDK_OK) {
    fprintf(stderr, "arena: %s\n", esdk_last_error(m));
    return 1;
  }
  for (i = 0; i < esdk_num_inputs(m); i++) {
    esdk_tensor_info ti;
    esdk_input_info(m, i, &ti);
    if (i < 64 && inputs[i]) {
      size_t n;
      unsigned char *raw = read_file(inputs[i], &n);
      if (!raw || n != ti.nbytes) {
        fprintf(stderr, "input %d: %s must hold exactly %zu bytes\n", i, inputs[i], ti.nbytes);
        return 1;
      }
      memcpy(esdk_input_data(m, i), raw, n);
      free(raw);
    } else {
      fill_pattern(esdk_input_data(m, i), &ti, i);
    }
  }
  /* warm-up runs stay outside the timed window (MLPerf Tiny rule) */
  for (r = 0; r < warmup; r++) {
    st = esdk_invoke(m);
    if (st != ESDK_OK) {
      fprintf(stderr, "invoke failed: %s\n", esdk_last_error(m));
      return 1;
    }
  }
  window = now_ms();
  for (r = 0; r < runs; r++) {
    double t = now_ms(), dt;
    st = esdk_invoke(m);
    dt = now_ms() - t;
    if (st != ESDK_OK) {
      fprintf(stderr, "invoke failed: %s\n", esdk_last_error(m));
      return 1;
    }
    total += dt;
    best = dt < best ? dt : best;
  }
  window = now_ms() - window;
  if (out_dir) {
    for (i = 0; i < esdk_num_outputs(m); i++) {
      esdk_tensor_info ti;
      char fn[4096];
      FILE *f;
      esdk_output_info(m, i, &ti);
      snprintf(fn, sizeof fn, "%s/output_%d.bin", out_dir, i);
      f = fopen(fn, "wb");
      if (!f || fwrite(esdk_output_data(m, i), 1, ti.nbytes, f) != ti.nbytes) {
        fprintf(stderr, "cannot write %s\n", fn);
        return 1;
      }
      fclose(f);
    }
  }
  printf("{\"artifact\": \"%s\", \"isa\": \"%s\", \"threads\": %d, \"ops\": %d, \"arena_bytes\": %zu, "
         "\"load_ms\": %.4f, \"warmup\": %d, \"runs\": %d, \"window_ms\": %.4f, \"best_ms\": %.4f, "
         "\"mean_ms\": %.4f}\n",
         path, esdk_isa_name(m), threads, esdk_num_ops(m), esdk_arena_size(m), first, warmup, runs, window, best,
         total / runs);
  free(arena);
  free(m);
  free(data);
  return 0;
}
