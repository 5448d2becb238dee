/* edge-sdk native runtime: the whole public C API.
 *
 * The runtime never allocates. The caller owns three pieces of memory:
 *   - the artifact bytes (may be memory-mapped flash; read only, used in place),
 *   - the model context (esdk_model_size() bytes, 16-byte aligned),
 *   - the arena (esdk_arena_size() bytes, 64-byte aligned), holding every activation.
 * esdk_load validates the whole artifact (docs/format.md, "What a loader must check")
 * before anything can run.
 */
#ifndef EDGE_SDK_H
#define EDGE_SDK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ESDK_MAX_RANK 6

typedef enum {
  ESDK_OK = 0,
  ESDK_ERR_ARG = 1,       /* NULL pointer, bad index, misaligned buffer */
  ESDK_ERR_FORMAT = 2,    /* malformed artifact: bad magic, counts, offsets, shapes */
  ESDK_ERR_VERSION = 3,   /* unsupported major version */
  ESDK_ERR_CHECKSUM = 4,  /* a CRC does not match */
  ESDK_ERR_TRUNCATED = 5, /* buffer shorter than the file says */
  ESDK_ERR_UNSUPPORTED = 6, /* opcode / dtype combination this build does not run */
  ESDK_ERR_ARENA = 7,     /* no arena, or arena too small */
  ESDK_ERR_STATE = 8      /* call out of order (e.g. invoke before load) */
} esdk_status;

typedef enum { ESDK_F32 = 0, ESDK_I8 = 1, ESDK_U8 = 2, ESDK_I32 = 3, ESDK_U32 = 4 } esdk_dtype;

typedef struct esdk_model esdk_model; /* opaque; storage provided by the caller */

typedef struct {
  const char *name;
  esdk_dtype dtype;
  int32_t rank;
  int32_t dims[ESDK_MAX_RANK];
  size_t nbytes;
  float scale;        /* int8 tensors */
  int32_t zero_point; /* int8 tensors */
} esdk_tensor_info;

/* Bytes and alignment the caller must provide for an esdk_model. */
size_t esdk_model_size(void);
size_t esdk_model_align(void);

/* Validate `data` and bind it to `model`. `data` must stay valid while the model is
   used. With skip_crc != 0 checksums are not verified (fuzzing only). */
esdk_status esdk_load(esdk_model *model, const void *data, size_t size);
esdk_status esdk_load_ex(esdk_model *model, const void *data, size_t size, int skip_crc);

/* Message for the last error on this model (never NULL). */
const char *esdk_last_error(const esdk_model *model);
const char *esdk_status_str(esdk_status status);

size_t esdk_arena_size(const esdk_model *model);
esdk_status esdk_set_arena(esdk_model *model, void *arena, size_t size);

/* Kernel selection: 0 = best the CPU supports (default), 1 = scalar reference only,
   2 = at most AVX2 on x86 (for testing that tier on AVX-512 hosts; ESDK_ERR_UNSUPPORTED
   where the CPU lacks AVX2). */
esdk_status esdk_set_isa(esdk_model *model, int isa_level);
/* Name of the ISA the kernels run with: "scalar", "avx2", "avx512", "neon", ... */
const char *esdk_isa_name(const esdk_model *model);

int32_t esdk_num_inputs(const esdk_model *model);
int32_t esdk_num_outputs(const esdk_model *model);
esdk_status esdk_input_info(const esdk_model *model, int32_t index, esdk_tensor_info *info);
esdk_status esdk_output_info(const esdk_model *model, int32_t index, esdk_tensor_info *info);
/* Pointers into the arena, valid after esdk_set_arena. Write inputs, invoke, read outputs. */
void *esdk_input_data(esdk_model *model, int32_t index);
void *esdk_output_data(esdk_model *model, int32_t index);

esdk_status esdk_invoke(esdk_model *model);

/* Worker threads for conv / sparse / fully connected output channels (default 1). Builds
   without ESDK_WITH_PTHREADS accept only n == 1 (ESDK_ERR_UNSUPPORTED otherwise). */
esdk_status esdk_set_threads(esdk_model *model, int n);

/* Introspection for tools: op count and each op's opcode. */
int32_t esdk_num_ops(const esdk_model *model);
int32_t esdk_op_code(const esdk_model *model, int32_t index);

#ifdef __cplusplus
}
#endif
#endif /* EDGE_SDK_H */
