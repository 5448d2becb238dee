#include <string.h>
#include "wslots.h"

extern uint8_t __wslot_start[], __wslot_size[];
uint32_t esdk_crc32(const uint8_t *p, size_t n);

static uint8_t *slot(int i) { return __wslot_start + (size_t)i * (size_t)(uintptr_t)__wslot_size; }
size_t wslot_capacity(void) { return (size_t)(uintptr_t)__wslot_size - sizeof(wslot_header); }
const uint8_t *wslot_payload(int i) { return slot(i) + sizeof(wslot_header); }

static int valid(int i, size_t size, wslot_header *h) {
  memcpy(h, slot(i), sizeof *h);
  return h->magic == WSLOT_MAGIC && h->size == size && size <= wslot_capacity() &&
         esdk_crc32(wslot_payload(i), size) == h->crc;
}

int wslot_newest(size_t size, wslot_header *h) {
  wslot_header a, b;
  int va = valid(0, size, &a), vb = valid(1, size, &b);
  if (!va && !vb) return -1;
  if (va && (!vb || (int32_t)(a.seq - b.seq) > 0)) return *h = a, 0;
  return *h = b, 1;
}

/* byte-at-a-time "programming" so a cut can land on any byte */
static int32_t g_budget;
static void program(volatile uint8_t *dst, const uint8_t *src, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    if (g_budget == 0)
      for (;;) { /* power is gone */
      }
    if (g_budget > 0) g_budget--;
    dst[i] = src[i];
  }
}

uint32_t wslot_save(const void *blob, size_t size, uint32_t steps, int32_t cut_at) {
  wslot_header cur, h;
  int newest = wslot_newest(size, &cur), target = newest == 0 ? 1 : 0;
  static const uint8_t erased[16] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                     0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  volatile uint8_t *s = slot(target);
  g_budget = cut_at;
  h.magic = WSLOT_MAGIC;
  h.seq = newest < 0 ? 1 : cur.seq + 1;
  h.size = (uint32_t)size;
  h.crc = esdk_crc32((const uint8_t *)blob, size);
  h.steps = steps;
  program(s, erased, sizeof erased);                                 /* erase: header first */
  program(s + sizeof h, (const uint8_t *)blob, size);                /* payload */
  program(s + 4, (const uint8_t *)&h + 4, sizeof h - 4);             /* seq, size, crc, steps */
  program(s, (const uint8_t *)&h, 4);                                /* magic last: the commit */
  g_budget = -1;
  return h.seq;
}
