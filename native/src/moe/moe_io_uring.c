/* io_uring backend of the expert I/O thread (Linux): one thread keeps up to `depth` expert
 * reads in flight, taking them from the front of the queue as earlier ones complete; a short
 * read is resubmitted for the rest. Raw syscalls and the kernel's mmap'ed rings, no liburing,
 * so it builds with any Linux toolchain that has <linux/io_uring.h>; elsewhere (or with
 * -DESDK_MOE_NO_URING) setup answers ENOSYS and esdk_moe_io_open uses pread. IORING_OP_READV
 * (Linux 5.1) rather than IORING_OP_READ (5.6), for the oldest kernels with io_uring.
 *
 * While it waits in io_uring_enter the thread cannot see the condition variable, so a poll on
 * an eventfd sits in the ring beside the reads whenever a read could be added: the decoder
 * writes the eventfd (moe_uring_kick) when it queues a read for a thread asleep in the kernel. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "moe_io.h"

#if ESDK_MOE_HAVE_IO
#include <errno.h>

#if defined(__linux__) && !defined(ESDK_MOE_NO_URING) && defined(__has_include)
#if __has_include(<linux/io_uring.h>)
#include <sys/syscall.h>
#if defined(__NR_io_uring_setup) && defined(__NR_io_uring_enter)
#define MOE_HAVE_URING 1
#endif
#endif
#endif

#ifdef MOE_HAVE_URING
#include <linux/io_uring.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define POLL_TAG UINT64_MAX

static struct io_uring_sqe *next_sqe(moe_uring *u) {
  unsigned tail = *u->sq_tail, idx = tail & *u->sq_mask;
  struct io_uring_sqe *e = (struct io_uring_sqe *)u->sqes + idx;
  memset(e, 0, sizeof *e);
  u->sq_array[idx] = idx;
  __atomic_store_n(u->sq_tail, tail + 1, __ATOMIC_RELEASE);
  u->to_submit++;
  return e;
}

/* the rest of read r (all of it at first) */
static void submit_read(moe_uring *u, int fd, moe_read *r) {
  r->iov.iov_base = r->dst + r->got;
  r->iov.iov_len = r->len - r->got;
  struct io_uring_sqe *e = next_sqe(u);
  e->opcode = IORING_OP_READV;
  e->fd = fd;
  e->addr = (uint64_t)(uintptr_t)&r->iov;
  e->len = 1;
  e->off = r->off + r->got;
  e->user_data = (uint64_t)(r - u->rd);
}

static void submit_poll(moe_uring *u) {
  struct io_uring_sqe *e = next_sqe(u);
  e->opcode = IORING_OP_POLL_ADD;
  e->fd = u->efd;
  e->poll_events = POLLIN;
  e->user_data = POLL_TAG;
}

int moe_uring_setup(moe_io *io, int depth) {
  moe_uring *u = &io->u;
  struct io_uring_params p;
  memset(u, 0, sizeof *u);
  memset(&p, 0, sizeof p);
  u->fd = u->efd = -1;
  int fd = (int)syscall(__NR_io_uring_setup, (unsigned)depth + 1, &p); /* + 1: the eventfd poll */
  if (fd < 0) return errno ? errno : ENOSYS;
  u->fd = fd;
  u->sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  u->cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  if (p.features & IORING_FEAT_SINGLE_MMAP) {
    if (u->cq_size > u->sq_size) u->sq_size = u->cq_size;
    u->cq_size = 0;
  }
  u->sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
  u->sq_ring = mmap(NULL, u->sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
  u->cq_ring = u->cq_size ? mmap(NULL, u->cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING)
                          : u->sq_ring;
  u->sqes = mmap(NULL, u->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
  u->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (u->sq_ring == MAP_FAILED || u->cq_ring == MAP_FAILED || u->sqes == MAP_FAILED || u->efd < 0) {
    int e = errno ? errno : ENOMEM;
    if (u->sq_ring == MAP_FAILED) u->sq_ring = NULL;
    if (u->cq_ring == MAP_FAILED) u->cq_ring = NULL;
    if (u->sqes == MAP_FAILED) u->sqes = NULL;
    moe_uring_teardown(io);
    return e;
  }
  char *sq = (char *)u->sq_ring, *cq = (char *)u->cq_ring;
  u->sq_tail = (unsigned *)(void *)(sq + p.sq_off.tail);
  u->sq_mask = (unsigned *)(void *)(sq + p.sq_off.ring_mask);
  u->sq_array = (unsigned *)(void *)(sq + p.sq_off.array);
  u->cq_head = (unsigned *)(void *)(cq + p.cq_off.head);
  u->cq_tail = (unsigned *)(void *)(cq + p.cq_off.tail);
  u->cq_mask = (unsigned *)(void *)(cq + p.cq_off.ring_mask);
  u->cqes = cq + p.cq_off.cqes;
  u->n_free = depth;
  for (int i = 0; i < depth; i++) { u->free_ids[i] = depth - 1 - i; u->rd[i].slot = -1; }
  return 0;
}

void moe_uring_teardown(moe_io *io) {
  moe_uring *u = &io->u;
  if (u->sqes) munmap(u->sqes, u->sqes_size);
  if (u->cq_ring && u->cq_ring != u->sq_ring) munmap(u->cq_ring, u->cq_size);
  if (u->sq_ring) munmap(u->sq_ring, u->sq_size);
  if (u->efd >= 0) close(u->efd);
  if (u->fd >= 0) close(u->fd);
  u->sq_ring = u->cq_ring = u->sqes = NULL;
  u->fd = u->efd = -1;
}

void moe_uring_kick(moe_io *io) {
  moe_uring *u = &io->u;
  if (!u->sleeping || u->kicked) return;
  uint64_t one = 1;
  u->kicked = write(u->efd, &one, sizeof one) == (ssize_t)sizeof one;
}

void *moe_uring_main(void *arg) {
  esdk_moe *m = (esdk_moe *)arg;
  moe_io *io = moe_io_state(m);
  moe_uring *u = &io->u;
  moe_read *done[MOE_MAX_IO_DEPTH];
  pthread_mutex_lock(&io->mu);
  for (;;) {
    while (!io->stop && u->n_free > 0 && m->q_len > 0) {
      moe_read *r = &u->rd[u->free_ids[--u->n_free]];
      moe_io_take(m, r);
      u->inflight++;
      submit_read(u, io->fd, r);
    }
    if (u->inflight == 0) { /* nothing queued (or stopping): sleep on the condition variable */
      if (io->stop) break;
      pthread_cond_wait(&io->io_cv, &io->mu);
      continue;
    }
    u->sleeping = !io->stop && u->n_free > 0; /* a newly queued read could start now: listen for it */
    if (u->sleeping && !u->poll_armed) { submit_poll(u); u->poll_armed = 1; }
    pthread_mutex_unlock(&io->mu);

    int rc = (int)syscall(__NR_io_uring_enter, u->fd, u->to_submit, 1, IORING_ENTER_GETEVENTS, NULL, 0);
    int hard = 0;
    if (rc >= 0) u->to_submit -= (unsigned)rc < u->to_submit ? (unsigned)rc : u->to_submit;
    else if (errno != EINTR && errno != EAGAIN && errno != EBUSY && errno != ENOMEM) hard = errno;
    int nd = 0, saw_poll = 0;
    unsigned head = *u->cq_head;
    while (head != __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE)) {
      const struct io_uring_cqe *c = (const struct io_uring_cqe *)u->cqes + (head & *u->cq_mask);
      uint64_t tag = c->user_data;
      int res = c->res;
      head++;
      if (tag == POLL_TAG) {
        uint64_t v;
        saw_poll = 1;
        if (read(u->efd, &v, sizeof v) < 0) { /* already drained */ }
        continue;
      }
      moe_read *r = &u->rd[tag];
      if (res == -EINTR || res == -EAGAIN) { submit_read(u, io->fd, r); continue; }
      if (res < 0) r->err = -res;
      else r->got += (size_t)res;
      if (res > 0 && r->got < r->len) { submit_read(u, io->fd, r); continue; } /* short: the rest */
      done[nd++] = r; /* complete, failed, or at end of file (res 0: a short read) */
    }
    __atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);
    if (hard) {
      /* the ring itself failed (not one read: a read's error comes in its completion): every
         read in flight fails, the generation ends with that error, and the thread ends */
      __atomic_store_n(u->sq_tail, *u->sq_tail - u->to_submit, __ATOMIC_RELEASE);
      u->to_submit = 0;
      nd = 0;
      for (int i = 0; i < io->depth; i++)
        if (u->rd[i].slot >= 0) { u->rd[i].err = hard; done[nd++] = &u->rd[i]; }
    }
    for (int i = 0; i < nd; i++) moe_io_verify(m, done[i]);
    pthread_mutex_lock(&io->mu);
    u->sleeping = 0;
    if (saw_poll) u->poll_armed = u->kicked = 0;
    for (int i = 0; i < nd; i++) {
      moe_io_done(m, done[i]);
      done[i]->slot = -1;
      u->free_ids[u->n_free++] = (int)(done[i] - u->rd);
      u->inflight--;
    }
    if (hard) break;
  }
  pthread_mutex_unlock(&io->mu);
  return NULL;
}

#else /* no io_uring in this build */

int moe_uring_setup(moe_io *io, int depth) { (void)io; (void)depth; return ENOSYS; }
void moe_uring_teardown(moe_io *io) { (void)io; }
void *moe_uring_main(void *m) { (void)m; return NULL; }
void moe_uring_kick(moe_io *io) { (void)io; }

#endif
#endif
