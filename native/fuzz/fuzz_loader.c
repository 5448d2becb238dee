/* libFuzzer target for the loader (and, when it accepts, one invoke). Built without
   libFuzzer (-DESDK_FUZZ_MAIN) it runs every file named on the command line instead. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "edge_sdk.h"

#define ARENA_MAX (16u << 20)
static _Alignas(64) unsigned char g_arena[ARENA_MAX];
static _Alignas(64) unsigned char g_model[1 << 15];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  esdk_model *m = (esdk_model *)g_model;
  /* the loader requires a 4-aligned buffer: give it a fresh, exactly sized copy so ASan
     catches any read past the end */
  unsigned char *buf = (unsigned char *)malloc(size ? size : 1);
  if (esdk_model_size() > sizeof g_model || !buf) abort();
  if (size) memcpy(buf, data, size);
  if (esdk_load_ex(m, buf, size, 1) == ESDK_OK) {
    size_t need = esdk_arena_size(m);
    if (need <= ARENA_MAX && esdk_set_arena(m, g_arena, need) == ESDK_OK) esdk_invoke(m);
  } else if (!esdk_last_error(m)[0]) {
    abort(); /* every failure must explain itself */
  }
  free(buf);
  return 0;
}

#include "fuzz_main.h"
