/* The aarch64 kernel sets, chosen at load time by cpu.c: plain NEON (every armv8-a core,
   e.g. Cortex-A72 / Pi 4) and NEON + SDOT (HWCAP asimddp: Cortex-A76 / Pi 5, most phones).
   They differ only in the int8 dense 1x1 conv / FC kernels. Designated initializers: slots
   added to esdk_isa_kernels later stay NULL (scalar) here. */
#include "neon.h"
#if defined(__aarch64__)
const esdk_isa_kernels esdk_kernels_neon = {.name = "neon",
                                            .conv1x1_f32 = esdk_conv1x1_f32_neon,
                                            .dwconv3x3_f32 = esdk_dwconv3x3_f32_neon,
                                            .conv1x1_i8 = esdk_conv1x1_i8_neon,
                                            .fc_f32 = esdk_fc_f32_neon,
                                            .fc_i8 = esdk_fc_i8_neon,
                                            .spmm_f32 = esdk_spmm_f32_neon,
                                            .spmm_i8 = esdk_spmm_i8_neon,
                                            .dwconv_i8 = esdk_dwconv3x3_i8_neon};
const esdk_isa_kernels esdk_kernels_neon_dot = {.name = "neon-dotprod",
                                                .conv1x1_f32 = esdk_conv1x1_f32_neon,
                                                .dwconv3x3_f32 = esdk_dwconv3x3_f32_neon,
                                                .conv1x1_i8 = esdk_conv1x1_i8_dot_neon,
                                                .fc_f32 = esdk_fc_f32_neon,
                                                .fc_i8 = esdk_fc_i8_dot_neon,
                                                .spmm_f32 = esdk_spmm_f32_neon,
                                                .spmm_i8 = esdk_spmm_i8_neon,
                                                .dwconv_i8 = esdk_dwconv3x3_i8_neon};
#endif
