/* Host-only per-op profiler: times every op of one invoke with CLOCK_MONOTONIC. Compiled
   only with ESDK_WITH_PROFILE (the Python build defines it) so the MCU core keeps no clock
   dependency; the loop mirrors esdk_invoke so the ops run exactly as they do there. */
#ifdef ESDK_WITH_PROFILE
#define _POSIX_C_SOURCE 199309L
#include <time.h>
#include "internal.h"
#include "edge_sdk_profile.h"

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

esdk_status esdk_profile(esdk_model *m, uint64_t *ns_per_op, int32_t n) {
  uint32_t i;
  if (!m || (!ns_per_op && n > 0) || n < 0) return ESDK_ERR_ARG;
  if (m->magic != ESDK_MODEL_MAGIC) return ESDK_ERR_STATE;
  if (!m->arena && m->arena_size > 0) {
    esdk_set_error(m, "profile before esdk_set_arena");
    return ESDK_ERR_ARENA;
  }
  if (!m->arena) { /* zero-size arena: esdk_invoke installs the base address; nothing to time */
    for (i = 0; (int32_t)i < n; i++) ns_per_op[i] = 0;
    return esdk_invoke(m);
  }
  m->run_failed = 0;
  for (i = 0; i < m->n_ops; i++) {
    uint64_t t0 = now_ns();
    esdk_invoke_op(m, i);
    if ((int32_t)i < n) ns_per_op[i] = now_ns() - t0;
    if (m->run_failed) return ESDK_ERR_UNSUPPORTED;
  }
  return ESDK_OK;
}
#else
typedef int esdk_profile_unused;
#endif
