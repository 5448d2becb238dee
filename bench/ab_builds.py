"""Before / after in one process: this checkout's native build against another built checkout
(or against itself with a second artifact), `Session.profile` sums and `Session.run` medians
alternated round by round, so both sides see the same machine load.

    python bench/ab_builds.py NEW.esm[:OLD.esm] ... --other /path/to/built/checkout [--rounds 31]
    python bench/ab_builds.py NEW.esm:OLD.esm            # one build, two artifacts
    python bench/ab_builds.py NEW.esm --other DIR --per-op

The other checkout's `edge_sdk` package (with its built `_esdk` extension) is copied under
another package name into a temporary directory and imported beside this one; each extension is
loaded with local symbols, so each session runs its own kernels. OLD.esm (default: NEW.esm) runs
on the other build. Input: one N(0, 1) sample (seed 0) shaped like the model input.
"""
from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edge_sdk.runtime.session import Session  # noqa: E402


def other_session_class(checkout: Path):
    pkg = checkout / "edge_sdk"
    if not list((pkg / "runtime").glob("_esdk*.so")):
        raise SystemExit(f"{checkout}: no built native extension (python setup.py build_ext --inplace)")
    tmp = Path(tempfile.mkdtemp(prefix="esdk-ab-"))
    shutil.copytree(pkg, tmp / "edge_sdk_other", ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, str(tmp))
    # The cffi extension registers itself in sys.modules under the name it was built with
    # ("edge_sdk.runtime._esdk"), so importing the copy replaces this build's entry, and every
    # Session created afterwards (they import ._esdk when constructed) would run the other build.
    mine = importlib.import_module("edge_sdk.runtime._esdk")
    importlib.import_module("edge_sdk_other.runtime._esdk")
    sys.modules["edge_sdk.runtime._esdk"] = mine
    return importlib.import_module("edge_sdk_other.runtime.session").Session


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs", nargs="+", help="NEW.esm[:OLD.esm]")
    ap.add_argument("--other", type=Path, help="built checkout for the OLD side (default: this build)")
    ap.add_argument("--rounds", type=int, default=31)
    ap.add_argument("--invokes", type=int, default=15, help="profile invokes / run calls per round")
    ap.add_argument("--per-op", action="store_true", help="also per-op profile medians")
    args = ap.parse_args()
    Old = other_session_class(args.other) if args.other else Session
    for pair in args.pairs:
        new_path, _, old_path = pair.partition(":")
        old_path = old_path or new_path
        sn, so = Session(Path(new_path).read_bytes()), Old(Path(old_path).read_bytes())
        x = np.random.default_rng(0).standard_normal(sn.inputs[0].shape).astype(np.float32)
        f = {sn.inputs[0].name: x}
        same = all(np.array_equal(a, b) for a, b in zip(sn.run(f).values(), so.run(f).values()))
        prof = {id(sn): [], id(so): []}
        runs = {id(sn): [], id(so): []}
        for r in range(args.rounds):
            for s in (sn, so) if r % 2 == 0 else (so, sn):
                prof[id(s)].append(s.profile(f, runs=args.invokes))
                ts = []
                for _ in range(args.invokes):
                    t0 = time.perf_counter()
                    s.run(f)
                    ts.append(time.perf_counter() - t0)
                runs[id(s)].append(float(np.median(ts)) * 1e3)
        per_op = {k: np.median(np.array([[t for *_, t in p] for p in v]), axis=0) for k, v in prof.items()}
        pn, po = (float(np.median([sum(t for *_, t in p) for p in prof[id(s)]])) for s in (sn, so))
        rn, ro = (float(np.median(runs[id(s)])) for s in (sn, so))
        print(f"{new_path} (old side: {old_path}{', other build' if args.other else ''}), {args.rounds} rounds: "
              f"outputs identical {same}; profile sum old {po:.3f} -> new {pn:.3f} ms ({po / pn:.3f}x); "
              f"run old {ro:.3f} -> new {rn:.3f} ms ({ro / rn:.3f}x)", flush=True)
        if args.per_op:
            for (i, op, src, _), n, o in zip(prof[id(sn)][0], per_op[id(sn)], per_op[id(so)]):
                print(f"  {i:3d} {op:16s} {src:24s} old {o:.3f} -> new {n:.3f} ms ({o / n:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
