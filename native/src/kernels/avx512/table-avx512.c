/* The AVX-512 (F, BW, VL, VNNI) kernel set, chosen at load time when cpu.c finds the features. */
#include "avx512.h"
#if defined(__x86_64__) || defined(_M_X64)
const esdk_isa_kernels esdk_kernels_avx512 = {"avx512",
                                              esdk_conv1x1_f32_avx512,
                                              esdk_dwconv3x3_f32_avx512,
                                              esdk_conv1x1_i8_avx512,
                                              esdk_fc_f32_avx512,
                                              esdk_fc_i8_avx512,
                                              esdk_spmm_f32_avx512,
                                              esdk_spmm_i8_avx512,
                                              .conv2d_f32 = esdk_conv2d_f32_avx512,
                                              .dwconv_i8 = esdk_dwconv_i8_avx512,
                                              .conv2d_i8 = esdk_conv_i8_avx512,
                                              .quantize_f32 = esdk_quantize_f32_avx512,
                                              .dequantize_i8 = esdk_dequantize_i8_avx512,
                                              .binary_f32 = esdk_binary_f32_avx512,
                                              .global_avgpool_f32 = esdk_global_avgpool_f32_avx512,
                                              .binary_i8 = esdk_binary_i8_avx512};
#endif
