#!/usr/bin/env bash
# Builds (once) an arm64 Debian bookworm sysroot holding python3.11, numpy and cffi, for running
# the Python binding under qemu-aarch64 user mode. No chroot and no binfmt are needed:
# `debootstrap --foreign` resolves and downloads the packages, and we unpack every .deb with
# `dpkg -x` (maintainer scripts never run, which a Python interpreter does not need).
# Usage: aarch64_sysroot.sh [DIR]  (default ~/.cache/edge-sdk/sysroot-arm64-bookworm); prints DIR.
set -euo pipefail
DIR=${1:-${EDGE_SDK_SYSROOT:-$HOME/.cache/edge-sdk/sysroot-arm64-bookworm}}
MIRROR=${EDGE_SDK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PKGS=python3,python3-numpy,python3-cffi-backend,libpython3.11-dev
if [ -f "$DIR/.edge-sdk-complete" ]; then echo "$DIR"; exit 0; fi
command -v debootstrap >/dev/null || { echo "aarch64_sysroot.sh: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
rm -rf "$DIR"
mkdir -p "$DIR"
debootstrap --foreign --arch=arm64 --variant=minbase --include="$PKGS" bookworm "$DIR" "$MIRROR" >"$DIR.log" 2>&1 \
  || { echo "aarch64_sysroot.sh: debootstrap failed, see $DIR.log" >&2; exit 1; }
for deb in "$DIR"/var/cache/apt/archives/*.deb; do dpkg -x "$deb" "$DIR"; done
# usrmerge: bookworm's base-files ship /lib -> usr/lib links only through the second stage;
# the dynamic loader lives at /lib/ld-linux-aarch64.so.1, which qemu -L looks up in DIR.
for d in bin sbin lib; do
  if [ -d "$DIR/$d" ] && [ ! -L "$DIR/$d" ]; then cp -a "$DIR/$d/." "$DIR/usr/$d/" && rm -rf "$DIR/$d"; fi
  [ -e "$DIR/$d" ] || ln -s "usr/$d" "$DIR/$d"
done
# update-alternatives (a maintainer script) normally links the reference BLAS/LAPACK that
# numpy's extension loads; do it by hand.
for lib in blas/libblas.so.3 lapack/liblapack.so.3; do
  [ -e "$DIR/usr/lib/aarch64-linux-gnu/$lib" ] && ln -sf "$lib" "$DIR/usr/lib/aarch64-linux-gnu/$(basename "$lib")"
done
rm -rf "$DIR"/var/cache/apt/archives/*.deb
touch "$DIR/.edge-sdk-complete"
echo "$DIR"
