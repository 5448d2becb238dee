/* The Helium (MVE) kernel set of the Cortex-M55: cpu.c returns it when the firmware is
   built with ESDK_ISA_MVE. Everything not listed runs the scalar reference. */
#include "helium.h"
#ifdef ESDK_HAVE_MVE
const esdk_isa_kernels esdk_kernels_helium = {
    .name = "helium",
    .conv1x1_i8 = esdk_conv1x1_i8_4x4_helium,
    .fc_i8 = esdk_fc_i8_16_helium,
    .spmm_i8 = esdk_spmm_i8_16_helium,
    .dwconv_i8 = esdk_dwconv_i8_4_helium,
};
#else
typedef int esdk_table_helium_unused;
#endif
