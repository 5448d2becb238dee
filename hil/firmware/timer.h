/* Monotonic time from SysTick. Under qemu with -icount shift=0 every guest instruction
   advances virtual time by 1 ns, so microseconds read here are instructions / 1000. */
#ifndef ESDK_FW_TIMER_H
#define ESDK_FW_TIMER_H
#include <stdint.h>
void timer_init(void);
uint64_t timer_ticks(void);
uint64_t timer_us(void);
#endif
