#!/usr/bin/env bash
# Proves the Python binding (cffi) builds and runs on aarch64 Linux (a Raspberry Pi) by
# emulation: cross-compiles edge_sdk's cffi extension against an arm64 Debian bookworm
# sysroot's Python 3.11 headers, stages the package with it, and runs the arm64 python3.11
# under qemu-aarch64 user mode (-L SYSROOT: no chroot, no binfmt).
#
#   aarch64_python.sh                      import check: prints machine, numpy, runtime ISA
#   aarch64_python.sh ART.esm IN.npz OUT.npz   runs Session(ART) on IN's arrays -> OUT
#
# Env: EDGE_SDK_QEMU_CPU (default cortex-a72), EDGE_SDK_SYSROOT, EDGE_SDK_CACHE.
# Everything is cached under ~/.cache/edge-sdk: the sysroot (once), and the staged package,
# rebuilt only when a native source or a Python file is newer than the built extension.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${EDGE_SDK_CACHE:-$HOME/.cache/edge-sdk}
CPU=${EDGE_SDK_QEMU_CPU:-cortex-a72}
CC=${CROSS_CC:-aarch64-linux-gnu-gcc}
PYHOST=${PYTHON:-python3}
for t in "$CC" qemu-aarch64 debootstrap "$PYHOST"; do
  command -v "$t" >/dev/null || { echo "aarch64_python.sh: $t is not installed" >&2; exit 1; }
done
SYSROOT=$(bash "$HERE/aarch64_sysroot.sh")
STAGE=$CACHE/py-aarch64
SO=$STAGE/edge_sdk/runtime/_esdk.cpython-311-aarch64-linux-gnu.so

stale=1
if [ -f "$SO" ] && [ -z "$(find "$ROOT/native/src" "$ROOT/native/include" "$ROOT/edge_sdk" \
      \( -name '*.c' -o -name '*.h' -o -name '*.py' \) -newer "$SO" -print -quit)" ]; then
  stale=0
fi
if [ "$stale" = 1 ]; then
  rm -rf "$STAGE" && mkdir -p "$STAGE"
  # Python sources only: the host's x86-64 extension must not shadow the aarch64 one.
  (cd "$ROOT" && find edge_sdk -name '*.py' -print0 | xargs -0 -I{} install -D -m 644 {} "$STAGE/{}")
  # The extension's C source and build settings come from the same cffi builder pip uses.
  "$PYHOST" - "$ROOT" "$STAGE" >/dev/null <<'PY'
import importlib.util, sys
root, stage = sys.argv[1], sys.argv[2]
spec = importlib.util.spec_from_file_location("build_native", f"{root}/edge_sdk/runtime/build_native.py")
mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
fb = mod.ffibuilder
fb.emit_c_code(f"{stage}/_esdk.c")
kw = fb._assigned_source[3]
args = [f"{root}/{s}" for s in kw.get("sources", [])]
args += [f"-I{d}" for d in kw.get("include_dirs", [])]
args += list(kw.get("extra_compile_args", []))
args += [f"-l{l}" for l in kw.get("libraries", [])]
open(f"{stage}/build_args", "w").write("\n".join(args) + "\n")
PY
  mapfile -t ARGS <"$STAGE/build_args"
  # -idirafter: the cross compiler's own libc headers win; the sysroot adds pyconfig's arch dir.
  # -ffp-contract=off: scalar float code rounds exactly like the host build.
  "$CC" -shared -fPIC -ffp-contract=off -o "$SO" "$STAGE/_esdk.c" \
    -I"$SYSROOT/usr/include/python3.11" -I"$SYSROOT/usr/include/aarch64-linux-gnu/python3.11" \
    -idirafter "$SYSROOT/usr/include" "${ARGS[@]}" 2>"$STAGE/build.log" \
    || { echo "aarch64_python.sh: cross-compiling the extension failed, see $STAGE/build.log" >&2; exit 1; }
fi

exec qemu-aarch64 -cpu "$CPU" -L "$SYSROOT" "$SYSROOT/usr/bin/python3.11" -B "$HERE/aarch64_session_run.py" "$STAGE" "$@"
