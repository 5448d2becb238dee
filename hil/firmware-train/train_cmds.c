#include <string.h>
#include "edge_sdk.h"
#include "edge_sdk_train.h"
#include "fmt.h"
#include "stack_paint.h"
#include "timer.h"
#include "train_cmds.h"
#include "uart_cmsdk.h"
#include "wslots.h"

extern uint8_t __model_slot_start[], __model_slot_end[], __arena_start[], __arena_end[], __data_start[], __bss_end[];
uint32_t esdk_crc32(const uint8_t *p, size_t n);

#define MODEL_CTX_BYTES 8704 /* esdk_model_size() on cortex-m7 is 8496 */
#define TRAINER_CTX_BYTES 256
static uint8_t g_mctx[MODEL_CTX_BYTES] __attribute__((aligned(16)));
static uint8_t g_tctx[TRAINER_CTX_BYTES] __attribute__((aligned(16)));
static const char *g_err = "no plan in the model slot";
static int g_ready;
static char g_cmd[CMD_MAX + 1];
static unsigned g_len;
static int g_over;
static uint32_t g_expect, g_loaded;
static int32_t g_cut = -1;

#define M ((esdk_model *)g_mctx)
#define T ((esdk_trainer *)g_tctx)

static void line(const char *s) { uart_puts(s); uart_puts("\r\n"); }
static void kv(const char *k, uint64_t v) { char b[24]; fmt_u64(b, v); uart_puts(k); line(b); }
static void err(const char *a, const char *b) { uart_puts("e-["); uart_puts(a); if (b) uart_puts(b); line("]"); }
static uint64_t rd64(const uint8_t *p) { uint64_t v = 0; int i; for (i = 7; i >= 0; i--) v = (v << 8) | p[i]; return v; }

static void bind(void) {
  uint64_t fsize;
  size_t psize;
  wslot_header h;
  int s;
  if (esdk_model_size() > sizeof g_mctx || esdk_trainer_size() > sizeof g_tctx) { g_err = "context buffers too small"; return; }
  if (memcmp(__model_slot_start, "ESDK", 4) != 0) return;
  fsize = rd64(__model_slot_start + 16);
  if (fsize > (uint64_t)(__model_slot_end - __model_slot_start)) { g_err = "plan larger than the model slot"; return; }
  if (esdk_load(M, __model_slot_start, (size_t)fsize) != ESDK_OK) { g_err = esdk_last_error(M); return; }
  if ((uintptr_t)__arena_start + esdk_arena_size(M) > (uintptr_t)__arena_end) { g_err = "training arena larger than free SRAM"; return; }
  esdk_set_arena(M, __arena_start, esdk_arena_size(M));
  if (esdk_train_init(T, M) != ESDK_OK) { g_err = esdk_train_error(T); return; }
  esdk_train_params(T, &psize);
  if (psize > wslot_capacity()) { g_err = "updated parameters larger than a weight slot"; return; }
  g_ready = 1;
  g_err = "ok";
  s = wslot_newest(psize, &h);
  if (s >= 0) {
    esdk_train_set_params(T, wslot_payload(s), psize);
    esdk_train_set_steps_done(T, h.steps);
    kv("m-wslot-restored-seq-", h.seq);
  } else line("m-wslot-none");
}

void cmds_boot(void) {
  line("m-timestamp-mode-performance");
  bind();
  line("m-init-done");
  line("m-ready");
}

static int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void cmd_db(char *a) {
  esdk_tensor_info in;
  uint8_t *dst;
  size_t n, i;
  if (!g_ready) return err("No plan: ", g_err);
  esdk_input_info(M, 0, &in);
  dst = (uint8_t *)esdk_input_data(M, 0);
  if (strncmp(a, "load ", 5) == 0) {
    if (parse_u32(a + 5, &g_expect) || g_expect != in.nbytes) { g_expect = 0; return err("db load N: N must equal the input's bytes", 0); }
    g_loaded = 0;
    kv("m-[Expecting bytes] ", g_expect);
    return;
  }
  n = strlen(a);
  if (!g_expect) return err("db without a preceding db load", 0);
  if (n % 2) return err("Odd number of hex digits", 0);
  for (i = 0; i < n; i++) if (hexv(a[i]) < 0) return err("Invalid hex digit in db data", 0);
  if (g_loaded + n / 2 > g_expect) return err("db data overflows the announced load size", 0);
  for (i = 0; i < n; i += 2) dst[g_loaded++] = (uint8_t)(hexv(a[i]) << 4 | hexv(a[i + 1]));
  if (g_loaded == g_expect) line("m-load-done");
}

static int have_input(void) {
  if (!g_ready) return err("No plan: ", g_err), 0;
  if (!g_expect || g_loaded != g_expect) return err("No complete input: db load it first", 0), 0;
  return 1;
}

static void cmd_train(const char *a) {
  uint32_t label;
  float loss;
  uint64_t t0, t1;
  char b[24];
  if (parse_u32(a, &label)) return err("train L: L must be a class index", 0);
  if (!have_input()) return;
  t0 = timer_us();
  if (esdk_train_step(T, (int32_t)label, 0, &loss) != ESDK_OK) return err("train step failed: ", esdk_train_error(T));
  t1 = timer_us();
  g_expect = 0; /* the step reused the input's arena space */
  fmt_f3(b, loss);
  uart_puts("m-loss-");
  line(b);
  kv("m-step-us-", t1 - t0);
  kv("m-steps-", esdk_train_steps_done(T));
}

static void cmd_infer(void) {
  uint64_t t0, t1;
  if (!have_input()) return;
  t0 = timer_us();
  esdk_train_forward(T);
  t1 = timer_us();
  g_expect = 0;
  kv("m-infer-us-", t1 - t0);
  kv("m-pred-", (uint64_t)esdk_train_argmax(T));
}

static void cmd_params(const char *a) {
  size_t n, i;
  const uint8_t *p;
  if (!g_ready) return err("No plan: ", g_err);
  p = (const uint8_t *)esdk_train_params(T, &n);
  kv("m-params-bytes-", n);
  kv("m-params-crc-", esdk_crc32(p, n));
  if (strcmp(a, "dump") == 0)
    for (i = 0; i < n; i += 32) {
      size_t k;
      uart_puts("m-p-");
      for (k = i; k < n && k < i + 32; k++) { uart_putc("0123456789abcdef"[p[k] >> 4]); uart_putc("0123456789abcdef"[p[k] & 15]); }
      uart_puts("\r\n");
    }
}

static void cmd_mem(void) {
  uint32_t stat = (uint32_t)(__bss_end - __data_start), arena = (uint32_t)esdk_arena_size(M), hwm = stack_high_water();
  kv("m-mem-static-", stat);       /* .data + .bss, contexts included */
  kv("m-mem-arena-", arena);
  kv("m-mem-stack-hwm-", hwm);
  kv("m-mem-stack-size-", stack_size());
  kv("m-mem-peak-", stat + arena + hwm);
  kv("m-mem-sram-", 256u * 1024u);
}

static void cmd_save(void) {
  size_t n;
  void *p;
  if (!g_ready) return err("No plan: ", g_err);
  p = esdk_train_params(T, &n);
  kv("m-saved-seq-", wslot_save(p, n, esdk_train_steps_done(T), g_cut));
  g_cut = -1;
}

static void dispatch(char *c) {
  char *a = strchr(c, ' ');
  uint32_t v;
  if (a) *a++ = 0;
  else a = c + strlen(c);
  if (strcmp(c, "name") == 0) line("m-name-dut-[edge-sdk-train]");
  else if (strcmp(c, "profile") == 0) { line("m-profile-[ULPMark for tinyML Firmware V0.0.1]"); line("m-model-[custom]"); }
  else if (strcmp(c, "timestamp") == 0) kv("m-lap-us-", timer_us());
  else if (strcmp(c, "db") == 0) cmd_db(a);
  else if (strcmp(c, "train") == 0) cmd_train(a);
  else if (strcmp(c, "infer") == 0) cmd_infer();
  else if (strcmp(c, "params") == 0) cmd_params(a);
  else if (strcmp(c, "mem") == 0) cmd_mem();
  else if (strcmp(c, "save") == 0) cmd_save();
  else if (strcmp(c, "powercut") == 0) {
    if (parse_u32(a, &v)) return err("powercut N: N must be a byte count", 0);
    g_cut = (int32_t)v;
    kv("m-powercut-armed-", v);
  } else err("Unknown command: ", c);
}

void cmds_feed(char ch) {
  if (ch == '\r' || ch == '\n') return;
  if (ch != '%') {
    if (g_len < CMD_MAX) g_cmd[g_len++] = ch;
    else g_over = 1;
    return;
  }
  g_cmd[g_len] = 0;
  if (g_over) err("Command too long: the buffer holds 80 characters", 0);
  else dispatch(g_cmd);
  g_len = 0;
  g_over = 0;
  line("m-ready");
}
