/* Polled driver for the CMSDK APB UART of the MPS2/MPS3 FPGA images. */
#ifndef ESDK_FW_UART_H
#define ESDK_FW_UART_H
#include <stddef.h>

void uart_init(void);
void uart_putc(char c);
void uart_write(const char *s, size_t n);
void uart_puts(const char *s);
/* -1 when no byte is waiting. */
int uart_getc_nonblock(void);
#endif
