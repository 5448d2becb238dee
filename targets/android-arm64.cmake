# CMake toolchain for android-arm64: the NDK's own toolchain file when an NDK is installed
# (ANDROID_NDK_HOME / ANDROID_NDK_ROOT; API 24, arm64-v8a, static executable run from
# /data/local/tmp), otherwise the static glibc aarch64 build, which Android's kernel runs just
# as well (a static binary needs neither bionic nor the dynamic linker).
set(_ndk "$ENV{ANDROID_NDK_HOME}")
if(NOT _ndk)
  set(_ndk "$ENV{ANDROID_NDK_ROOT}")
endif()
if(_ndk AND EXISTS "${_ndk}/build/cmake/android.toolchain.cmake")
  set(ANDROID_ABI arm64-v8a)
  set(ANDROID_PLATFORM android-24)
  include("${_ndk}/build/cmake/android.toolchain.cmake")
  set(CMAKE_C_FLAGS_INIT "-ffp-contract=off")
  set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
else()
  include("${CMAKE_CURRENT_LIST_DIR}/aarch64-linux-gnu.cmake")
endif()
