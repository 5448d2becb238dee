"""FAKES of hardware we do not have, for tests only (named fake_* so no one mistakes them):
fake_dut (an MLPerf Tiny board on a TCP socket, with fault injection), fake_lpm01a (the STM32
power monitor's serial protocol on a pty), fake_smbus (an INA219/INA226 on an I2C bus),
fake_joulescope (an object with the joulescope package's device API), fake_gdbserver (a GDB
server with a NOR flash memory map, as openocd/pyocd serve with a probe) and fake_adbd (an
Android device's adbd over TCP; also what `emulate = true` on an adb device starts)."""
