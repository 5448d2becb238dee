#!/usr/bin/env bash
# Fuzz a loader for SECONDS (default 60). TARGET (default loader):
#   loader  fuzz_loader.c: the artifact loader (esdk_load) and one invoke, seeds from make_corpus.py
#   moe     fuzz_moe.c: the MoE artifact + expert bundle loaders and a few decode steps, resident
#           and streamed, seeds from make_corpus_moe.py (tiny models written by edge_sdk.moe)
#  - With clang + libFuzzer: coverage-guided fuzzing with ASan+UBSan over a seed corpus.
#  - Otherwise (or FUZZ_ENGINE=gcc): gcc with ASan+UBSan, running the main() fallback over the
#    seeds plus rounds of CRC-fixed random mutations from the corpus script.
# Any sanitizer report or crash fails the script.
set -euo pipefail
SECONDS_BUDGET=${1:-60}
TARGET=${2:-loader}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${FUZZ_WORK:-$ROOT/build/fuzz}
case "$TARGET" in
  loader) CORPUS_PY=make_corpus.py; EXT=esm; MAX_LEN=65536; ROUND=3000
          SRCS=$(find "$ROOT/native/src" -name '*.c' | sort) ;;
  moe)    CORPUS_PY=make_corpus_moe.py; EXT=moe; MAX_LEN=262144; ROUND=300
          SRCS=$(find "$ROOT/native/src/moe" -name '*.c' | sort); WORK=$WORK/moe
          export FUZZ_MOE_TMPDIR=$WORK ;;
  *) echo "run_fuzz.sh: unknown target '$TARGET' (loader or moe)" >&2; exit 2 ;;
esac
mkdir -p "$WORK/corpus"
CFLAGS="-O1 -g -std=c99 -I$ROOT/native/include -fno-sanitize-recover=all -fno-strict-aliasing"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=0
BIN="$WORK/fuzz_$TARGET"

python3 "$HERE/$CORPUS_PY" "$WORK/corpus" >/dev/null

if [ "${FUZZ_ENGINE:-}" != gcc ] && command -v clang >/dev/null && \
   echo 'int LLVMFuzzerTestOneInput(const char*d,unsigned long n){return 0;}' \
     | clang -x c - -fsanitize=fuzzer -o "$WORK/probe" 2>/dev/null; then
  echo "[run_fuzz] $TARGET: libFuzzer build (clang)"
  clang $CFLAGS -fsanitize=fuzzer,address,undefined $SRCS "$HERE/fuzz_$TARGET.c" -lm -lpthread -o "$BIN"
  "$BIN" -max_total_time="$SECONDS_BUDGET" -max_len=$MAX_LEN -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix="$WORK/" "$WORK/corpus"
else
  echo "[run_fuzz] $TARGET: no libFuzzer: gcc + sanitizers over random mutations"
  gcc $CFLAGS -DESDK_FUZZ_MAIN -fsanitize=address,undefined $SRCS "$HERE/fuzz_$TARGET.c" -lm -lpthread -o "$BIN"
  "$BIN" "$WORK"/corpus/* >/dev/null
  end=$((SECONDS + SECONDS_BUDGET)); round=0
  while [ $SECONDS -lt $end ]; do
    rm -rf "$WORK/mut"; python3 "$HERE/$CORPUS_PY" "$WORK/mut" --mutations $ROUND --seed $round >/dev/null
    find "$WORK/mut" -name "*.$EXT" -print0 | xargs -0 -n 100 "$BIN" >/dev/null
    round=$((round + 1))
  done
  echo "[run_fuzz] $TARGET: $round rounds of $ROUND mutations, no findings"
fi
