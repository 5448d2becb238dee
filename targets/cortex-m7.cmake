# CMake toolchain file for targets/cortex-m7.toml: arm-none-eabi-gcc, Cortex-M7 (STM32F746-class)
# (DSP extension + single-precision FPU, hard-float ABI). Used by edge_sdk/build/mcu.py as
#   cmake -S hil/firmware -B build/cortex-m7 -DCMAKE_TOOLCHAIN_FILE=targets/cortex-m7.cmake
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR cortex-m7)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
# no OS to link test programs against: configure-time checks build static libraries
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(ESDK_CPU_FLAGS "-mcpu=cortex-m7 -mthumb -mfpu=fpv5-sp-d16 -mfloat-abi=hard")
set(CMAKE_C_FLAGS_INIT "${ESDK_CPU_FLAGS}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${ESDK_CPU_FLAGS}")
# kernels chosen at compile time: native/src/kernels/cortexm (SMLAD via ACLE intrinsics)
set(ESDK_ISA_DEFINE ESDK_ISA_DSP)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
