/* Host-only worker pool: output channels of conv / sparse / FC ops are split across a few
   persistent threads. Everything is static (no allocation); calls from several models are
   serialised, which is fine for the one-model-per-process hosts this serves. */
#ifdef ESDK_WITH_PTHREADS
#include <pthread.h>
#include "internal.h"

#define ESDK_MAX_THREADS 16

static pthread_t g_thr[ESDK_MAX_THREADS];
static int g_idx[ESDK_MAX_THREADS];
static int g_started;
static pthread_mutex_t g_run = PTHREAD_MUTEX_INITIALIZER; /* one parallel_for at a time */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_work = PTHREAD_COND_INITIALIZER, g_done = PTHREAD_COND_INITIALIZER;
static uint64_t g_gen;
static int g_active, g_pending;
static esdk_range_fn g_fn;
static void *g_ctx;
static int32_t g_begin[ESDK_MAX_THREADS], g_end[ESDK_MAX_THREADS];

static void *worker(void *arg) {
  int me = *(int *)arg;
  uint64_t seen = 0;
  for (;;) {
    pthread_mutex_lock(&g_mu);
    while (g_gen == seen) pthread_cond_wait(&g_work, &g_mu);
    seen = g_gen;
    if (me >= g_active) {
      pthread_mutex_unlock(&g_mu);
      continue;
    }
    pthread_mutex_unlock(&g_mu);
    if (g_begin[me] < g_end[me]) g_fn(g_ctx, g_begin[me], g_end[me]);
    pthread_mutex_lock(&g_mu);
    if (--g_pending == 0) pthread_cond_signal(&g_done);
    pthread_mutex_unlock(&g_mu);
  }
  return NULL;
}

esdk_status esdk_set_threads(esdk_model *m, int n) {
  if (!m || n < 1 || n > ESDK_MAX_THREADS) return ESDK_ERR_ARG;
  m->n_threads = n;
  return ESDK_OK;
}

void esdk_parallel_for(esdk_model *m, int32_t n, int32_t align, esdk_range_fn fn, void *ctx) {
  int t = m->n_threads, i;
  int64_t units, per, pos = 0;
  if (align < 1) align = 1;
  units = n / align;
  if (t > units) t = (int)units;
  if (t <= 1 || n % align) {
    fn(ctx, 0, n);
    return;
  }
  pthread_mutex_lock(&g_run);
  pthread_mutex_lock(&g_mu);
  while (g_started < t - 1) {
    g_idx[g_started] = g_started + 1;
    if (pthread_create(&g_thr[g_started], NULL, worker, &g_idx[g_started]) != 0) break;
    g_started++;
  }
  if (t - 1 > g_started) t = g_started + 1;
  per = units / t;
  for (i = 0; i < t; i++) {
    int64_t cnt = per + (i < units % t);
    g_begin[i] = (int32_t)(pos * align);
    pos += cnt;
    g_end[i] = (int32_t)(pos * align);
  }
  g_fn = fn;
  g_ctx = ctx;
  g_active = t;
  g_pending = t - 1;
  g_gen++;
  pthread_cond_broadcast(&g_work);
  pthread_mutex_unlock(&g_mu);
  fn(ctx, g_begin[0], g_end[0]);
  pthread_mutex_lock(&g_mu);
  while (g_pending > 0) pthread_cond_wait(&g_done, &g_mu);
  pthread_mutex_unlock(&g_mu);
  pthread_mutex_unlock(&g_run);
}
#else
typedef int esdk_threads_pthread_unused;
#endif
