"""Host bench program: `python -m edge_sdk.hil.agent ART.esm [--runs N] [--warmup W] [--input i=path.bin]
[--out-dir DIR]` prints one JSON line, like native/programs/esdk_run, plus `warmup` support and
`window_ms` (the timed loop only, warmup excluded). Used for devices of target `host` reached
with transport = local, ssh or adb where Python and edge-sdk are installed."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="edge_sdk.hil.agent")
    ap.add_argument("artifact")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--isa", default="best")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--input", action="append", default=[])
    ap.add_argument("--out-dir")
    a = ap.parse_args(argv)
    import numpy as np

    from ..errors import EdgeSdkError
    from ..runtime.session import Session

    try:
        t0 = time.perf_counter()
        s = Session(a.artifact, threads=a.threads, isa="scalar" if a.isa == "scalar" else "auto")
        load_ms = (time.perf_counter() - t0) * 1e3
        feeds = {}
        given = dict(x.split("=", 1) for x in a.input)
        for k, info in enumerate(s.inputs):
            if str(k) in given:
                raw = np.fromfile(given[str(k)], dtype=info.dtype)
                if raw.size != int(np.prod(info.shape)):
                    print(f"input {k}: {given[str(k)]} has the wrong size", file=sys.stderr)
                    return 1
                feeds[info.name] = raw.reshape(info.shape)
            else:
                feeds[info.name] = np.zeros(info.shape, info.dtype)
        out = s.run(feeds)
        for _ in range(max(0, a.warmup)):
            s.invoke()
        runs = max(1, a.runs)
        t0 = time.perf_counter()
        for _ in range(runs):
            s.invoke()
        window_ms = (time.perf_counter() - t0) * 1e3
        out = s.run(feeds)
    except EdgeSdkError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if a.out_dir:
        for k, info in enumerate(s.outputs):
            np.ascontiguousarray(out[info.name]).tofile(Path(a.out_dir) / f"output_{k}.bin")
    print(json.dumps({"artifact": a.artifact, "isa": s.isa, "threads": a.threads, "load_ms": load_ms,
                      "runs": runs, "warmup": a.warmup, "window_ms": window_ms, "mean_ms": window_ms / runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
