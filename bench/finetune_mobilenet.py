"""MobileNetV2-w0.35 at 128x128 (int8, batch 1), sparse update under 256 KB: the plan's memory
breakdown, and PyTorch's peak memory for a full fine-tune of the same model on the host.

    python bench/finetune_mobilenet.py            # plan + PyTorch peak
    python bench/finetune_mobilenet.py --board    # + train on the emulated cortex-m7 (qemu)
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


def torch_peak() -> int:
    """Peak bytes of one full fine-tune step (fp32 SGD, batch 1) in PyTorch on the CPU:
    the process's peak RSS growth around the step, which includes weights, activations
    saved for backward, gradients and the allocator's workspace."""
    import resource

    import torch

    from models import zoo

    torch.set_num_threads(1)
    m = zoo._built("mobilenet_v2_035_128").train()
    opt = torch.optim.SGD(m.parameters(), lr=0.01)
    x = torch.randn(1, 3, 128, 128)
    y = torch.tensor([3])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    for _ in range(2):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(m(x), y).backward()
        opt.step()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    params = sum(p.numel() for p in m.parameters()) * 4
    return after - before + 2 * params  # weights + grads already resident before the window


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
    p = plan(str(onnx), budget_kb=256, target="cortex-m7", update="sparse", lr=0.01, calibration=(xs, ys), max_depth=8)
    p.save(OUT / "mobilenet_v2_035_128_plan.esm")
    print(p.summary())
    print(f"artifact {len(p.data) / 1024:.1f} KB; planned in {time.time() - t0:.0f} s")
    peak = torch_peak()
    print(f"PyTorch full fine-tune peak ~{peak / 2**20:.1f} MB; ratio {peak / p.report['memory']['peak_total']:.0f}x")
    rep = {"plan": p.report, "torch_peak": peak}
    if "--board" in sys.argv:
        rep["board"] = board(p, xs, ys)
    (OUT / "mobilenet_report.json").write_text(json.dumps(rep, default=str, indent=1))


def board(p, xs, ys) -> dict:
    """Two training steps on the emulated cortex-m7: losses and parameters against the host
    Trainer, measured SRAM, guest instructions per step (-icount shift=0: 1 instruction = 1 ns)."""
    from edge_sdk.finetune import Trainer
    from edge_sdk.finetune.board import Board, build_firmware

    build_firmware()
    tr = Trainer(p)
    flash = OUT / "mobilenet_flash.img"
    flash.unlink(missing_ok=True)
    out = {"steps": []}
    with Board(OUT / "mobilenet_v2_035_128_plan.esm", flash, timeout_s=600) as b:
        for x, y in zip(xs[:2], ys[:2]):
            r = b.train(x, y)
            host = tr.step(x, int(y))
            out["steps"].append({"board_loss": r["loss"], "host_loss": host, "instructions": r["us"] * 1000})
            print(f"board step: loss {r['loss']:.3f} (host {host:.3f}), {r['us'] / 1000:.1f} M guest instructions")
        out["params_equal"] = b.params() == tr.params()
        out["mem"] = b.mem()
        out["saved_seq"] = b.save()
    print(f"board params == host params: {out['params_equal']}; SRAM {out['mem']}")
    return out


if __name__ == "__main__":
    main()
