/* The Cortex-M DSP-extension kernel set (M4, M7): cpu.c returns it when the firmware is
   built with ESDK_ISA_DSP. Everything not listed runs the scalar reference. */
#include "cortexm.h"
#ifdef ESDK_HAVE_DSP
const esdk_isa_kernels esdk_kernels_dsp = {
    .name = "dsp",
    .conv1x1_i8 = esdk_conv1x1_i8_2x4_dsp,
    .fc_i8 = esdk_fc_i8_2x4_dsp,
    .spmm_i8 = esdk_spmm_i8_4_dsp,
    .dwconv_i8 = esdk_dwconv_i8_2x1_dsp,
};
#else
typedef int esdk_table_dsp_unused;
#endif
