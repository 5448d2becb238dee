/* Storage read bandwidth for expert-sized O_DIRECT reads: pread (one at a time, and from T
 * threads) versus io_uring with Q reads in flight, whole experts or each expert split into
 * 1 MiB reads, over the same random expert offsets of a bundle. Decides whether the MoE I/O
 * thread needs a deeper queue or split reads (docs/moe.md, "I/O").
 * With `small`, random reads of 512 B, 4 KiB and 32 KiB instead (offsets aligned to the read
 * size), one at a time and with 8 and 32 in flight: what partial expert reads would get
 * (docs/moe.md, "Activation-sparse experts").
 *
 *   gcc -O2 -pthread bench/moe_read_qd.c -o /tmp/moe_read_qd && /tmp/moe_read_qd BUNDLE [MiB] [small]
 *
 * Drop the bundle from the page cache first (O_DIRECT bypasses it anyway). io_uring through
 * raw syscalls (no liburing); if io_uring_setup fails (kernel.io_uring_disabled, seccomp, old
 * kernel) it says so and measures pread only. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAXQ 32
static int fd;
static size_t rec = 6361088; /* one expert record of the benchmark bundle (4 KiB multiple) */
static int nrec, nreads;
static off_t *offs;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

struct job { int first, stride; void *buf; };
static void *pread_job(void *arg) {
  struct job *j = arg;
  for (int i = j->first; i < nreads; i += j->stride) {
    size_t got = 0;
    while (got < rec) {
      ssize_t r = pread(fd, (char *)j->buf + got, rec - got, offs[i] + (off_t)got);
      if (r <= 0) { perror("pread"); exit(1); }
      got += (size_t)r;
    }
  }
  return NULL;
}

static double run_pread(int threads) {
  pthread_t th[MAXQ];
  struct job jobs[MAXQ];
  double t0 = now();
  for (int t = 0; t < threads; t++) {
    jobs[t].first = t; jobs[t].stride = threads;
    if (posix_memalign(&jobs[t].buf, 4096, rec)) exit(1);
    pthread_create(&th[t], NULL, pread_job, &jobs[t]);
  }
  for (int t = 0; t < threads; t++) { pthread_join(th[t], NULL); free(jobs[t].buf); }
  return (double)rec * nreads / (now() - t0) / (1 << 20);
}

/* q reads in flight, each expert read as pieces of `chunk` bytes (0: whole) */
static double run_uring(int q, size_t chunk) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  int ring = (int)syscall(__NR_io_uring_setup, MAXQ, &p);
  if (ring < 0) return -errno;
  size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned), cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  char *sq = mmap(0, sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
  char *cq = mmap(0, cq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
  struct io_uring_sqe *sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                                   MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
  if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) return -1;
  unsigned *sq_tail = (unsigned *)(sq + p.sq_off.tail), *sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
  unsigned *sq_arr = (unsigned *)(sq + p.sq_off.array);
  unsigned *cq_head = (unsigned *)(cq + p.cq_off.head), *cq_tail = (unsigned *)(cq + p.cq_off.tail);
  unsigned *cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
  struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  void *bufs[MAXQ];
  for (int i = 0; i < q; i++) if (posix_memalign(&bufs[i], 4096, rec)) exit(1);
  size_t cs = chunk ? chunk : rec;
  int per = (int)((rec + cs - 1) / cs), next = 0, inflight = 0, done = 0, free_ids[MAXQ], nfree = q, lens[MAXQ];
  for (int i = 0; i < q; i++) free_ids[i] = i;
  double t0 = now();
  while (done < nreads * per) {
    int sub = 0;
    while (inflight < q && next < nreads * per) {
      int b = free_ids[--nfree];
      size_t o = (size_t)(next % per) * cs, n = rec - o < cs ? rec - o : cs;
      unsigned tail = *sq_tail, idx = tail & *sq_mask;
      struct io_uring_sqe *e = &sqes[idx];
      memset(e, 0, sizeof *e);
      e->opcode = IORING_OP_READ;
      e->fd = fd;
      e->addr = (uint64_t)(uintptr_t)bufs[b] + o;
      e->len = (unsigned)n;
      lens[b] = (int)n;
      e->off = (uint64_t)offs[next / per] + o;
      next++;
      e->user_data = (uint64_t)b;
      sq_arr[idx] = idx;
      __atomic_store_n(sq_tail, tail + 1, __ATOMIC_RELEASE);
      inflight++;
      sub++;
    }
    if (syscall(__NR_io_uring_enter, ring, sub, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) { perror("io_uring_enter"); exit(1); }
    unsigned head = *cq_head;
    while (head != __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE)) {
      struct io_uring_cqe *c = &cqes[head & *cq_mask];
      if (c->res != lens[c->user_data]) { fprintf(stderr, "short or failed read: %d\n", c->res); exit(1); }
      free_ids[nfree++] = (int)c->user_data;
      inflight--;
      done++;
      head++;
    }
    __atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
  }
  double bw = (double)rec * nreads / (now() - t0) / (1 << 20);
  for (int i = 0; i < q; i++) free(bufs[i]);
  close(ring);
  return bw;
}

/* random reads of each small size at queue depths 1, 8 and 32, sizes and depths interleaved
 * over 5 rounds; prints MB/s (10^6) and reads per second */
static int small_reads(off_t size, int mib) {
  static const size_t sizes[] = {512, 4096, 32768};
  static const int depths[] = {1, 8, 32};
  offs = malloc(sizeof *offs * ((size_t)mib << 11));
  if (!offs) return 1;
  srand(2);
  for (int round = 0; round < 5; round++)
    for (int si = 0; si < 3; si++)
      for (int di = 0; di < 3; di++) {
        rec = sizes[si];
        nreads = (int)(((size_t)mib << 20) / rec / (di ? 1 : 4)); /* a quarter at depth 1: slow */
        off_t n = (size - (off_t)rec) / (off_t)rec;
        for (int i = 0; i < nreads; i++)
          offs[i] = (off_t)(((uint64_t)rand() << 31 ^ (uint64_t)rand()) % (uint64_t)n) * (off_t)rec;
        double mibs = depths[di] == 1 ? run_pread(1) : run_uring(depths[di], 0);
        if (mibs < 0) { printf("io_uring unavailable: %s\n", strerror((int)-mibs)); return 1; }
        double mbs = mibs * (1 << 20) / 1e6;
        printf("round %d  %6zu B  QD %2d  %8.1f MB/s  %8.0f reads/s\n", round, rec, depths[di], mbs,
               mbs * 1e6 / (double)rec);
        fflush(stdout);
      }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: %s BUNDLE [MiB per measurement]\n", argv[0]); return 2; }
  int mib = argc > 2 ? atoi(argv[2]) : 300;
  fd = open(argv[1], O_RDONLY | O_DIRECT);
  if (fd < 0) { perror("open O_DIRECT"); return 1; }
  struct stat sb;
  fstat(fd, &sb);
  if (argc > 3 && !strcmp(argv[3], "small")) return small_reads(sb.st_size, mib);
  nrec = (int)((sb.st_size - 4096 * 4) / rec);
  nreads = (int)((size_t)mib * (1 << 20) / rec);
  offs = malloc(sizeof *offs * nreads);
  srand(1);
  for (int i = 0; i < nreads; i++) offs[i] = 4096 * 4 + (off_t)(rand() % nrec) * (off_t)rec; /* 4 KiB aligned */
  FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
  int dis = -1;
  if (f) { if (fscanf(f, "%d", &dis) != 1) dis = -1; fclose(f); }
  printf("reads of %zu bytes, %d per measurement; kernel.io_uring_disabled = %d\n", rec, nreads, dis);
  for (int rep = 0; rep < 2; rep++) {
    printf("pread 1 thread   %7.0f MiB/s\n", run_pread(1));
    printf("pread 2 threads  %7.0f MiB/s\n", run_pread(2));
    printf("pread 4 threads  %7.0f MiB/s\n", run_pread(4));
    int have_uring = 1;
    for (int q = 1; q <= 8 && have_uring; q *= 2) {
      double bw = run_uring(q, 0);
      have_uring = bw >= 0;
      if (!have_uring) printf("io_uring unavailable: %s\n", strerror((int)-bw));
      else printf("io_uring QD %d    %7.0f MiB/s\n", q, bw);
    }
    for (int q = 6; q <= 24 && have_uring; q *= 2)
      printf("io_uring QD %d, 1 MiB reads  %7.0f MiB/s\n", q, run_uring(q, 1 << 20));
  }
  return 0;
}
