/* Runtime-private definitions shared by loader, model, invoke and the kernels' dispatch. */
#ifndef ESDK_INTERNAL_H
#define ESDK_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "edge_sdk.h"
#include "opcodes.h"
#include "../kernels/kernels.h"

/* The "defined before use" check needs one bit per tensor; this caps the tensor count so the
   model context keeps a fixed size. */
#define ESDK_MAX_TENSORS 65536
#define ESDK_ERR_LEN 200
#define ESDK_MODEL_MAGIC 0x4D4F444Cu

/* One decoded TENS record. Records are decoded on demand (byte reads) so the artifact may
   live at any alignment and the context needs no per-tensor storage. */
typedef struct {
  uint32_t name;
  uint8_t dtype, rank, storage, flags;
  int32_t dims[ESDK_MAX_RANK];
  uint64_t offset, nbytes;
  float scale;
  int32_t zp;
} esdk_tensor;

typedef struct {
  uint16_t code;
  uint8_t nin, nout;
  uint32_t io_start, param_start, n_params;
} esdk_op;

struct esdk_model {
  uint32_t magic; /* set once a load succeeded */
  const uint8_t *data;
  size_t size;
  const uint8_t *strs, *tens, *ops, *ioix, *parm, *grph, *cnst;
  uint64_t strs_size, cnst_size;
  uint32_t n_tensors, n_ops, n_ioix, n_parm, n_in, n_out;
  uint64_t arena_size;
  uint8_t *arena;
  int isa_level;
  const esdk_isa_kernels *isa;
  int n_threads;
  char err[ESDK_ERR_LEN];
  int run_failed; /* set by an op that could not run; esdk_invoke then returns an error */
  uint8_t defined[ESDK_MAX_TENSORS / 8];
};

static inline uint32_t esdk_rd16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
static inline uint32_t esdk_rd32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t esdk_rd64(const uint8_t *p) { return (uint64_t)esdk_rd32(p) | ((uint64_t)esdk_rd32(p + 4) << 32); }
static inline float esdk_rdf32(const uint8_t *p) {
  uint32_t u = esdk_rd32(p);
  float f;
  memcpy(&f, &u, 4);
  return f;
}

uint32_t esdk_crc32(const uint8_t *p, size_t n);
uint32_t esdk_crc32_update(uint32_t crc, const uint8_t *p, size_t n);

void esdk_set_error(esdk_model *m, const char *fmt, ...);
void esdk_tensor_get(const esdk_model *m, uint32_t idx, esdk_tensor *t);
void esdk_op_get(const esdk_model *m, uint32_t idx, esdk_op *op);
static inline uint32_t esdk_op_io(const esdk_model *m, const esdk_op *op, uint32_t i) {
  return esdk_rd32(m->ioix + 4 * ((uint64_t)op->io_start + i));
}
static inline int32_t esdk_op_pi(const esdk_model *m, const esdk_op *op, uint32_t i) {
  return (int32_t)esdk_rd32(m->parm + 4 * ((uint64_t)op->param_start + i));
}
static inline float esdk_op_pf(const esdk_model *m, const esdk_op *op, uint32_t i) {
  return esdk_rdf32(m->parm + 4 * ((uint64_t)op->param_start + i));
}
uint64_t esdk_nelem(const esdk_tensor *t);
size_t esdk_dtype_size(int dtype);
const char *esdk_tensor_name(const esdk_model *m, const esdk_tensor *t);

void esdk_invoke_op(esdk_model *m, uint32_t i);
esdk_status esdk_validate_op(esdk_model *m, uint32_t op_index, const esdk_op *op);
void esdk_act_range(int act, float amin, float amax, float *lo, float *hi);

const esdk_isa_kernels *esdk_select_isa(int level);
int esdk_cpu_has_avx2(void);
int esdk_cpu_has_avx512(void);
int esdk_cpu_has_vbmi(void);  /* AVX512_VBMI: byte permutes (some AVX-512 kernels) */
int esdk_cpu_has_vbmi2(void); /* AVX512_VBMI2: byte expand / compress (some AVX-512 kernels) */

/* Work splitting across output channels; a serial loop without ESDK_WITH_PTHREADS. */
typedef void (*esdk_range_fn)(void *ctx, int32_t begin, int32_t end);
void esdk_parallel_for(esdk_model *m, int32_t n, int32_t align, esdk_range_fn fn, void *ctx);
#endif
