/* The expert I/O thread's state (host builds), shared by moe_io_thread.c (queue, locking,
 * open / close, the pread backend, the completion of every read) and moe_io_uring.c (the
 * io_uring backend). It lives in esdk_moe.io_impl: no allocation. Not a public header. */
#ifndef ESDK_MOE_IO_H
#define ESDK_MOE_IO_H

#include "moe_internal.h"

#if ESDK_MOE_HAVE_IO
#include <pthread.h>
#include <sys/uio.h>

#define MOE_MAX_IO_THREADS 8
#define MOE_MAX_IO_DEPTH 16

/* the backend field (bits 16-19) of esdk_moe_io_open's flags; 0 is auto */
enum { MOE_IO_PREAD = ESDK_MOE_IO_PREAD >> 16, MOE_IO_URING = ESDK_MOE_IO_URING >> 16 };

/* One expert read, from the moment it leaves the queue's front until it completes. The slot
   stays SLOT_LOADING meanwhile, so the decoder neither evicts nor cancels it (cancel_stale and
   victim in moe.c touch only queued reads and slots not in flight). */
typedef struct {
  int32_t slot, key;
  uint8_t *dst;
  uint64_t off;
  size_t len, got;
  uint32_t want;
  int verify, err, bad_crc;
  double t0, t1;
  struct iovec iov; /* io_uring: the part still to read */
} moe_read;

typedef struct {
  int fd, efd;      /* the ring; an eventfd that wakes the thread from io_uring_enter */
  void *sq_ring, *cq_ring, *sqes;
  size_t sq_size, cq_size, sqes_size;
  unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
  void *cqes;
  unsigned to_submit;
  int inflight, sleeping, kicked, poll_armed;
  int n_free, free_ids[MOE_MAX_IO_DEPTH];
  moe_read rd[MOE_MAX_IO_DEPTH];
} moe_uring;

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t io_cv, done_cv;
  pthread_t th[MOE_MAX_IO_THREADS];
  int n_threads, stop, fd, inited, backend, depth;
  char name[128]; /* esdk_moe_io_backend */
  moe_uring u;
} moe_io;

moe_io *moe_io_state(esdk_moe *m);
void moe_io_take(esdk_moe *m, moe_read *r);   /* lock held: the read at the queue's front */
void moe_io_verify(esdk_moe *m, moe_read *r); /* no lock: the CRC when it is the expert's first read */
void moe_io_done(esdk_moe *m, moe_read *r);   /* lock held: statistics, slot state or error; wakes the decoder */

/* io_uring backend (moe_io_uring.c). Without <linux/io_uring.h> setup answers ENOSYS. */
int moe_uring_setup(moe_io *io, int depth); /* 0, or the errno that makes io_uring unusable here */
void moe_uring_teardown(moe_io *io);
void *moe_uring_main(void *m);   /* the I/O thread */
void moe_uring_kick(moe_io *io); /* lock held: wake the thread if it sleeps in the kernel */
#endif

#endif
