#!/usr/bin/env bash
# Fuzz the loader for SECONDS (default 60).
#  - With clang + libFuzzer: coverage-guided fuzzing with ASan+UBSan over a seed corpus.
#  - Otherwise: gcc with ASan+UBSan, running the main() fallback over the seeds plus a few
#    thousand CRC-fixed random mutations from make_corpus.py.
# Any sanitizer report or crash fails the script.
set -euo pipefail
SECONDS_BUDGET=${1:-60}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${FUZZ_WORK:-$ROOT/build/fuzz}
mkdir -p "$WORK/corpus"
SRCS=$(find "$ROOT/native/src" -name '*.c' | sort)
CFLAGS="-O1 -g -std=c99 -I$ROOT/native/include -fno-sanitize-recover=all -fno-strict-aliasing"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=0

python3 "$HERE/make_corpus.py" "$WORK/corpus" >/dev/null

if command -v clang >/dev/null && echo 'int LLVMFuzzerTestOneInput(const char*d,unsigned long n){return 0;}' \
     | clang -x c - -fsanitize=fuzzer -o "$WORK/probe" 2>/dev/null; then
  echo "[run_fuzz] libFuzzer build (clang)"
  clang $CFLAGS -fsanitize=fuzzer,address,undefined $SRCS "$HERE/fuzz_loader.c" -lm -o "$WORK/fuzz_loader"
  "$WORK/fuzz_loader" -max_total_time="$SECONDS_BUDGET" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
    "$WORK/corpus"
else
  echo "[run_fuzz] no libFuzzer: gcc + sanitizers over random mutations"
  gcc $CFLAGS -DESDK_FUZZ_MAIN -fsanitize=address,undefined $SRCS "$HERE/fuzz_loader.c" -lm -o "$WORK/fuzz_loader"
  end=$((SECONDS + SECONDS_BUDGET)); round=0
  while [ $SECONDS -lt $end ]; do
    rm -rf "$WORK/mut"; python3 "$HERE/make_corpus.py" "$WORK/mut" --mutations 3000 --seed $round >/dev/null
    find "$WORK/mut" -name '*.esm' -print0 | xargs -0 -n 500 "$WORK/fuzz_loader" >/dev/null
    round=$((round + 1))
  done
  echo "[run_fuzz] $round rounds of 3000 mutations, no findings"
fi
