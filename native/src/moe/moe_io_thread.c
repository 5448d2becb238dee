/* Host-only part of the MoE runtime: the dedicated I/O thread(s) that fill the expert cache
 * from the bundle, the lock / condition variables the decoder waits on, and what every read
 * does when it ends (statistics, CRC-32 on an expert's first read, slot state or error),
 * whichever backend read it: pread here (one read per thread), io_uring in moe_io_uring.c
 * (several reads in flight from one thread). Other builds get no-ops and only the in-memory
 * expert mode. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "moe_io.h"

#if ESDK_MOE_HAVE_IO
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MOE_DEFAULT_IO_DEPTH 4

typedef char moe_io_fits[sizeof(moe_io) <= MOE_IO_STORAGE ? 1 : -1];

moe_io *moe_io_state(esdk_moe *m) { return (moe_io *)(void *)m->io_impl.b; }
#define IO moe_io_state

void moe_lock(esdk_moe *m) { if (m->io_running) pthread_mutex_lock(&IO(m)->mu); }
void moe_unlock(esdk_moe *m) { if (m->io_running) pthread_mutex_unlock(&IO(m)->mu); }
void moe_wait_done(esdk_moe *m) { pthread_cond_wait(&IO(m)->done_cv, &IO(m)->mu); }
void moe_kick_io(esdk_moe *m) {
  if (!m->io_running) return;
  pthread_cond_signal(&IO(m)->io_cv);
  if (IO(m)->backend == MOE_IO_URING) moe_uring_kick(IO(m));
}

double moe_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void set_io_error(esdk_moe *m, esdk_status st, const char *what, int key, int err) {
  if (m->io_failed) return;
  snprintf(m->io_err, sizeof m->io_err, "expert bundle: %s at layer %d expert %d%s%s", what, key / m->c.n_experts,
           key % m->c.n_experts, err ? ": " : "", err ? strerror(err) : "");
  m->io_status = st;
  m->io_failed = 1;
}

void moe_io_take(esdk_moe *m, moe_read *r) {
  int32_t s = m->queue[m->q_head];
  m->q_head = (m->q_head + 1) % m->n_slots;
  m->q_len--;
  m->q_busy++;
  int32_t key = m->slots[s].key;
  r->slot = s;
  r->key = key;
  r->off = m->xtab[key].offset;
  r->want = m->xtab[key].crc;
  r->verify = !m->verified[key];
  r->dst = m->cmem + (size_t)s * m->stride;
  r->len = (size_t)m->stride;
  r->got = 0;
  r->err = r->bad_crc = 0;
  r->t0 = moe_now();
}

void moe_io_verify(esdk_moe *m, moe_read *r) {
  (void)m;
  r->bad_crc = r->got == r->len && !r->err && r->verify && esdk_moe_crc32(r->dst, r->len) != r->want;
  r->t1 = moe_now();
}

void moe_io_done(esdk_moe *m, moe_read *r) {
  int32_t s = r->slot;
  m->q_busy--;
  m->st.io_s += r->t1 - r->t0;
  m->st.reads++;
  m->st.bytes_read += r->got;
  if (r->err || r->got < r->len) {
    set_io_error(m, r->err ? ESDK_ERR_ARG : ESDK_ERR_TRUNCATED, r->err ? "read error" : "short read (file truncated?)",
                 r->key, r->err);
    m->slots[s].state = SLOT_ERROR;
  } else if (r->bad_crc) {
    set_io_error(m, ESDK_ERR_CHECKSUM, "checksum mismatch (corrupted file?)", r->key, 0);
    m->slots[s].state = SLOT_ERROR;
  } else {
    if (r->verify) m->verified[r->key] = 1;
    m->slots[s].state = SLOT_READY;
  }
  pthread_cond_broadcast(&IO(m)->done_cv);
}

/* pread backend: each thread reads one expert at a time */
static void *pread_main(void *arg) {
  esdk_moe *m = (esdk_moe *)arg;
  moe_io *io = IO(m);
  pthread_mutex_lock(&io->mu);
  for (;;) {
    while (!io->stop && m->q_len == 0) pthread_cond_wait(&io->io_cv, &io->mu);
    if (io->stop) break;
    moe_read r;
    moe_io_take(m, &r);
    pthread_mutex_unlock(&io->mu);
    while (r.got < r.len) {
      ssize_t n = pread(io->fd, r.dst + r.got, r.len - r.got, (off_t)(r.off + r.got));
      if (n < 0) { if (errno == EINTR) continue; r.err = errno; break; }
      if (n == 0) break;
      r.got += (size_t)n;
    }
    moe_io_verify(m, &r);
    pthread_mutex_lock(&io->mu);
    moe_io_done(m, &r);
  }
  pthread_mutex_unlock(&io->mu);
  return NULL;
}

static esdk_status open_error(esdk_moe *m, esdk_status st, const char *msg) {
  strncpy(m->err, msg, sizeof m->err - 1);
  m->err[sizeof m->err - 1] = 0;
  return st;
}

/* flags: bit 0 O_DIRECT; bits 8-15 pread threads; bits 16-19 backend (0 auto, 1 pread,
   2 io_uring); bits 24-31 io_uring queue depth (0: the default). */
esdk_status esdk_moe_io_open(esdk_moe *m, const char *path, int32_t flags) {
  if (!m || !path) return ESDK_ERR_ARG;
  if (!m->cmem) return open_error(m, ESDK_ERR_STATE, "esdk_moe_io_open: set up the expert cache first");
  int threads = (flags >> 8) & 0xff, backend = (flags >> 16) & 0xf, depth = (int)(((uint32_t)flags >> 24) & 0xff);
  if (threads < 1) threads = 1;
  if (threads > MOE_MAX_IO_THREADS) threads = MOE_MAX_IO_THREADS;
  if (depth == 0) depth = MOE_DEFAULT_IO_DEPTH;
  if (backend > MOE_IO_URING) return open_error(m, ESDK_ERR_ARG, "I/O backend must be 0 (auto), 1 (pread) or 2 (io_uring)");
  if (depth > MOE_MAX_IO_DEPTH) return open_error(m, ESDK_ERR_ARG, "I/O queue depth must be 1 to 16");
  if (backend == MOE_IO_URING && threads > 1)
    return open_error(m, ESDK_ERR_ARG, "io_uring runs one I/O thread (the queue depth sets the reads in flight): io_threads must be 1");
  if (m->io_running) esdk_moe_io_close(m);
  moe_io *io = IO(m);
  memset(io, 0, sizeof *io);
  int direct = 0;
#ifdef O_DIRECT
  if (flags & 1) {
    io->fd = open(path, O_RDONLY | O_DIRECT);
    direct = io->fd >= 0;
  }
#endif
  if (!direct) io->fd = open(path, O_RDONLY); /* also: a file system that refuses O_DIRECT */
  if (io->fd < 0) return open_error(m, ESDK_ERR_ARG, "cannot open the expert bundle");
  struct stat sb;
  if (fstat(io->fd, &sb) == 0 && (uint64_t)sb.st_size < m->file_size) {
    close(io->fd);
    return open_error(m, ESDK_ERR_TRUNCATED, "expert bundle is truncated (file shorter than its header says)");
  }
  const char *how = direct ? "O_DIRECT" : (flags & 1) ? "buffered (O_DIRECT refused)" : "buffered";
  io->backend = MOE_IO_PREAD;
  if (threads == 1 && backend != MOE_IO_PREAD) {
    int e = moe_uring_setup(io, depth);
    if (e == 0) {
      io->backend = MOE_IO_URING;
      io->depth = depth;
      snprintf(io->name, sizeof io->name, "io_uring depth %d, %s", depth, how);
    } else if (backend == MOE_IO_URING) {
      close(io->fd);
      snprintf(m->err, sizeof m->err, "io_uring is not available here (io_uring_setup: %s)", strerror(e));
      return ESDK_ERR_UNSUPPORTED;
    } else {
      snprintf(io->name, sizeof io->name, "pread, %s (io_uring unavailable: %s)", how, strerror(e));
    }
  } else if (threads > 1) {
    snprintf(io->name, sizeof io->name, "pread, %d threads, %s", threads, how);
  } else {
    snprintf(io->name, sizeof io->name, "pread, %s", how);
  }
  pthread_mutex_init(&io->mu, NULL);
  pthread_cond_init(&io->io_cv, NULL);
  pthread_cond_init(&io->done_cv, NULL);
  m->io_failed = 0;
  m->io_status = ESDK_OK;
  m->io_err[0] = 0;
  io->inited = 1;
  m->io_running = 1;
  for (int i = 0; i < threads; i++) {
    if (pthread_create(&io->th[i], NULL, io->backend == MOE_IO_URING ? moe_uring_main : pread_main, m) != 0) {
      io->n_threads = i;
      esdk_moe_io_close(m);
      return open_error(m, ESDK_ERR_STATE, "cannot start the I/O thread");
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
  if (io->backend == MOE_IO_URING) moe_uring_kick(io);
  pthread_mutex_unlock(&io->mu);
  /* the threads return only when no read of theirs is in flight (io_uring: all completed) */
  for (int i = 0; i < io->n_threads; i++) pthread_join(io->th[i], NULL);
  m->io_running = 0;
  if (io->backend == MOE_IO_URING) moe_uring_teardown(io);
  pthread_mutex_destroy(&io->mu);
  pthread_cond_destroy(&io->io_cv);
  pthread_cond_destroy(&io->done_cv);
  close(io->fd);
  io->inited = 0;
  /* reads still queued are dropped */
  for (int32_t i = 0; i < m->n_slots; i++)
    if (m->slots[i].state == SLOT_LOADING) { m->xslot[m->slots[i].key] = -1; m->slots[i].key = -1; m->slots[i].state = SLOT_EMPTY; }
  m->q_len = m->q_busy = 0;
  return ESDK_OK;
}

const char *esdk_moe_io_backend(const esdk_moe *m) {
  return m ? ((const moe_io *)(const void *)m->io_impl.b)->name : "";
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
const char *esdk_moe_io_backend(const esdk_moe *m) { (void)m; return ""; }

#endif
