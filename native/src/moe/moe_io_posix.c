/* Host-only part of the MoE runtime: the dedicated I/O thread(s) that fill the expert
 * cache with pread (O_DIRECT when asked), CRC-checking each expert on its first read,
 * and the lock / condition variables the decoder waits on. Other builds get no-ops and
 * only the in-memory expert mode. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "moe_internal.h"

#if ESDK_MOE_HAVE_IO
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MOE_MAX_IO_THREADS 8

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t io_cv, done_cv;
  pthread_t th[MOE_MAX_IO_THREADS];
  int n_threads, stop, fd, inited;
} moe_io;

typedef char moe_io_fits[sizeof(moe_io) <= MOE_IO_STORAGE ? 1 : -1];

static moe_io *IO(esdk_moe *m) { return (moe_io *)(void *)m->io_impl.b; }

void moe_lock(esdk_moe *m) { if (m->io_running) pthread_mutex_lock(&IO(m)->mu); }
void moe_unlock(esdk_moe *m) { if (m->io_running) pthread_mutex_unlock(&IO(m)->mu); }
void moe_wait_done(esdk_moe *m) { pthread_cond_wait(&IO(m)->done_cv, &IO(m)->mu); }
void moe_kick_io(esdk_moe *m) { if (m->io_running) pthread_cond_signal(&IO(m)->io_cv); }

double moe_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void set_io_error(esdk_moe *m, esdk_status st, const char *what, int key, int err) {
  if (m->io_failed) return;
  char *o = m->io_err;
  size_t n = 0, cap = sizeof m->io_err - 1;
  const char *parts[4] = {"expert bundle: ", what, " at layer ", NULL};
  for (int i = 0; parts[i]; i++)
    for (const char *s = parts[i]; *s && n < cap; s++) o[n++] = *s;
  int l = key / m->c.n_experts, e = key % m->c.n_experts;
  char num[32];
  int k = 0, v = l;
  do { num[k++] = (char)('0' + v % 10); v /= 10; } while (v && k < 10);
  while (k && n < cap) o[n++] = num[--k];
  const char *ex = " expert ";
  for (const char *s = ex; *s && n < cap; s++) o[n++] = *s;
  v = e;
  do { num[k++] = (char)('0' + v % 10); v /= 10; } while (v && k < 10);
  while (k && n < cap) o[n++] = num[--k];
  if (err) {
    const char *es = strerror(err);
    if (n + 2 < cap) { o[n++] = ':'; o[n++] = ' '; }
    for (const char *s = es; *s && n < cap; s++) o[n++] = *s;
  }
  o[n] = 0;
  m->io_status = st;
  m->io_failed = 1;
}

static void *io_main(void *arg) {
  esdk_moe *m = (esdk_moe *)arg;
  moe_io *io = IO(m);
  pthread_mutex_lock(&io->mu);
  for (;;) {
    while (!io->stop && m->q_len == 0) pthread_cond_wait(&io->io_cv, &io->mu);
    if (io->stop) break;
    int32_t s = m->queue[m->q_head];
    m->q_head = (m->q_head + 1) % m->n_slots;
    m->q_len--;
    int32_t key = m->slots[s].key;
    uint64_t off = m->xtab[key].offset;
    uint32_t want = m->xtab[key].crc;
    int verify = !m->verified[key];
    uint8_t *dst = m->cmem + (size_t)s * m->stride;
    size_t len = (size_t)m->stride;
    pthread_mutex_unlock(&io->mu);

    double t0 = moe_now();
    size_t got = 0;
    int err = 0;
    while (got < len) {
      ssize_t r = pread(io->fd, dst + got, len - got, (off_t)(off + got));
      if (r < 0) { if (errno == EINTR) continue; err = errno; break; }
      if (r == 0) break;
      got += (size_t)r;
    }
    int ok = got == len && !err;
    int bad_crc = ok && verify && esdk_moe_crc32(dst, len) != want;
    double t1 = moe_now();

    pthread_mutex_lock(&io->mu);
    m->st.io_s += t1 - t0;
    m->st.reads++;
    m->st.bytes_read += got;
    if (!ok) {
      set_io_error(m, err ? ESDK_ERR_ARG : ESDK_ERR_TRUNCATED, err ? "read error" : "short read (file truncated?)", key, err);
      m->slots[s].state = SLOT_ERROR;
    } else if (bad_crc) {
      set_io_error(m, ESDK_ERR_CHECKSUM, "checksum mismatch (corrupted file?)", key, 0);
      m->slots[s].state = SLOT_ERROR;
    } else {
      if (verify) m->verified[key] = 1;
      m->slots[s].state = SLOT_READY;
    }
    pthread_cond_broadcast(&io->done_cv);
  }
  pthread_mutex_unlock(&io->mu);
  return NULL;
}

esdk_status esdk_moe_io_open(esdk_moe *m, const char *path, int32_t flags) {
  if (!m || !path) return ESDK_ERR_ARG;
  if (!m->cmem) { const char *e = "esdk_moe_io_open: set up the expert cache first"; strncpy(m->err, e, sizeof m->err - 1); return ESDK_ERR_STATE; }
  if (m->io_running) esdk_moe_io_close(m);
  moe_io *io = IO(m);
  memset(io, 0, sizeof *io);
  int oflags = O_RDONLY;
#ifdef O_DIRECT
  if (flags & 1) oflags |= O_DIRECT;
#endif
  io->fd = open(path, oflags);
  if (io->fd < 0 && (flags & 1)) io->fd = open(path, O_RDONLY); /* file system without O_DIRECT */
  if (io->fd < 0) {
    strncpy(m->err, "cannot open the expert bundle", sizeof m->err - 1);
    return ESDK_ERR_ARG;
  }
  struct stat sb;
  if (fstat(io->fd, &sb) == 0 && (uint64_t)sb.st_size < m->file_size) {
    close(io->fd);
    strncpy(m->err, "expert bundle is truncated (file shorter than its header says)", sizeof m->err - 1);
    return ESDK_ERR_TRUNCATED;
  }
  int n = (flags >> 8) & 0xff;
  if (n < 1) n = 1;
  if (n > MOE_MAX_IO_THREADS) n = MOE_MAX_IO_THREADS;
  pthread_mutex_init(&io->mu, NULL);
  pthread_cond_init(&io->io_cv, NULL);
  pthread_cond_init(&io->done_cv, NULL);
  m->io_failed = 0;
  m->io_status = ESDK_OK;
  m->io_err[0] = 0;
  io->inited = 1;
  m->io_running = 1;
  for (int i = 0; i < n; i++) {
    if (pthread_create(&io->th[i], NULL, io_main, m) != 0) {
      io->n_threads = i;
      esdk_moe_io_close(m);
      strncpy(m->err, "cannot start the I/O thread", sizeof m->err - 1);
      return ESDK_ERR_STATE;
    }
    io->n_threads = i + 1;
  }
  return ESDK_OK;
}

esdk_status esdk_moe_io_close(esdk_moe *m) {
  if (!m) return ESDK_ERR_ARG;
  moe_io *io = IO(m);
  if (!io->inited) return ESDK_OK;
  pthread_mutex_lock(&io->mu);
  io->stop = 1;
  pthread_cond_broadcast(&io->io_cv);
  pthread_mutex_unlock(&io->mu);
  for (int i = 0; i < io->n_threads; i++) pthread_join(io->th[i], NULL);
  m->io_running = 0;
  pthread_mutex_destroy(&io->mu);
  pthread_cond_destroy(&io->io_cv);
  pthread_cond_destroy(&io->done_cv);
  close(io->fd);
  io->inited = 0;
  /* slots still in flight are dropped */
  for (int32_t i = 0; i < m->n_slots; i++)
    if (m->slots[i].state == SLOT_LOADING) { m->xslot[m->slots[i].key] = -1; m->slots[i].key = -1; m->slots[i].state = SLOT_EMPTY; }
  m->q_len = 0;
  return ESDK_OK;
}

#else /* no host I/O: experts only from memory */

void moe_lock(esdk_moe *m) { (void)m; }
void moe_unlock(esdk_moe *m) { (void)m; }
void moe_wait_done(esdk_moe *m) { m->io_failed = 1; }
void moe_kick_io(esdk_moe *m) { (void)m; }
double moe_now(void) { return 0.0; }
esdk_status esdk_moe_io_open(esdk_moe *m, const char *path, int32_t flags) {
  (void)path; (void)flags;
  return m ? ESDK_ERR_UNSUPPORTED : ESDK_ERR_ARG;
}
esdk_status esdk_moe_io_close(esdk_moe *m) { return m ? ESDK_OK : ESDK_ERR_ARG; }

#endif
