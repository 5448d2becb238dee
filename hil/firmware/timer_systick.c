/* SysTick on the processor clock, counting down from 2^24-1; the wrap interrupt extends
   it to 64 bits. The DWT cycle counter would be finer but reads 0 under qemu. */
#include "board.h"
#include "timer.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_RELOAD 0x00FFFFFFu

static volatile uint32_t g_wraps;

void SysTick_Handler(void) { g_wraps++; }

void timer_init(void) {
  SYST_RVR = SYST_RELOAD;
  SYST_CVR = 0;
  SYST_CSR = 7u; /* enable, interrupt on wrap, processor clock */
}

uint64_t timer_ticks(void) {
  uint32_t w1, w2, v;
  /* re-read when a wrap lands between reading the counter and the wrap count */
  do {
    w1 = g_wraps;
    v = SYST_CVR;
    w2 = g_wraps;
  } while (w1 != w2);
  return (uint64_t)w1 * (SYST_RELOAD + 1u) + (SYST_RELOAD - v);
}

uint64_t timer_us(void) { return timer_ticks() / (BOARD_SYSCLK_HZ / 1000000u); }
