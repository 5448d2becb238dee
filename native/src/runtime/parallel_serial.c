/* Single-threaded build: work splitting degenerates to one call. */
#ifndef ESDK_WITH_PTHREADS
#include "internal.h"

void esdk_parallel_for(esdk_model *m, int32_t n, int32_t align, esdk_range_fn fn, void *ctx) {
  (void)m;
  (void)align;
  fn(ctx, 0, n);
}

esdk_status esdk_set_threads(esdk_model *m, int n) {
  if (!m || n < 1) return ESDK_ERR_ARG;
  return n == 1 ? ESDK_OK : ESDK_ERR_UNSUPPORTED;
}
#else
typedef int esdk_parallel_serial_unused;
#endif
