/* Kernel interfaces. Kernels trust their arguments: the loader has validated every shape.
   Names follow op-dtype[-tile]-isa. Float kernels apply the fused activation as a clamp to
   [lo, hi]; int8 kernels requantize per output channel (qstride 1) or per tensor (0). */
#ifndef ESDK_KERNELS_H
#define ESDK_KERNELS_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  int32_t N, C, H, W, M, OH, OW, KH, KW, sh, sw, pt, pl, dh, dw, group;
  int32_t m0, m1; /* output channels to compute, [m0, m1) */
  float lo, hi;
  int32_t zx, zy, qmin, qmax, qstride;
  const int32_t *mult, *shift;
} esdk_conv_args;

typedef struct {
  int64_t B;        /* rows of x */
  int32_t K, M, m0, m1;
  float lo, hi;
  int32_t zx, zy, qmin, qmax, qstride;
  const int32_t *mult, *shift;
} esdk_fc_args;

/* Y[m*ys_m + p*ys_p] = sum_k W[m][k] * X[k*xs_k + p*xs_p] with W in block CSR.
   K-chunked layout (kc > 0, 1x1 blocks, float32 only): the CSR has nch * M rows, row
   c * M + m holding row m's nonzeros with columns in [c*kc, (c+1)*kc), so each chunk's
   row lists are one contiguous stream; kc == 0 means nch == 1 (plain CSR). */
typedef struct {
  int64_t P, xs_k, xs_p, ys_m, ys_p;
  int32_t K, M, br, bc, m0, m1; /* m0, m1 multiples of br */
  const uint32_t *row_ptr, *col_idx;
  float lo, hi;
  int32_t zx, zy, qmin, qmax, qstride;
  const int32_t *mult, *shift;
  int32_t kc, nch;
} esdk_spmm_args;

void esdk_conv2d_f32_scalar(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
void esdk_conv2d_i8_scalar(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
void esdk_conv2d_transpose_f32_scalar(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
void esdk_fc_f32_scalar(const esdk_fc_args *a, const float *x, const float *w, const float *b, float *y);
void esdk_fc_i8_scalar(const esdk_fc_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
void esdk_spmm_f32_scalar(const esdk_spmm_args *a, const float *x, const float *v, const float *b, float *y);
void esdk_spmm_i8_scalar(const esdk_spmm_args *a, const int8_t *x, const int8_t *v, const int32_t *b, int8_t *y);

/* Batched matmul: batch dims (up to 4) broadcast through zero strides. */
typedef struct {
  int32_t M, K, N;
  int64_t bd[4], sa[4], sb[4];
} esdk_matmul_args;
void esdk_matmul_f32_scalar(const esdk_matmul_args *a, const float *A, const float *B, float *Y);

/* Elementwise ops on shapes right-aligned to rank 6; zero strides broadcast. */
typedef struct {
  int64_t d[6], sa[6], sb[6];
  int32_t kind;
  float lo, hi;
  int32_t za, zb, zy, qmin, qmax, a_mult, a_shift, b_mult, b_shift, out_mult, out_shift, left_shift;
} esdk_binary_args;
void esdk_binary_f32_scalar(const esdk_binary_args *a, const float *A, const float *B, float *Y);
void esdk_binary_i8_scalar(const esdk_binary_args *a, const int8_t *A, const int8_t *B, int8_t *Y);

void esdk_unary_f32_scalar(int kind, float p0, float p1, const float *x, float *y, int64_t n);
void esdk_softmax_f32_scalar(const float *x, float *y, int64_t outer, int64_t len, int64_t inner);
void esdk_reduce_mean_f32_scalar(const float *x, float *y, const int64_t d[6], int mask);

typedef struct {
  int32_t N, C, H, W, OH, OW, KH, KW, sh, sw, pt, pl, count_include_pad;
  int32_t zero_point; /* int8: padded positions count as this value (real 0) */
} esdk_pool_args;
void esdk_maxpool_f32_scalar(const esdk_pool_args *a, const float *x, float *y);
void esdk_maxpool_i8_scalar(const esdk_pool_args *a, const int8_t *x, int8_t *y);
void esdk_avgpool_f32_scalar(const esdk_pool_args *a, const float *x, float *y);
void esdk_avgpool_i8_scalar(const esdk_pool_args *a, const int8_t *x, int8_t *y);
void esdk_global_avgpool_f32_scalar(const float *x, float *y, int64_t nc, int64_t hw);
void esdk_global_avgpool_i8_scalar(const int8_t *x, int8_t *y, int64_t nc, int64_t hw);

/* Data movement, any element size (1, 2, 4 or 8 bytes); dims right-aligned to rank 6. */
void esdk_transpose_any_scalar(const void *x, void *y, size_t esz, const int64_t od[6], const int64_t istr[6]);
void esdk_slice_any_scalar(const void *x, void *y, size_t esz, const int64_t od[6], const int64_t istr[6],
                           int64_t base);
void esdk_pad_any_scalar(const void *x, void *y, size_t esz, const int64_t id[6], const int64_t begin[6],
                         const int64_t od[6], int mode, const void *value);
void esdk_concat_any_scalar(const void *x, void *y, int64_t outer, int64_t chunk, int64_t out_row, int64_t off);

typedef struct {
  int32_t NC, H, W, OH, OW, mode, coord, nearest;
} esdk_resize_args;
void esdk_resize_f32_scalar(const esdk_resize_args *a, const float *x, float *y);
void esdk_resize_i8_scalar(const esdk_resize_args *a, const int8_t *x, int8_t *y);

/* in-place kernels (y == x): inplace-i8-scalar.c; the limits bound their stack buffers */
#define ESDK_INPLACE_MAX_K 5
#define ESDK_INPLACE_MAX_W 128
#define ESDK_INPLACE_MAX_C 256
int esdk_dwconv_i8_inplace_ok(const esdk_conv_args *a);
int esdk_conv1x1_i8_inplace_ok(const esdk_conv_args *a);
int esdk_dwconv_i8_inplace(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
int esdk_conv1x1_i8_inplace(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
void esdk_quantize_f32_scalar(const float *x, int8_t *y, int64_t n, float scale, int32_t zp);
void esdk_dequantize_i8_scalar(const int8_t *x, float *y, int64_t n, float scale, int32_t zp);
void esdk_requantize_i8_scalar(const int8_t *x, int8_t *y, int64_t n, int32_t zx, int32_t zy, int32_t mult,
                               int32_t shift);

/* Fast kernels of one ISA; NULL entries fall back to scalar. Each function may decline a
   shape it does not cover by returning 0, and the scalar kernel then runs. */
typedef struct {
  const char *name;
  int (*conv1x1_f32)(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
  int (*dwconv3x3_f32)(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y);
  int (*conv1x1_i8)(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
  int (*fc_f32)(const esdk_fc_args *a, const float *x, const float *w, const float *b, float *y);
  int (*fc_i8)(const esdk_fc_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
  int (*spmm_f32)(const esdk_spmm_args *a, const float *x, const float *v, const float *b, float *y);
  int (*spmm_i8)(const esdk_spmm_args *a, const int8_t *x, const int8_t *v, const int32_t *b, int8_t *y);
  /* Slots below were appended (x86 fp32 work); tables set them by designator, so positional
     tables elsewhere leave them NULL. */
  int (*conv2d_f32)(const esdk_conv_args *a, const float *x, const float *w, const float *b, float *y); /* any KxK */
  /* depthwise int8 (group == C == M), any kernel / stride / padding: the Cortex-M sets */
  int (*dwconv_i8)(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
  /* int8 conv of any shape that the 1x1 and depthwise slots did not take (x86 int8 work) */
  int (*conv2d_i8)(const esdk_conv_args *a, const int8_t *x, const int8_t *w, const int32_t *b, int8_t *y);
  /* QUANTIZE / DEQUANTIZE, bit-exact with quant-scalar.c (x86 int8 work); never decline */
  void (*quantize_f32)(const float *x, int8_t *y, int64_t n, float scale, int32_t zp);
  void (*dequantize_i8)(const int8_t *x, float *y, int64_t n, float scale, int32_t zp);
  /* BINARY f32 (x86 fp32 work): may decline (returns 0) a stride pattern or kind */
  int (*binary_f32)(const esdk_binary_args *a, const float *A, const float *B, float *Y);
  void (*global_avgpool_f32)(const float *x, float *y, int64_t nc, int64_t hw); /* never declines */
  /* BINARY int8 Add / Mul (x86 int8 work): may decline a stride pattern or parameters */
  int (*binary_i8)(const esdk_binary_args *a, const int8_t *A, const int8_t *B, int8_t *Y);
} esdk_isa_kernels;

extern const esdk_isa_kernels esdk_kernels_scalar;
extern const esdk_isa_kernels esdk_kernels_avx2;
extern const esdk_isa_kernels esdk_kernels_avx512;
/* Cortex-M sets, chosen at compile time (ESDK_ISA_DSP / ESDK_ISA_MVE): MCU firmware has one
   CPU, so there is nothing to detect. */
extern const esdk_isa_kernels esdk_kernels_dsp;
extern const esdk_isa_kernels esdk_kernels_helium;
extern const esdk_isa_kernels esdk_kernels_neon;     /* aarch64: kernels/neon/table-neon.c */
extern const esdk_isa_kernels esdk_kernels_neon_dot; /* aarch64 with SDOT (HWCAP asimddp) */
#endif
