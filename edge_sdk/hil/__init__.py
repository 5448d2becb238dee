"""Hardware-in-the-loop harness: lab file -> deploy -> health check -> measure -> reports.

Layout (each file small and named for what it does):
  lab.py                  lab file (TOML) parsing and validation
  errors.py               typed errors; InfraError subclasses are infrastructure, not test failures
  transports/             serial (pyserial), ssh (paramiko), adb (adbutils), local (subprocess)
  protocols/              mlperf_tiny.py (over dut.py, the MLPerf Tiny host client), edge_bench.py (JSON bench program)
  deploy.py               flash (pyocd/openocd, read-back verified) and copy (scp/adb push)
  power/                  joulescope, lpm01a, ina219, rapl, model (energy estimate for emulated boards)
  emulate.py              emulated boards: qemu-system-arm with serial-on-TCP, aarch64 under qemu-user via sshd
  measure.py              windows, warmup, statistics
  runner.py               device x model loop, results written as they come
  report/                 junit.xml, report.json, report.html (inline SVG), summary.md, compare
  pytest_plugin.py        `pytest --lab LAB.toml` device fixtures
  labgrid_lab.py          scale-out through labgrid's coordinator and exporters
"""
