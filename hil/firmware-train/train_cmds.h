/* MLPerf Tiny DUT protocol + training commands (docs/finetune.md, "Serial commands"). */
#ifndef ESDK_FWT_CMDS_H
#define ESDK_FWT_CMDS_H
#define CMD_MAX 80
void cmds_boot(void);
void cmds_feed(char c);
#endif
