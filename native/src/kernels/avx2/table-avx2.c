/* The AVX2+FMA kernel set, chosen at load time when cpu.c finds the features. */
#include "avx2.h"
#if defined(__x86_64__) || defined(_M_X64)
const esdk_isa_kernels esdk_kernels_avx2 = {"avx2",
                                            esdk_conv1x1_f32_avx2,
                                            esdk_dwconv3x3_f32_avx2,
                                            esdk_conv1x1_i8_avx2,
                                            esdk_fc_f32_avx2,
                                            0,
                                            esdk_spmm_f32_avx2,
                                            esdk_spmm_i8_1x4_avx2,
                                            .conv2d_f32 = esdk_conv2d_f32_avx2,
                                            .dwconv_i8 = esdk_dwconv3x3_i8_avx2,
                                            .conv2d_i8 = esdk_conv_i8_avx2,
                                            .quantize_f32 = esdk_quantize_f32_avx2,
                                            .dequantize_i8 = esdk_dequantize_i8_avx2,
                                            .binary_i8 = esdk_binary_i8_avx2};
#endif
