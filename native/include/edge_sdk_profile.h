/* Host-only per-op profiler (built with ESDK_WITH_PROFILE; needs clock_gettime). Kept out
   of edge_sdk.h so MCU builds of the core never see a clock dependency. */
#ifndef EDGE_SDK_PROFILE_H
#define EDGE_SDK_PROFILE_H

#include "edge_sdk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Runs the model once, like esdk_invoke, and writes the wall time of op i (nanoseconds,
   CLOCK_MONOTONIC) to ns_per_op[i] for i < min(n, esdk_num_ops(model)). */
esdk_status esdk_profile(esdk_model *model, uint64_t *ns_per_op, int32_t n);

#ifdef __cplusplus
}
#endif
#endif /* EDGE_SDK_PROFILE_H */
