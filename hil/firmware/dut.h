/* MLPerf Tiny (EEMBC) device-under-test command interpreter. */
#ifndef ESDK_FW_DUT_H
#define ESDK_FW_DUT_H
/* Command text is at most this many characters before the '%' terminator. */
#define DUT_CMD_MAX 80
void dut_boot_banner(void);
/* One received byte; a '%' runs the command assembled so far. */
void dut_feed(char c);
#endif
