/* Artifact parsing and validation (docs/format.md, "What a loader must check"). Everything
   is read byte-wise so the buffer may be at any alignment, and all offset arithmetic is done
   in 64 bits with explicit overflow checks: a hostile file must never reach a kernel. */
#include <stdarg.h>
#include <stdio.h>
#include "internal.h"

#define HDR_SIZE 64u
#define SEC_ENTRY 32u
#define TENS_REC 64u
#define OP_REC 16u

static const char *const k_required[] = {"STRS", "TENS", "OPS_", "IOIX", "PARM", "GRPH", "CNST"};
enum { S_STRS, S_TENS, S_OPS, S_IOIX, S_PARM, S_GRPH, S_CNST, S_REQUIRED };

void esdk_set_error(esdk_model *m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->err, sizeof m->err, fmt, ap);
  va_end(ap);
}

size_t esdk_dtype_size(int dtype) {
  switch (dtype) {
    case DT_F32: case DT_I32: case DT_U32: return 4;
    case DT_I8: case DT_U8: return 1;
    default: return 0;
  }
}

uint64_t esdk_nelem(const esdk_tensor *t) {
  uint64_t n = 1;
  int i;
  for (i = 0; i < t->rank; i++) n *= (uint64_t)t->dims[i];
  return n;
}

void esdk_tensor_get(const esdk_model *m, uint32_t idx, esdk_tensor *t) {
  const uint8_t *p = m->tens + (uint64_t)idx * TENS_REC;
  int i;
  t->name = esdk_rd32(p);
  t->dtype = p[4];
  t->rank = p[5];
  t->storage = p[6];
  t->flags = p[7];
  for (i = 0; i < ESDK_MAX_RANK; i++) t->dims[i] = (int32_t)esdk_rd32(p + 8 + 4 * i);
  t->offset = esdk_rd64(p + 32);
  t->nbytes = esdk_rd64(p + 40);
  t->scale = esdk_rdf32(p + 48);
  t->zp = (int32_t)esdk_rd32(p + 52);
}

void esdk_op_get(const esdk_model *m, uint32_t idx, esdk_op *op) {
  const uint8_t *p = m->ops + (uint64_t)idx * OP_REC;
  op->code = (uint16_t)esdk_rd16(p);
  op->nin = p[2];
  op->nout = p[3];
  op->io_start = esdk_rd32(p + 4);
  op->param_start = esdk_rd32(p + 8);
  op->n_params = esdk_rd32(p + 12);
}

const char *esdk_tensor_name(const esdk_model *m, const esdk_tensor *t) {
  return (const char *)(m->strs + t->name);
}

static esdk_status check_header(esdk_model *m, const uint8_t *d, size_t size, int skip_crc, uint32_t *nsec) {
  uint8_t hdr[HDR_SIZE];
  uint32_t crc, want;
  uint64_t fsize;
  int i;
  if (size < HDR_SIZE) {
    esdk_set_error(m, "buffer of %zu bytes is shorter than the 64-byte header", size);
    return ESDK_ERR_TRUNCATED;
  }
  if (memcmp(d, "ESDK", 4) != 0) {
    esdk_set_error(m, "bad magic (expected \"ESDK\")");
    return ESDK_ERR_FORMAT;
  }
  if (esdk_rd16(d + 4) != 1) {
    esdk_set_error(m, "unsupported format major version %u (this runtime reads 1)", esdk_rd16(d + 4));
    return ESDK_ERR_VERSION;
  }
  if (esdk_rd32(d + 8) != HDR_SIZE) {
    esdk_set_error(m, "header_size %u, expected 64", esdk_rd32(d + 8));
    return ESDK_ERR_FORMAT;
  }
  memcpy(hdr, d, HDR_SIZE);
  memset(hdr + 40, 0, 4);
  want = esdk_rd32(d + 40);
  crc = esdk_crc32(hdr, HDR_SIZE);
  if (!skip_crc && crc != want) {
    esdk_set_error(m, "header CRC 0x%08x does not match stored 0x%08x", crc, want);
    return ESDK_ERR_CHECKSUM;
  }
  fsize = esdk_rd64(d + 16);
  if (fsize > size) {
    esdk_set_error(m, "file_size %llu exceeds the %zu-byte buffer", (unsigned long long)fsize, size);
    return ESDK_ERR_TRUNCATED;
  }
  if (fsize != size) {
    esdk_set_error(m, "file_size %llu differs from the %zu-byte buffer", (unsigned long long)fsize, size);
    return ESDK_ERR_FORMAT;
  }
  *nsec = esdk_rd32(d + 12);
  if (*nsec < 1 || *nsec > 64) {
    esdk_set_error(m, "section_count %u outside 1..64", *nsec);
    return ESDK_ERR_FORMAT;
  }
  if (esdk_rd32(d + 32) != HDR_SIZE) {
    esdk_set_error(m, "section_table_offset %u, expected 64", esdk_rd32(d + 32));
    return ESDK_ERR_FORMAT;
  }
  if (esdk_rd32(d + 36) != 0) {
    esdk_set_error(m, "header flags 0x%x, expected 0", esdk_rd32(d + 36));
    return ESDK_ERR_FORMAT;
  }
  for (i = 44; i < 64; i++)
    if (d[i] != 0) {
      esdk_set_error(m, "header reserved byte %d is not zero", i);
      return ESDK_ERR_FORMAT;
    }
  m->arena_size = esdk_rd64(d + 24);
  if (m->arena_size > ((uint64_t)1 << 48)) {
    esdk_set_error(m, "arena_size %llu is absurd", (unsigned long long)m->arena_size);
    return ESDK_ERR_FORMAT;
  }
  return ESDK_OK;
}

static esdk_status check_sections(esdk_model *m, const uint8_t *d, size_t size, uint32_t nsec, int skip_crc,
                                  uint64_t off[S_REQUIRED], uint64_t sz[S_REQUIRED]) {
  uint64_t table_end = HDR_SIZE + (uint64_t)nsec * SEC_ENTRY;
  uint32_t i, j;
  int k, found[S_REQUIRED] = {0};
  if (table_end > size) {
    esdk_set_error(m, "section table [64, %llu) runs past the %zu-byte file", (unsigned long long)table_end, size);
    return ESDK_ERR_TRUNCATED;
  }
  for (i = 0; i < nsec; i++) {
    const uint8_t *e = d + HDR_SIZE + i * SEC_ENTRY;
    uint64_t so = esdk_rd64(e + 8), ss = esdk_rd64(e + 16);
    uint32_t crc;
    if (esdk_rd32(e + 4) != 0 || esdk_rd32(e + 28) != 0) {
      esdk_set_error(m, "section %u (%.4s): nonzero flags or reserved field", i, (const char *)e);
      return ESDK_ERR_FORMAT;
    }
    if (so % 64 != 0) {
      esdk_set_error(m, "section %u (%.4s): offset %llu not a multiple of 64", i, (const char *)e,
                     (unsigned long long)so);
      return ESDK_ERR_FORMAT;
    }
    if (so < table_end || so > size || ss > size - so) {
      esdk_set_error(m, "section %u (%.4s): [%llu, +%llu) outside the file body [%llu, %zu)", i, (const char *)e,
                     (unsigned long long)so, (unsigned long long)ss, (unsigned long long)table_end, size);
      return so > size || ss > size - so ? ESDK_ERR_TRUNCATED : ESDK_ERR_FORMAT;
    }
    for (j = 0; j < i; j++) {
      const uint8_t *f = d + HDR_SIZE + j * SEC_ENTRY;
      uint64_t fo = esdk_rd64(f + 8), fs = esdk_rd64(f + 16);
      if (memcmp(e, f, 4) == 0) {
        esdk_set_error(m, "section kind %.4s appears twice", (const char *)e);
        return ESDK_ERR_FORMAT;
      }
      if (ss && fs && so < fo + fs && fo < so + ss) {
        esdk_set_error(m, "sections %u (%.4s) and %u (%.4s) overlap", j, (const char *)f, i, (const char *)e);
        return ESDK_ERR_FORMAT;
      }
    }
    crc = esdk_crc32(d + so, (size_t)ss);
    if (!skip_crc && crc != esdk_rd32(e + 24)) {
      esdk_set_error(m, "section %.4s: CRC 0x%08x does not match stored 0x%08x", (const char *)e, crc,
                     esdk_rd32(e + 24));
      return ESDK_ERR_CHECKSUM;
    }
    for (k = 0; k < S_REQUIRED; k++)
      if (memcmp(e, k_required[k], 4) == 0) {
        found[k] = 1;
        off[k] = so;
        sz[k] = ss;
      }
  }
  for (k = 0; k < S_REQUIRED; k++)
    if (!found[k]) {
      esdk_set_error(m, "required section %s is missing", k_required[k]);
      return ESDK_ERR_FORMAT;
    }
  return ESDK_OK;
}

static esdk_status check_tensor(esdk_model *m, uint32_t i) {
  esdk_tensor t;
  uint64_t n = 1, lim;
  size_t esz;
  int k;
  esdk_tensor_get(m, i, &t);
  esz = esdk_dtype_size(t.dtype);
  if (!esz) {
    esdk_set_error(m, "tensor %u: unknown dtype %u", i, t.dtype);
    return ESDK_ERR_FORMAT;
  }
  if (t.rank > ESDK_MAX_RANK) {
    esdk_set_error(m, "tensor %u: rank %u > 6", i, t.rank);
    return ESDK_ERR_FORMAT;
  }
  if (t.storage > 1) {
    esdk_set_error(m, "tensor %u: unknown storage %u", i, t.storage);
    return ESDK_ERR_FORMAT;
  }
  if (t.flags & ~7u) {
    esdk_set_error(m, "tensor %u: unknown flag bits 0x%x", i, t.flags);
    return ESDK_ERR_FORMAT;
  }
  if (t.name >= m->strs_size || memchr(m->strs + t.name, 0, (size_t)(m->strs_size - t.name)) == NULL) {
    esdk_set_error(m, "tensor %u: name offset %u has no NUL terminator inside STRS (%llu bytes)", i, t.name,
                   (unsigned long long)m->strs_size);
    return ESDK_ERR_FORMAT;
  }
  for (k = 0; k < t.rank; k++) {
    if (t.dims[k] < 1) {
      esdk_set_error(m, "tensor %u (%s): dim %d is %d", i, esdk_tensor_name(m, &t), k, t.dims[k]);
      return ESDK_ERR_FORMAT;
    }
    n *= (uint64_t)t.dims[k]; /* each factor < 2^31 and the running product stays < 2^40 below */
    if (n > ((uint64_t)1 << 40)) {
      esdk_set_error(m, "tensor %u (%s): element count overflows", i, esdk_tensor_name(m, &t));
      return ESDK_ERR_FORMAT;
    }
  }
  if (n * esz != t.nbytes) {
    esdk_set_error(m, "tensor %u (%s): nbytes %llu, but dims give %llu", i, esdk_tensor_name(m, &t),
                   (unsigned long long)t.nbytes, (unsigned long long)(n * esz));
    return ESDK_ERR_FORMAT;
  }
  if ((t.dtype == DT_I8 && (t.zp < -128 || t.zp > 127)) || (t.dtype == DT_U8 && (t.zp < 0 || t.zp > 255))) {
    esdk_set_error(m, "tensor %u (%s): zero point %d outside its dtype's range", i, esdk_tensor_name(m, &t), t.zp);
    return ESDK_ERR_FORMAT;
  }
  lim = t.storage ? m->cnst_size : m->arena_size;
  if (t.offset > lim || t.nbytes > lim - t.offset) {
    esdk_set_error(m, "tensor %u (%s): %s data [offset %llu, %llu bytes) outside %s (%llu bytes)", i,
                   esdk_tensor_name(m, &t), t.storage ? "constant" : "arena", (unsigned long long)t.offset,
                   (unsigned long long)t.nbytes, t.storage ? "CNST" : "the arena", (unsigned long long)lim);
    return ESDK_ERR_FORMAT;
  }
  /* 64-byte constant offsets keep every element naturally aligned given a 4-aligned file;
     arena tensors need element alignment for the typed kernels. */
  if (t.storage ? (t.offset % 64 != 0) : (t.offset % esz != 0)) {
    esdk_set_error(m, "tensor %u (%s): offset %llu misaligned", i, esdk_tensor_name(m, &t),
                   (unsigned long long)t.offset);
    return ESDK_ERR_FORMAT;
  }
  return ESDK_OK;
}

static int is_graph_input(const esdk_model *m, uint32_t t) {
  uint32_t i;
  for (i = 0; i < m->n_in; i++)
    if (esdk_rd32(m->grph + 8 + 4 * i) == t) return 1;
  return 0;
}

esdk_status esdk_load_ex(esdk_model *m, const void *data, size_t size, int skip_crc) {
  const uint8_t *d = (const uint8_t *)data;
  uint64_t off[S_REQUIRED] = {0}, sz[S_REQUIRED] = {0}, ntens;
  uint32_t nsec, i, j;
  esdk_status st;
  if (!m) return ESDK_ERR_ARG;
  if ((uintptr_t)m % esdk_model_align()) return ESDK_ERR_ARG;
  memset(m, 0, sizeof *m);
  m->isa_level = 0;
  m->n_threads = 1;
  if (!data) {
    esdk_set_error(m, "artifact pointer is NULL");
    return ESDK_ERR_ARG;
  }
  if ((uintptr_t)data % 4) {
    esdk_set_error(m, "artifact buffer must be at least 4-byte aligned (64 recommended)");
    return ESDK_ERR_ARG;
  }
  if ((st = check_header(m, d, size, skip_crc, &nsec)) != ESDK_OK) return st;
  if ((st = check_sections(m, d, size, nsec, skip_crc, off, sz)) != ESDK_OK) return st;
  m->data = d;
  m->size = size;
  m->strs = d + off[S_STRS];
  m->strs_size = sz[S_STRS];
  m->tens = d + off[S_TENS];
  m->ops = d + off[S_OPS];
  m->ioix = d + off[S_IOIX];
  m->parm = d + off[S_PARM];
  m->grph = d + off[S_GRPH];
  m->cnst = d + off[S_CNST];
  m->cnst_size = sz[S_CNST];
  if (m->strs_size < 1 || m->strs[0] != 0) {
    esdk_set_error(m, "STRS must start with a NUL byte");
    return ESDK_ERR_FORMAT;
  }
  if (sz[S_TENS] % TENS_REC || sz[S_OPS] % OP_REC || sz[S_IOIX] % 4 || sz[S_PARM] % 4) {
    esdk_set_error(m, "TENS/OPS_/IOIX/PARM sizes (%llu/%llu/%llu/%llu) not multiples of their record sizes",
                   (unsigned long long)sz[S_TENS], (unsigned long long)sz[S_OPS], (unsigned long long)sz[S_IOIX],
                   (unsigned long long)sz[S_PARM]);
    return ESDK_ERR_FORMAT;
  }
  ntens = sz[S_TENS] / TENS_REC;
  if (ntens > ESDK_MAX_TENSORS) {
    esdk_set_error(m, "%llu tensors exceed this runtime's limit of %d", (unsigned long long)ntens, ESDK_MAX_TENSORS);
    return ESDK_ERR_UNSUPPORTED;
  }
  m->n_tensors = (uint32_t)ntens;
  m->n_ops = (uint32_t)(sz[S_OPS] / OP_REC); /* file size < 2^64 / 16 keeps these in range below */
  if (sz[S_OPS] / OP_REC > 0x7FFFFFFF || sz[S_IOIX] / 4 > 0xFFFFFFFF || sz[S_PARM] / 4 > 0xFFFFFFFF) {
    esdk_set_error(m, "op/IO/parameter tables too large");
    return ESDK_ERR_FORMAT;
  }
  m->n_ioix = (uint32_t)(sz[S_IOIX] / 4);
  m->n_parm = (uint32_t)(sz[S_PARM] / 4);
  if (sz[S_GRPH] < 8) {
    esdk_set_error(m, "GRPH section of %llu bytes is shorter than its 8-byte counts", (unsigned long long)sz[S_GRPH]);
    return ESDK_ERR_FORMAT;
  }
  m->n_in = esdk_rd32(m->grph);
  m->n_out = esdk_rd32(m->grph + 4);
  if ((uint64_t)m->n_in + m->n_out > 0x7FFFFFFF || 8 + 4 * ((uint64_t)m->n_in + m->n_out) != sz[S_GRPH]) {
    esdk_set_error(m, "GRPH: %u inputs + %u outputs do not match its %llu bytes", m->n_in, m->n_out,
                   (unsigned long long)sz[S_GRPH]);
    return ESDK_ERR_FORMAT;
  }
  for (i = 0; i < m->n_tensors; i++)
    if ((st = check_tensor(m, i)) != ESDK_OK) return st;
  for (i = 0; i < m->n_in + m->n_out; i++) {
    uint32_t t = esdk_rd32(m->grph + 8 + 4 * i);
    esdk_tensor td;
    if (t >= m->n_tensors) {
      esdk_set_error(m, "graph %s %u: tensor index %u out of range (%u tensors)", i < m->n_in ? "input" : "output",
                     i < m->n_in ? i : i - m->n_in, t, m->n_tensors);
      return ESDK_ERR_FORMAT;
    }
    esdk_tensor_get(m, t, &td);
    if (td.storage != 0) {
      esdk_set_error(m, "graph %s %u: tensor %u (%s) is a constant, not an arena tensor",
                     i < m->n_in ? "input" : "output", i < m->n_in ? i : i - m->n_in, t, esdk_tensor_name(m, &td));
      return ESDK_ERR_FORMAT;
    }
    if (i < m->n_in) m->defined[t >> 3] |= (uint8_t)(1u << (t & 7));
  }
  for (i = 0; i < m->n_ops; i++) {
    esdk_op op;
    esdk_op_get(m, i, &op);
    if (op.code < 1 || op.code >= OP_COUNT) {
      esdk_set_error(m, "op %u: unknown opcode %u", i, op.code);
      return ESDK_ERR_FORMAT;
    }
    if ((uint64_t)op.io_start + op.nin + op.nout > m->n_ioix) {
      esdk_set_error(m, "op %u: IO entries [%u, +%u) outside IOIX (%u entries)", i, op.io_start, op.nin + op.nout,
                     m->n_ioix);
      return ESDK_ERR_FORMAT;
    }
    if ((uint64_t)op.param_start + op.n_params > m->n_parm) {
      esdk_set_error(m, "op %u: parameters [%u, +%u) outside PARM (%u words)", i, op.param_start, op.n_params,
                     m->n_parm);
      return ESDK_ERR_FORMAT;
    }
    if (op.nout != 1 || op.nin < 1) {
      esdk_set_error(m, "op %u (opcode %u): %u inputs / %u outputs (need >= 1 input and exactly 1 output)", i,
                     op.code, op.nin, op.nout);
      return ESDK_ERR_FORMAT;
    }
    for (j = 0; j < (uint32_t)op.nin + op.nout; j++) {
      uint32_t t = esdk_op_io(m, &op, j);
      esdk_tensor td;
      if (t == ESDK_ABSENT && j < op.nin) continue; /* optionality is checked per opcode */
      if (t >= m->n_tensors) {
        esdk_set_error(m, "op %u: %s %u references tensor %u (%u tensors)", i, j < op.nin ? "input" : "output",
                       j < op.nin ? j : j - op.nin, t, m->n_tensors);
        return ESDK_ERR_FORMAT;
      }
      esdk_tensor_get(m, t, &td);
      if (j < op.nin) {
        if (td.storage == 0 && !(m->defined[t >> 3] & (1u << (t & 7)))) {
          esdk_set_error(m, "op %u: input %u is tensor %u (%s), used before any op defines it", i, j, t,
                         esdk_tensor_name(m, &td));
          return ESDK_ERR_FORMAT;
        }
      } else if (td.storage != 0) {
        esdk_set_error(m, "op %u: output tensor %u (%s) is a constant", i, t, esdk_tensor_name(m, &td));
        return ESDK_ERR_FORMAT;
      } else if (is_graph_input(m, t)) {
        esdk_set_error(m, "op %u: output tensor %u (%s) is a graph input", i, t, esdk_tensor_name(m, &td));
        return ESDK_ERR_FORMAT;
      }
    }
    if ((st = esdk_validate_op(m, i, &op)) != ESDK_OK) return st;
    for (j = op.nin; j < (uint32_t)op.nin + op.nout; j++) {
      uint32_t t = esdk_op_io(m, &op, j);
      m->defined[t >> 3] |= (uint8_t)(1u << (t & 7));
    }
  }
  for (i = 0; i < m->n_out; i++) {
    uint32_t t = esdk_rd32(m->grph + 8 + 4 * (m->n_in + i));
    if (!(m->defined[t >> 3] & (1u << (t & 7)))) {
      esdk_set_error(m, "graph output %u: tensor %u is never produced", i, t);
      return ESDK_ERR_FORMAT;
    }
  }
  m->isa = esdk_select_isa(0);
  m->magic = ESDK_MODEL_MAGIC;
  m->err[0] = 0;
  return ESDK_OK;
}

esdk_status esdk_load(esdk_model *m, const void *data, size_t size) { return esdk_load_ex(m, data, size, 0); }
