#!/usr/bin/env bash
# Builds the qemu instruction-count plugin for the host (x86-64) qemu: build_insn_plugin.sh OUT.so
# Symbols such as qemu_plugin_outs resolve against the qemu binary when it loads the plugin.
set -euo pipefail
OUT=${1:-$HOME/.cache/edge-sdk/insn_count_plugin.so}
mkdir -p "$(dirname "$OUT")"
${CC:-gcc} -std=c99 -O2 -shared -fPIC -fvisibility=hidden -Wall -o "$OUT" "$(dirname "$0")/insn_count_plugin.c"
echo "$OUT"
