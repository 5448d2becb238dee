/* Public API around the loaded model. */
#include "internal.h"

size_t esdk_model_size(void) { return sizeof(esdk_model); }
size_t esdk_model_align(void) { return 16; }

static int loaded(const esdk_model *m) { return m && m->magic == ESDK_MODEL_MAGIC; }

const char *esdk_last_error(const esdk_model *m) {
  if (!m) return "model pointer is NULL";
  return m->err[0] ? m->err : "no error";
}

const char *esdk_status_str(esdk_status s) {
  switch (s) {
    case ESDK_OK: return "ok";
    case ESDK_ERR_ARG: return "invalid argument";
    case ESDK_ERR_FORMAT: return "malformed artifact";
    case ESDK_ERR_VERSION: return "unsupported version";
    case ESDK_ERR_CHECKSUM: return "checksum mismatch";
    case ESDK_ERR_TRUNCATED: return "truncated artifact";
    case ESDK_ERR_UNSUPPORTED: return "unsupported";
    case ESDK_ERR_ARENA: return "arena missing or too small";
    case ESDK_ERR_STATE: return "call out of order";
    default: return "unknown status";
  }
}

size_t esdk_arena_size(const esdk_model *m) { return loaded(m) ? (size_t)m->arena_size : 0; }

esdk_status esdk_set_arena(esdk_model *m, void *arena, size_t size) {
  if (!m) return ESDK_ERR_ARG;
  if (!loaded(m)) return ESDK_ERR_STATE;
  if (!arena || (uintptr_t)arena % 64) {
    esdk_set_error(m, "arena must be a non-NULL 64-byte aligned pointer");
    return ESDK_ERR_ARG;
  }
  if (size < m->arena_size) {
    esdk_set_error(m, "arena of %zu bytes is smaller than the %llu the model needs", size,
                   (unsigned long long)m->arena_size);
    return ESDK_ERR_ARENA;
  }
  m->arena = (uint8_t *)arena;
  return ESDK_OK;
}

esdk_status esdk_set_isa(esdk_model *m, int level) {
  if (!m) return ESDK_ERR_ARG;
  if (!loaded(m)) return ESDK_ERR_STATE;
  if (level < 0 || level > 2) {
    esdk_set_error(m, "isa level %d: use 0 (best), 1 (scalar) or 2 (at most AVX2)", level);
    return ESDK_ERR_ARG;
  }
  if (level == 2 && !esdk_cpu_has_avx2()) {
    esdk_set_error(m, "isa level 2 needs an AVX2 CPU");
    return ESDK_ERR_UNSUPPORTED;
  }
  m->isa_level = level;
  m->isa = esdk_select_isa(level);
  return ESDK_OK;
}

const char *esdk_isa_name(const esdk_model *m) {
  return loaded(m) ? m->isa->name : esdk_select_isa(0)->name;
}

int32_t esdk_num_inputs(const esdk_model *m) { return loaded(m) ? (int32_t)m->n_in : 0; }
int32_t esdk_num_outputs(const esdk_model *m) { return loaded(m) ? (int32_t)m->n_out : 0; }
int32_t esdk_num_ops(const esdk_model *m) { return loaded(m) ? (int32_t)m->n_ops : 0; }

int32_t esdk_op_code(const esdk_model *m, int32_t i) {
  esdk_op op;
  if (!loaded(m) || i < 0 || (uint32_t)i >= m->n_ops) return -1;
  esdk_op_get(m, (uint32_t)i, &op);
  return op.code;
}

static int io_tensor(const esdk_model *m, int out, int32_t i, esdk_tensor *t) {
  uint32_t n = out ? m->n_out : m->n_in;
  if (!loaded(m) || i < 0 || (uint32_t)i >= n) return 0;
  esdk_tensor_get(m, esdk_rd32(m->grph + 8 + 4 * ((out ? m->n_in : 0) + (uint32_t)i)), t);
  return 1;
}

static esdk_status info(const esdk_model *m, int out, int32_t i, esdk_tensor_info *info) {
  esdk_tensor t;
  int k;
  if (!info || !io_tensor(m, out, i, &t)) return loaded(m) || !m ? ESDK_ERR_ARG : ESDK_ERR_STATE;
  info->name = esdk_tensor_name(m, &t);
  info->dtype = (esdk_dtype)t.dtype;
  info->rank = t.rank;
  for (k = 0; k < ESDK_MAX_RANK; k++) info->dims[k] = k < t.rank ? t.dims[k] : 1;
  info->nbytes = (size_t)t.nbytes;
  info->scale = t.scale;
  info->zero_point = t.zp;
  return ESDK_OK;
}

esdk_status esdk_input_info(const esdk_model *m, int32_t i, esdk_tensor_info *o) { return info(m, 0, i, o); }
esdk_status esdk_output_info(const esdk_model *m, int32_t i, esdk_tensor_info *o) { return info(m, 1, i, o); }

static void *io_data(esdk_model *m, int out, int32_t i) {
  esdk_tensor t;
  if (!io_tensor(m, out, i, &t) || !m->arena) return NULL;
  return m->arena + t.offset;
}

void *esdk_input_data(esdk_model *m, int32_t i) { return io_data(m, 0, i); }
void *esdk_output_data(esdk_model *m, int32_t i) { return io_data(m, 1, i); }
