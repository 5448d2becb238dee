#include "stack_paint.h"

#define PAINT 0xA5A5A5A5u
extern uint32_t __stack_bottom[], __stack_top[];

void stack_paint(void) {
  uint32_t *p = __stack_bottom;
  uint32_t *sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  while (p < sp - 16) *p++ = PAINT; /* leave the live frames (and a margin) alone */
}

uint32_t stack_high_water(void) {
  uint32_t *p = __stack_bottom;
  while (p < __stack_top && *p == PAINT) p++;
  return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

uint32_t stack_size(void) { return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom); }
