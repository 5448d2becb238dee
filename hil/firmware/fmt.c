#include <stdarg.h>
#include <stdio.h>
#include "fmt.h"

size_t fmt_u64(char *buf, uint64_t v) {
  char tmp[21];
  size_t n = 0, i;
  do {
    tmp[n++] = (char)('0' + (int)(v % 10u));
    v /= 10u;
  } while (v);
  for (i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
  buf[n] = 0;
  return n;
}

size_t fmt_i64(char *buf, int64_t v) {
  if (v < 0) {
    buf[0] = '-';
    return 1 + fmt_u64(buf + 1, (uint64_t)0 - (uint64_t)v);
  }
  return fmt_u64(buf, (uint64_t)v);
}

size_t fmt_f3(char *buf, float v) {
  double d = (double)v, r;
  uint64_t q;
  size_t n = 0;
  if (v != v) {
    buf[0] = 'n', buf[1] = 'a', buf[2] = 'n', buf[3] = 0;
    return 3;
  }
  if (d < 0) {
    buf[n++] = '-';
    d = -d;
  }
  if (d > 9.0e15) { /* beyond exact 3-decimal fixed point: say so instead of printing junk */
    buf[n++] = 'i', buf[n++] = 'n', buf[n++] = 'f';
    buf[n] = 0;
    return n;
  }
  r = d * 1000.0 + 0.5;
  q = (uint64_t)r;
  n += fmt_u64(buf + n, q / 1000u);
  buf[n++] = '.';
  buf[n++] = (char)('0' + (int)(q / 100u % 10u));
  buf[n++] = (char)('0' + (int)(q / 10u % 10u));
  buf[n++] = (char)('0' + (int)(q % 10u));
  buf[n] = 0;
  return n;
}

int parse_u32(const char *s, uint32_t *out) {
  uint64_t v = 0;
  if (!*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10u + (uint64_t)(*s - '0');
    if (v > 0xFFFFFFFFu) return -1;
  }
  *out = (uint32_t)v;
  return 0;
}

/* The runtime formats its error messages with vsnprintf; this replaces newlib's (and with
   it malloc and the float printer) for the conversions the runtime uses:
   %d %u %x %c %s %% with optional 0-padding / width / .precision for %s, and l / ll / z. */
static void put(char *buf, size_t size, size_t *n, char c) {
  if (*n + 1 < size) buf[*n] = c;
  (*n)++;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
  size_t n = 0;
  for (; *fmt; fmt++) {
    char num[24], pad = ' ';
    int width = 0, prec = -1, lng = 0;
    const char *s;
    size_t len, i;
    if (*fmt != '%') {
      put(buf, size, &n, *fmt);
      continue;
    }
    fmt++;
    if (*fmt == '0') pad = '0', fmt++;
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    if (*fmt == '.') {
      prec = 0;
      for (fmt++; *fmt >= '0' && *fmt <= '9'; fmt++) prec = prec * 10 + (*fmt - '0');
    }
    while (*fmt == 'l' || *fmt == 'z' || *fmt == 'h') {
      if (*fmt == 'l') lng++;
      if (*fmt == 'z') lng = 3;
      fmt++;
    }
    s = num;
    switch (*fmt) {
      case 'd':
        if (lng == 2) fmt_i64(num, va_arg(ap, long long));
        else if (lng == 1) fmt_i64(num, va_arg(ap, long));
        else fmt_i64(num, va_arg(ap, int));
        break;
      case 'u':
        if (lng == 2) fmt_u64(num, va_arg(ap, unsigned long long));
        else if (lng == 1) fmt_u64(num, va_arg(ap, unsigned long));
        else if (lng == 3) fmt_u64(num, va_arg(ap, size_t));
        else fmt_u64(num, va_arg(ap, unsigned));
        break;
      case 'x': {
        unsigned long long v = lng == 2 ? va_arg(ap, unsigned long long) : (unsigned long long)va_arg(ap, unsigned);
        int k = 0, j;
        char t[17];
        do {
          t[k++] = "0123456789abcdef"[v & 15u];
          v >>= 4;
        } while (v);
        for (j = 0; j < k; j++) num[j] = t[k - 1 - j];
        num[k] = 0;
        break;
      }
      case 'c':
        num[0] = (char)va_arg(ap, int);
        num[1] = 0;
        break;
      case 's':
        s = va_arg(ap, const char *);
        if (!s) s = "(null)";
        break;
      case '%':
        num[0] = '%', num[1] = 0;
        break;
      default: /* unknown conversion: print it verbatim rather than consume an argument */
        num[0] = '%', num[1] = *fmt, num[2] = 0;
        if (!*fmt) fmt--;
        break;
    }
    for (len = 0; s[len] && (prec < 0 || *fmt != 's' || (int)len < prec); len++) {
    }
    for (i = len; (int)i < width; i++) put(buf, size, &n, pad);
    for (i = 0; i < len; i++) put(buf, size, &n, s[i]);
  }
  if (size) buf[n < size ? n : size - 1] = 0;
  return (int)n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...) {
  va_list ap;
  int r;
  va_start(ap, fmt);
  r = vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return r;
}
