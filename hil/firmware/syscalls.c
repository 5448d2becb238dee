/* The few newlib hooks the link needs. There is no heap: _sbrk always fails, so any
   malloc would return NULL instead of growing into the arena (and none of our code calls
   it; tests/test_target_mcu.py checks the ELF has no malloc). */
#include <errno.h>
#include <stddef.h>
#include <sys/stat.h>
#include "uart_cmsdk.h"

void *_sbrk(ptrdiff_t incr) {
  (void)incr;
  errno = ENOMEM;
  return (void *)-1;
}

int _write(int fd, const char *buf, int n) {
  (void)fd;
  uart_write(buf, (size_t)n);
  return n;
}

int _read(int fd, char *buf, int n) {
  (void)fd;
  (void)buf;
  (void)n;
  return 0;
}

int _close(int fd) {
  (void)fd;
  return -1;
}

int _fstat(int fd, struct stat *st) {
  (void)fd;
  st->st_mode = S_IFCHR;
  return 0;
}

int _isatty(int fd) {
  (void)fd;
  return 1;
}

int _lseek(int fd, int off, int whence) {
  (void)fd;
  (void)off;
  (void)whence;
  return 0;
}

void _exit(int code) {
  (void)code;
  for (;;) {
  }
}

int _kill(int pid, int sig) {
  (void)pid;
  (void)sig;
  errno = EINVAL;
  return -1;
}

int _getpid(void) { return 1; }
