/* Number formatting without printf: newlib's printf family pulls in malloc and the
   float printer, and the protocol needs only integers, hex and fixed 3-decimal floats. */
#ifndef ESDK_FW_FMT_H
#define ESDK_FW_FMT_H
#include <stddef.h>
#include <stdint.h>

/* Each writes into buf (NUL-terminated) and returns the length. */
size_t fmt_u64(char *buf, uint64_t v);
size_t fmt_i64(char *buf, int64_t v);
/* fixed point, 3 decimals, round half away from zero; "nan" / "inf" / "-inf" */
size_t fmt_f3(char *buf, float v);
/* parse a non-negative decimal; 0 on success, -1 on anything else or overflow */
int parse_u32(const char *s, uint32_t *out);
#endif
