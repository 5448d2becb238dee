# CMake toolchain for the aarch64 Linux targets (rpi4, rpi5; android-arm64 without an NDK):
# Debian's gcc-aarch64-linux-gnu cross compiler, static executables so the same binary runs
# on Raspberry Pi OS, on Android from /data/local/tmp, and under qemu-aarch64 with no sysroot.
# No -mcpu: the NEON kernels are armv8-a baseline and the SDOT ones carry a target attribute,
# so one build serves Cortex-A72 and Cortex-A76 (cpu.c picks at load time from HWCAP).
# -ffp-contract=off keeps the scalar float kernels rounding exactly like the host build
# (aarch64 gcc would otherwise fuse a*b+c into FMA in the C reference code).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CROSS_PREFIX aarch64-linux-gnu- CACHE STRING "cross compiler prefix")
set(CMAKE_C_COMPILER ${CROSS_PREFIX}gcc)
set(CMAKE_C_FLAGS_INIT "-ffp-contract=off")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
# native/CMakeLists.txt find_library()s libm and would get libm.so; -lm links libm.a under -static
set(MATH_LIB m CACHE STRING "math library")
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64)
