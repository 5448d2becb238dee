#include <string.h>
#include "model_slot.h"

extern uint8_t __model_slot_start[], __model_slot_end[], __arena_start[], __arena_end[];

/* sizeof(esdk_model) is private to the runtime; slot_init checks this bound. */
#define MODEL_CTX_BYTES 10240
static uint8_t g_ctx[MODEL_CTX_BYTES] __attribute__((aligned(16)));
static int g_ready;
static const char *g_err = "no model loaded";
static uint8_t *g_staging = __arena_start;

static uint64_t rd64(const uint8_t *p) {
  uint64_t v = 0;
  int i;
  for (i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static uintptr_t align64(uintptr_t v) { return (v + 63u) & ~(uintptr_t)63u; }

int slot_init(void) {
  esdk_model *m = (esdk_model *)g_ctx;
  size_t slot = (size_t)(__model_slot_end - __model_slot_start);
  uint64_t fsize;
  esdk_status st;
  g_ready = 0;
  g_staging = __arena_start;
  if (esdk_model_size() > sizeof g_ctx) return g_err = "firmware's model context is too small", -1;
  if (memcmp(__model_slot_start, "ESDK", 4) != 0) return g_err = "no model in the flash slot (bad magic)", -1;
  fsize = rd64(__model_slot_start + 16);
  if (fsize > slot) return g_err = "model in the flash slot is larger than the slot", -1;
  st = esdk_load(m, __model_slot_start, (size_t)fsize);
  if (st != ESDK_OK) return g_err = esdk_last_error(m), -1;
  if ((uintptr_t)__arena_start + esdk_arena_size(m) > (uintptr_t)__arena_end)
    return g_err = "model arena is larger than the firmware's free SRAM", -1;
  st = esdk_set_arena(m, __arena_start, esdk_arena_size(m));
  if (st != ESDK_OK) return g_err = esdk_last_error(m), -1;
  g_staging = (uint8_t *)align64((uintptr_t)__arena_start + esdk_arena_size(m));
  g_ready = 1;
  g_err = "ok";
  return 0;
}

int slot_ready(void) { return g_ready; }
const char *slot_error(void) { return g_err; }
esdk_model *slot_model(void) { return (esdk_model *)g_ctx; }
uint8_t *slot_staging(void) { return g_staging; }
size_t slot_staging_capacity(void) {
  return g_staging < __arena_end ? (size_t)(__arena_end - g_staging) : 0;
}
size_t slot_arena_capacity(void) { return (size_t)(__arena_end - __arena_start); }
uintptr_t slot_address(void) { return (uintptr_t)__model_slot_start; }
