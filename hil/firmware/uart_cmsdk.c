/* CMSDK APB UART (ARM DDI 0479): DATA, STATE (bit0 TX full, bit1 RX full), CTRL (bit0 TX
   enable, bit1 RX enable), BAUDDIV (>= 16). Polled: between commands the firmware has
   nothing else to do, and a polled loop has no interrupt/WFI races to get wrong. (Under
   qemu the serial socket needs nodelay=on: the reply leaves one byte per write, and with
   Nagle + delayed ACK every reply would wait ~40 ms.) */
#include <stdint.h>
#include "board.h"
#include "uart_cmsdk.h"

#define UART_DATA (*(volatile uint32_t *)(BOARD_UART0_BASE + 0x00))
#define UART_STATE (*(volatile uint32_t *)(BOARD_UART0_BASE + 0x04))
#define UART_CTRL (*(volatile uint32_t *)(BOARD_UART0_BASE + 0x08))
#define UART_BAUDDIV (*(volatile uint32_t *)(BOARD_UART0_BASE + 0x10))

void uart_init(void) {
  UART_BAUDDIV = BOARD_SYSCLK_HZ / 115200u; /* the MLPerf Tiny performance-mode rate */
  UART_CTRL = 3u;                           /* TX and RX enabled, no interrupts */
}

void uart_putc(char c) {
  while (UART_STATE & 1u) {
  }
  UART_DATA = (uint32_t)(uint8_t)c;
}

void uart_write(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) uart_putc(s[i]);
}

void uart_puts(const char *s) {
  while (*s) uart_putc(*s++);
}

int uart_getc_nonblock(void) {
  if (!(UART_STATE & 2u)) return -1;
  return (int)(UART_DATA & 0xFFu);
}
