/* Vector table and reset handler: copy .data from flash, zero .bss, turn the FPU (and on
   the M55 the MVE unit, which shares CP10/CP11) on, then main(). */
#include <stdint.h>

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
int main(void);
void SysTick_Handler(void);

void Reset_Handler(void);
static void Fault_Handler(void) {
  for (;;) { /* a fault stops the board; the host sees a timeout, never garbage */
  }
}
static void Ignore_Handler(void) {}

/* The 16 system exceptions; the firmware polls its UART and takes no device interrupts. */
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))&__stack_top, Reset_Handler, Fault_Handler, Fault_Handler, /* NMI, HardFault */
    Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,                /* MemManage, Bus, Usage, Secure */
    0, 0, 0, Ignore_Handler, Ignore_Handler, 0, Ignore_Handler, SysTick_Handler};

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void) {
  uint32_t *s = &__data_load, *d = &__data_start;
  while (d < &__data_end) *d++ = *s++;
  for (d = &__bss_start; d < &__bss_end;) *d++ = 0;
  SCB_CPACR |= 0xFu << 20; /* CP10 + CP11 full access */
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  main();
  for (;;) {
  }
}
