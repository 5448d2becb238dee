/* Per-board constants of the emulated Arm FPGA images the MCU targets stand in for.
   One of ESDK_BOARD_AN386 / AN500 / AN547 is defined by the firmware's CMakeLists. */
#ifndef ESDK_FW_BOARD_H
#define ESDK_FW_BOARD_H

#if defined(ESDK_BOARD_AN386) || defined(ESDK_BOARD_AN500)
/* MPS2 AN386 (Cortex-M4) / AN500 (Cortex-M7): CMSDK APB UART0, 25 MHz system clock. */
#define BOARD_UART0_BASE 0x40004000u
#define BOARD_SYSCLK_HZ 25000000u
#elif defined(ESDK_BOARD_AN547)
/* MPS3 AN547 (Corstone-300, Cortex-M55): UART0 through the secure peripheral alias
   (we boot and stay in the Secure state), 32 MHz system clock. */
#define BOARD_UART0_BASE 0x59303000u
#define BOARD_SYSCLK_HZ 32000000u
#else
#error "define ESDK_BOARD_AN386, ESDK_BOARD_AN500 or ESDK_BOARD_AN547"
#endif

#if defined(ESDK_BOARD_AN386)
#define BOARD_NAME "mps2-an386"
#elif defined(ESDK_BOARD_AN500)
#define BOARD_NAME "mps2-an500"
#else
#define BOARD_NAME "mps3-an547"
#endif
#endif
