/* Command assembly and dispatch. Every reply ends with "m-ready"; every failure is one
   "e-[...]" line, and nothing a host sends (noise, overlong lines, bad hex) can make the
   firmware stop answering. */
#include <string.h>
#include "dut.h"
#include "fmt.h"
#include "model_slot.h"
#include "timer.h"
#include "uart_cmsdk.h"

static char g_cmd[DUT_CMD_MAX + 1];
static unsigned g_len;
static int g_overflow;

static uint32_t g_expect;  /* bytes announced by `db load N` */
static uint32_t g_loaded;  /* bytes received so far */
static int g_have_results; /* an inference has completed since the model was bound */

static void line(const char *s) {
  uart_puts(s);
  uart_puts("\r\n");
}

static void line2(const char *a, const char *b) {
  uart_puts(a);
  uart_puts(b);
  uart_puts("\r\n");
}

static void error(const char *msg, const char *arg) {
  uart_puts("e-[");
  uart_puts(msg);
  if (arg) uart_puts(arg);
  line("]");
}

static void put_u64(uint64_t v) {
  char b[24];
  fmt_u64(b, v);
  uart_puts(b);
}

void dut_boot_banner(void) {
  line("m-timestamp-mode-performance");
  line("m-init-done");
  line("m-ready");
}

/* ---- model information ---- */
static const char *dtype_name(esdk_dtype d) {
  switch (d) {
    case ESDK_F32: return "float32";
    case ESDK_I8: return "int8";
    case ESDK_U8: return "uint8";
    case ESDK_I32: return "int32";
    default: return "uint32";
  }
}

static size_t elem_count(const esdk_tensor_info *t) {
  size_t n = 1;
  int i;
  for (i = 0; i < t->rank; i++) n *= (size_t)t->dims[i];
  return n;
}

/* MLPerf Tiny model ids by input shape; anything else is "custom". */
static const char *model_id(void) {
  esdk_tensor_info t;
  size_t n;
  if (!slot_ready()) return "none";
  esdk_input_info(slot_model(), 0, &t);
  n = elem_count(&t);
  if (n == 49 * 10) return "kws01";
  if (n == 96 * 96 * 3) return "vww01";
  if (n == 32 * 32 * 3) return "ic01";
  if (n == 640) return "ad01";
  return "custom";
}

static void put_tensor(const esdk_tensor_info *t) {
  int i;
  uart_puts(dtype_name(t->dtype));
  uart_puts(":");
  for (i = 0; i < t->rank; i++) {
    if (i) uart_puts("x");
    put_u64((uint64_t)t->dims[i]);
  }
}

static void cmd_model(void) {
  esdk_tensor_info t;
  esdk_model *m = slot_model();
  if (!slot_ready()) {
    error("No model: ", slot_error());
    return;
  }
  uart_puts("m-model-info-[isa=");
  uart_puts(esdk_isa_name(m));
  uart_puts(",in=");
  esdk_input_info(m, 0, &t);
  put_tensor(&t);
  uart_puts(",out=");
  esdk_output_info(m, 0, &t);
  put_tensor(&t);
  uart_puts(",arena=");
  put_u64(esdk_arena_size(m));
  uart_puts(",staging=");
  put_u64(slot_staging_capacity());
  line("]");
}

/* ---- db ---- */
static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static void put_hex_line(const char *prefix, const uint8_t *p, size_t n) {
  size_t i;
  uart_puts(prefix);
  for (i = 0; i < n; i++) {
    uart_putc("0123456789abcdef"[p[i] >> 4]);
    uart_putc("0123456789abcdef"[p[i] & 15]);
  }
  uart_puts("\r\n");
}

static void cmd_db_out(const char *arg) {
  uint32_t idx = 0, i;
  esdk_tensor_info t;
  const uint8_t *p;
  char b[24];
  if (!slot_ready()) return error("No model: ", slot_error());
  if (arg && parse_u32(arg, &idx)) return error("Bad output index: ", arg);
  if ((int32_t)idx >= esdk_num_outputs(slot_model())) return error("No such output: ", arg);
  if (!g_have_results) return error("No results yet: run infer first", 0);
  esdk_output_info(slot_model(), (int32_t)idx, &t);
  p = (const uint8_t *)esdk_output_data(slot_model(), (int32_t)idx);
  fmt_u64(b, t.nbytes);
  line2("m-out-bytes-", b);
  for (i = 0; i < t.nbytes; i += 32) put_hex_line("m-out-", p + i, t.nbytes - i < 32 ? t.nbytes - i : 32);
}

static void cmd_db(char *args) {
  uint8_t *buf = slot_staging();
  char *sp = strchr(args, ' ');
  size_t n, i;
  if (!*args) return error("db needs an argument: load N, print, out [I] or hex bytes", 0);
  if (sp) *sp = 0;
  if (strcmp(args, "load") == 0) {
    uint32_t want;
    char b[24];
    if (!sp || parse_u32(sp + 1, &want) || want == 0) return error("db load needs a byte count N >= 1", 0);
    if (want > slot_staging_capacity()) {
      fmt_u64(b, slot_staging_capacity());
      return error("db load larger than the input buffer of bytes: ", b);
    }
    g_expect = want;
    g_loaded = 0;
    fmt_u64(b, want);
    uart_puts("m-[Expecting ");
    uart_puts(b);
    line(" bytes]");
    return;
  }
  if (strcmp(args, "print") == 0) {
    for (i = 0; i < g_loaded; i += 32) put_hex_line("m-buffer-", buf + i, g_loaded - i < 32 ? g_loaded - i : 32);
    if (!g_loaded) line("m-buffer-");
    return;
  }
  if (strcmp(args, "out") == 0) return cmd_db_out(sp ? sp + 1 : 0);
  if (sp) *sp = ' ';
  /* hex payload: validate all of it before storing any, so a bad line changes nothing */
  n = strlen(args);
  if (g_expect == 0) return error("db without a preceding db load", 0);
  if (n % 2) return error("Odd number of hex digits", 0);
  for (i = 0; i < n; i++)
    if (hexval(args[i]) < 0) return error("Invalid hex digit in db data", 0);
  if (g_loaded + n / 2 > g_expect) return error("db data overflows the announced load size", 0);
  for (i = 0; i < n; i += 2) buf[g_loaded++] = (uint8_t)(hexval(args[i]) << 4 | hexval(args[i + 1]));
  if (g_loaded == g_expect) line("m-load-done");
}

/* ---- inference ---- */
static int run_once(void) {
  esdk_model *m = slot_model();
  memcpy(esdk_input_data(m, 0), slot_staging(), g_loaded);
  return esdk_invoke(m) == ESDK_OK ? 0 : -1;
}

static void cmd_results(void) {
  esdk_tensor_info t;
  esdk_model *m = slot_model();
  const void *p;
  size_t n, i;
  char b[40];
  if (!slot_ready()) return error("No model: ", slot_error());
  if (!g_have_results) return error("No results yet: run infer first", 0);
  esdk_output_info(m, 0, &t);
  p = esdk_output_data(m, 0);
  n = elem_count(&t);
  uart_puts("m-results-[");
  for (i = 0; i < n; i++) {
    float v;
    if (t.dtype == ESDK_I8) v = t.scale * (float)(((const int8_t *)p)[i] - t.zero_point);
    else if (t.dtype == ESDK_U8) v = t.scale * (float)(((const uint8_t *)p)[i] - t.zero_point);
    else if (t.dtype == ESDK_F32) memcpy(&v, (const uint8_t *)p + 4 * i, 4);
    else v = (float)((const int32_t *)p)[i];
    fmt_f3(b, v);
    if (i) uart_putc(',');
    uart_puts(b);
  }
  line("]");
}

static void cmd_infer(char *args) {
  uint32_t n = 1, w = 10, i;
  char *sp = strchr(args, ' ');
  esdk_tensor_info t;
  char b[24];
  if (*args) {
    if (sp) *sp = 0;
    if (parse_u32(args, &n) || n == 0) return error("infer N W: N must be an integer >= 1", 0);
    if (sp && parse_u32(sp + 1, &w)) return error("infer N W: W must be an integer >= 0", 0);
  }
  if (!slot_ready()) return error("No model: ", slot_error());
  esdk_input_info(slot_model(), 0, &t);
  if (g_expect == 0 || g_loaded != g_expect) return error("No complete input: db load it first", 0);
  if (g_loaded != t.nbytes) {
    fmt_u64(b, t.nbytes);
    return error("Loaded input size differs from the model input's bytes: ", b);
  }
  fmt_u64(b, w);
  line2("m-warmup-start-", b);
  for (i = 0; i < w; i++)
    if (run_once()) return error("invoke failed: ", esdk_last_error(slot_model()));
  line("m-warmup-done");
  fmt_u64(b, n);
  line2("m-infer-start-", b);
  fmt_u64(b, timer_us());
  line2("m-lap-us-", b);
  for (i = 0; i < n; i++)
    if (run_once()) return error("invoke failed: ", esdk_last_error(slot_model()));
  fmt_u64(b, timer_us());
  line2("m-lap-us-", b);
  line("m-infer-done");
  g_have_results = 1;
  cmd_results();
}

static void cmd_isa(const char *arg) {
  esdk_model *m = slot_model();
  if (!slot_ready()) return error("No model: ", slot_error());
  if (*arg) {
    int level = strcmp(arg, "scalar") == 0 ? 1 : strcmp(arg, "best") == 0 ? 0 : -1;
    if (level < 0) return error("isa takes scalar or best, not ", arg);
    esdk_set_isa(m, level);
  }
  line2("m-isa-", esdk_isa_name(m));
}

static void dispatch(char *cmd) {
  char *args = strchr(cmd, ' ');
  char b[24];
  if (args) *args++ = 0;
  else args = cmd + strlen(cmd);
  if (strcmp(cmd, "name") == 0) line("m-name-dut-[edge-sdk]");
  else if (strcmp(cmd, "profile") == 0) {
    line("m-profile-[ULPMark for tinyML Firmware V0.0.1]");
    uart_puts("m-model-[");
    uart_puts(model_id());
    line("]");
  } else if (strcmp(cmd, "timestamp") == 0) {
    fmt_u64(b, timer_us());
    line2("m-lap-us-", b);
  } else if (strcmp(cmd, "db") == 0) cmd_db(args);
  else if (strcmp(cmd, "infer") == 0) cmd_infer(args);
  else if (strcmp(cmd, "results") == 0) cmd_results();
  else if (strcmp(cmd, "model") == 0) cmd_model();
  else if (strcmp(cmd, "isa") == 0) cmd_isa(args);
  else {
    if (args > cmd + strlen(cmd)) args[-1] = ' '; /* report the whole command as received */
    error("Unknown command: ", cmd);
  }
}

void dut_feed(char c) {
  if (c == '\r' || c == '\n') return; /* the protocol sends none; stray line ends are noise */
  if (c != '%') {
    if (g_len < DUT_CMD_MAX) g_cmd[g_len++] = c;
    else g_overflow = 1;
    return;
  }
  g_cmd[g_len] = 0;
  if (g_overflow) error("Command too long: the buffer holds 80 characters", 0);
  else {
    unsigned i;
    for (i = 0; i < g_len; i++) /* unprintable bytes would corrupt the reply lines */
      if ((unsigned char)g_cmd[i] < 32 || (unsigned char)g_cmd[i] > 126) g_cmd[i] = '?';
    dispatch(g_cmd);
  }
  g_len = 0;
  g_overflow = 0;
  line("m-ready");
}
