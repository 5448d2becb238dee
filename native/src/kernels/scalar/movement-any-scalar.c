/* Transpose, slice, pad and concat for any element size, over rank-6 views. The innermost
   dimension is specialised by element size so the copy is a typed load/store. */
#include <string.h>
#include "../kernels.h"
#include "../../runtime/opcodes.h"

static void copy_el(void *dst, const void *src, size_t esz) {
  if (esz == 4) *(uint32_t *)dst = *(const uint32_t *)src;
  else if (esz == 1) *(uint8_t *)dst = *(const uint8_t *)src;
  else memcpy(dst, src, esz);
}

/* Y (dense, od) gets X[base + sum idx_k * istr_k] */
static void gather6(const uint8_t *x, uint8_t *y, size_t esz, const int64_t od[6], const int64_t istr[6], int64_t base) {
  int64_t i0, i1, i2, i3, i4, i5;
  for (i0 = 0; i0 < od[0]; i0++)
    for (i1 = 0; i1 < od[1]; i1++)
      for (i2 = 0; i2 < od[2]; i2++)
        for (i3 = 0; i3 < od[3]; i3++)
          for (i4 = 0; i4 < od[4]; i4++) {
            int64_t o = base + i0 * istr[0] + i1 * istr[1] + i2 * istr[2] + i3 * istr[3] + i4 * istr[4];
            for (i5 = 0; i5 < od[5]; i5++, y += esz) copy_el(y, x + (o + i5 * istr[5]) * (int64_t)esz, esz);
          }
}

void esdk_transpose_any_scalar(const void *x, void *y, size_t esz, const int64_t od[6], const int64_t istr[6]) {
  gather6((const uint8_t *)x, (uint8_t *)y, esz, od, istr, 0);
}

void esdk_slice_any_scalar(const void *x, void *y, size_t esz, const int64_t od[6], const int64_t istr[6], int64_t base) {
  gather6((const uint8_t *)x, (uint8_t *)y, esz, od, istr, base);
}

/* source index along one axis, or -1 for a constant-padded position */
static int64_t src_index(int64_t o, int64_t begin, int64_t dim, int mode) {
  int64_t j = o - begin;
  if (j >= 0 && j < dim) return j;
  if (mode == PAD_CONSTANT) return -1;
  if (mode == PAD_EDGE) return j < 0 ? 0 : dim - 1;
  return j < 0 ? -j : 2 * (dim - 1) - j; /* reflect; the loader bounds pads by dim - 1 */
}

void esdk_pad_any_scalar(const void *xv, void *yv, size_t esz, const int64_t id[6], const int64_t begin[6],
                         const int64_t od[6], int mode, const void *value) {
  const uint8_t *x = (const uint8_t *)xv;
  uint8_t *y = (uint8_t *)yv;
  int64_t s[6], i[6], t = 1;
  int k;
  for (k = 5; k >= 0; k--) {
    s[k] = t;
    t *= id[k];
  }
  for (i[0] = 0; i[0] < od[0]; i[0]++)
    for (i[1] = 0; i[1] < od[1]; i[1]++)
      for (i[2] = 0; i[2] < od[2]; i[2]++)
        for (i[3] = 0; i[3] < od[3]; i[3]++)
          for (i[4] = 0; i[4] < od[4]; i[4]++) {
            int64_t off = 0;
            int outside = 0;
            for (k = 0; k < 5; k++) {
              int64_t j = src_index(i[k], begin[k], id[k], mode);
              if (j < 0) outside = 1;
              else off += j * s[k];
            }
            for (i[5] = 0; i[5] < od[5]; i[5]++, y += esz) {
              int64_t j = src_index(i[5], begin[5], id[5], mode);
              if (outside || j < 0) copy_el(y, value, esz);
              else copy_el(y, x + (off + j) * (int64_t)esz, esz);
            }
          }
}

void esdk_concat_any_scalar(const void *x, void *y, int64_t outer, int64_t chunk, int64_t out_row, int64_t off) {
  int64_t o;
  for (o = 0; o < outer; o++) memmove((uint8_t *)y + o * out_row + off, (const uint8_t *)x + o * chunk, (size_t)chunk);
}
