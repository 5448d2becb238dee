"""MobileNetV2-w0.35 at 128x128 (int8, batch 1), sparse update under 256 KB: the plan's memory
breakdown, and PyTorch's peak memory for a full fine-tune of the same model on the host.

    python bench/finetune_mobilenet.py            # plan + PyTorch memory (live tensors, RSS)
    python bench/finetune_mobilenet.py --board    # + train on the emulated cortex-m7 (qemu)
    python bench/finetune_mobilenet.py --board --backward int8   # the same plan, int8 backward, board only
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "build" / "finetune"


def torch_memory() -> dict:
    """PyTorch's memory for a full fine-tune of the same model (fp32, SGD without momentum,
    batch 1, one thread, CPU), measured in this fresh process (run with --torch-memory):

    rss_growth   peak resident set (ru_maxrss) minus the resident set right after importing
                 torch and the zoo: model build + 2 training steps; includes the allocator's
                 cached blocks, lazily loaded kernel code and library state (rss_built: the
                 resident set once the model is built, before any step).
    live_peak    peak bytes of live tensors over one training step (zero_grad before the
                 window, so the gradients are allocated inside it): torch.profiler with
                 profile_memory=True records every allocation and free of the CPU allocator;
                 the running sum of those events in time order, at its maximum, plus what was
                 live when the window opened (parameters, buffers, input, label).
    """
    import os
    import resource

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    import numpy as np
    import torch
    from torch.profiler import ProfilerActivity, profile

    from models import zoo

    base = rss()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    m = zoo._built("mobilenet_v2_035_128").train()
    opt = torch.optim.SGD(m.parameters(), lr=0.01)
    x = torch.randn(1, 3, 128, 128)
    y = torch.tensor([3])
    built, built_max = rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def step() -> None:
        torch.nn.functional.cross_entropy(m(x), y).backward()
        opt.step()

    for _ in range(2):
        opt.zero_grad(set_to_none=True)
        step()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # before the profiler adds its own
    opt.zero_grad(set_to_none=True)
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    ev = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                key=lambda e: e.start_ns())
    run = np.cumsum([e.nbytes() for e in ev])
    params = sum(t.numel() * t.element_size() for t in m.parameters())
    at_open = params + sum(t.numel() * t.element_size() for t in m.buffers()) + x.nbytes + y.nbytes
    return {"rss_base": base, "rss_built": built, "rss_peak_at_build": built_max, "rss_peak": rss_peak,
            "rss_growth": rss_peak - base, "params": params,
            "live_at_open": at_open, "live_peak": int(run.max()) + at_open, "window_end": int(run[-1]),
            "alloc_events": len(ev), "torch": torch.__version__}


def torch_peak() -> dict:
    """torch_memory() in a fresh interpreter (the ONNX export and planning here would already
    have raised this process's peak RSS)."""
    import subprocess

    r = subprocess.run([sys.executable, __file__, "--torch-memory"], capture_output=True, text=True, check=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    from models import zoo

    from edge_sdk.finetune import plan

    OUT.mkdir(parents=True, exist_ok=True)
    onnx = OUT / "mobilenet_v2_035_128.onnx"
    if not onnx.exists():
        zoo.build_onnx("mobilenet_v2_035_128", onnx)
    rng = np.random.default_rng(0)
    xs = [rng.uniform(-1, 1, (1, 3, 128, 128)).astype(np.float32) for _ in range(4)]
    ys = list(rng.integers(0, 10, 4))
    t0 = time.time()
    bw = sys.argv[sys.argv.index("--backward") + 1] if "--backward" in sys.argv else "fp32"
    sfx = "" if bw == "fp32" else f"_{bw}"
    p = plan(str(onnx), budget_kb=256, target="cortex-m7", update="sparse", lr=0.01, calibration=(xs, ys), max_depth=8,
             backward=bw)
    p.save(OUT / f"mobilenet_v2_035_128_plan{sfx}.esm")
    print(p.summary())
    print(f"artifact {len(p.data) / 1024:.1f} KB; planned in {time.time() - t0:.0f} s")
    rep = {"plan": p.report}
    if bw != "fp32":  # same plan but for the backward arithmetic: only the board numbers differ
        if "--board" in sys.argv:
            rep["board"] = board(p, xs, ys, OUT / f"mobilenet_v2_035_128_plan{sfx}.esm")
        (OUT / f"mobilenet_report{sfx}.json").write_text(json.dumps(rep, default=str, indent=1))
        return
    tm = torch_peak()
    ours = p.report["memory"]["peak_total"]
    print(f"PyTorch {tm['torch']} full fine-tune: peak live tensors {tm['live_peak'] / 2**20:.2f} MiB "
          f"({tm['alloc_events']} allocator events; {tm['live_at_open'] / 2**20:.2f} MiB live at the window's start, "
          f"window ends with {tm['window_end'] / 2**20:.2f} MiB = the gradients), ratio {tm['live_peak'] / ours:.1f}x "
          f"our planned peak {ours / 1024:.1f} KB; peak RSS {tm['rss_peak'] / 2**20:.1f} MiB, "
          f"{tm['rss_growth'] / 2**20:.1f} MiB above the post-import {tm['rss_base'] / 2**20:.1f} MiB "
          f"({(tm['rss_peak'] - tm['rss_built']) / 2**20:.1f} MiB above the resident set with the model built), "
          f"ratio {tm['rss_growth'] / ours:.0f}x")
    rep["torch_memory"] = tm
    if "--board" in sys.argv:
        rep["board"] = board(p, xs, ys, OUT / "mobilenet_v2_035_128_plan.esm")
    (OUT / "mobilenet_report.json").write_text(json.dumps(rep, default=str, indent=1))


def board(p, xs, ys, path) -> dict:
    """Two training steps on the emulated cortex-m7: losses and parameters against the host
    Trainer, measured SRAM, guest instructions per step (-icount shift=0: 1 instruction = 1 ns)."""
    from edge_sdk.finetune import Trainer
    from edge_sdk.finetune.board import Board, build_firmware

    build_firmware()
    tr = Trainer(p)
    flash = OUT / "mobilenet_flash.img"
    flash.unlink(missing_ok=True)
    out = {"steps": []}
    with Board(path, flash, timeout_s=600) as b:
        for x, y in zip(xs[:2], ys[:2]):
            r = b.train(x, y)
            host = tr.step(x, int(y))
            out["steps"].append({"board_loss": r["loss"], "host_loss": host, "instructions": r["us"] * 1000})
            print(f"board step: loss {r['loss']:.3f} (host {host:.3f}), {r['us'] / 1000:.1f} M guest instructions")
        out["params_equal"] = b.params() == tr.params()
        out["forward_instructions"] = b.forward_us(xs[2]) * 1000
        out["mem"] = b.mem()
        out["saved_seq"] = b.save()
    print(f"board params == host params: {out['params_equal']}; SRAM {out['mem']}")
    return out


if __name__ == "__main__":
    if "--torch-memory" in sys.argv:
        print(json.dumps(torch_memory()))
    else:
        main()
