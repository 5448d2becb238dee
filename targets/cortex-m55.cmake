# CMake toolchain file for targets/cortex-m55.toml: arm-none-eabi-gcc, Cortex-M55 with
# Helium (MVE integer + float) and the FPU, hard-float ABI. Used by edge_sdk/build/mcu.py as
#   cmake -S hil/firmware -B build/cortex-m55 -DCMAKE_TOOLCHAIN_FILE=targets/cortex-m55.cmake
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR cortex-m55)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(ESDK_CPU_FLAGS "-mcpu=cortex-m55 -mthumb -mfloat-abi=hard")
set(CMAKE_C_FLAGS_INIT "${ESDK_CPU_FLAGS}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${ESDK_CPU_FLAGS}")
# kernels chosen at compile time: native/src/kernels/helium (MVE intrinsics, arm_mve.h)
set(ESDK_ISA_DEFINE ESDK_ISA_MVE)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
