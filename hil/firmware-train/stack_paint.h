/* Stack high-water mark by painting: fill the unused stack with a pattern at boot, later
   find the lowest word that is no longer the pattern. */
#ifndef ESDK_FWT_STACK_PAINT_H
#define ESDK_FWT_STACK_PAINT_H
#include <stdint.h>
void stack_paint(void);
uint32_t stack_high_water(void); /* bytes of stack ever used */
uint32_t stack_size(void);
#endif
