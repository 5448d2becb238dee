/* Training firmware: paints the stack, binds the plan artifact in the model slot, restores
   the newest valid weight slot, then serves the serial protocol. */
#include "stack_paint.h"
#include "timer.h"
#include "train_cmds.h"
#include "uart_cmsdk.h"

int main(void) {
  stack_paint();
  uart_init();
  timer_init();
  cmds_boot();
  for (;;) {
    int c = uart_getc_nonblock();
    if (c >= 0) cmds_feed((char)c);
  }
}
