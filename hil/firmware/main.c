/* Bench firmware: boots, binds the model in the flash slot, and serves the MLPerf Tiny
   device-under-test protocol on UART0 (docs/mlperf-tiny.md). */
#include "dut.h"
#include "model_slot.h"
#include "timer.h"
#include "uart_cmsdk.h"

int main(void) {
  uart_init();
  timer_init();
  slot_init(); /* a missing or bad model is reported by `model%` and `infer%`, not at boot */
  dut_boot_banner();
  for (;;) {
    int c = uart_getc_nonblock();
    if (c >= 0) dut_feed((char)c);
  }
}
