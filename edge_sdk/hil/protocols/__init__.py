"""Device protocols: mlperf_tiny (serial DUTs, over dut.py) and edge_bench (JSON bench program)."""
