"""Real data, real gain: fine-tune the digits CNN (pre-trained on digits 0-4 by
bench/finetune_digits_pretrain.py) to digits 5-9, and write docs/finetune.md's table.

Contenders, all seeing the same fine-tuning samples in the same order for the same epochs:
  frozen      the int8 model as exported (never predicts 5-9)
  pytorch     full fp32 fine-tune (every weight and bias), plain SGD, batch 1, on the host
  int8 full / last:K / bias / sparse   edge_sdk.Trainer: int8 forward, fp32 backward, QAS SGD
  ... int8 backward   the same plans with backward="int8" (int8 gradients, int32 products)
Accuracy is on a held-out third of the 5-9 images.

    python bench/finetune_digits.py [--epochs 6] [--orders 5] [--write]
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from finetune_digits_pretrain import SEED, export_onnx, make_model, pretrain, splits  # noqa: E402

MODEL = ROOT / "build" / "finetune" / "digits_cnn.onnx"
LR = 0.05


def torch_full(s, epochs, order):
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    m = make_model()
    m.load_state_dict(torch.load(MODEL.with_suffix(".pt")))
    opt = torch.optim.SGD(m.parameters(), lr=LR)
    x, y = torch.from_numpy(s["ft_x"]), torch.from_numpy(s["ft_y"])
    curve = []
    for ep in range(epochs):
        m.train()
        for i in order[ep]:
            opt.zero_grad()
            nn.functional.cross_entropy(m(x[i:i + 1]), y[i:i + 1]).backward()
            opt.step()
        m.eval()
        with torch.no_grad():
            curve.append(float((m(torch.from_numpy(s["test_x"])).argmax(1).numpy() == s["test_y"]).mean()))
    return curve


def ours(s, update, epochs, orders, budget_kb=256, rounding="stochastic", backward="fp32"):
    """One plan, trained from the same start once per sample order; curves[k][ep]."""
    from edge_sdk.finetune import Trainer, plan

    p = plan(str(MODEL), budget_kb=budget_kb, target="cortex-m7", update=update, lr=LR, rounding=rounding,
             calibration=(s["ft_x"][:16], s["ft_y"][:16]), backward=backward)
    curves = []
    for order in orders:
        tr = Trainer(p)
        curve = []
        for ep in range(epochs):
            for i in order[ep]:
                tr.step(s["ft_x"][i], s["ft_y"][i])
            curve.append(tr.evaluate(s["test_x"], s["test_y"])["accuracy"])
        curves.append(curve)
    return curves, p


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--orders", type=int, default=5, help="sample orders (runs) per contender")
    ap.add_argument("--write", action="store_true", help="update docs/finetune.md between its markers")
    ap.add_argument("--only", default="", help="run only the int8 contenders whose label contains this (no --write)")
    a = ap.parse_args()
    if not MODEL.exists():
        export_onnx(pretrain(), MODEL)
    s = splits()
    orders = []
    for k in range(a.orders):
        rng = np.random.default_rng(SEED + k)
        orders.append([rng.permutation(len(s["ft_y"])) for _ in range(a.epochs)])
    rows = []
    from edge_sdk.finetune import Trainer, plan

    full_kb = plan(str(MODEL), target="cortex-m7", update="full", lr=LR).report["memory"]["peak_total"] / 1024
    frozen = Trainer(plan(str(MODEL), target="host", update="bias", lr=LR))
    f = frozen.evaluate(s["test_x"], s["test_y"])["accuracy"]
    rows.append(("frozen int8 model (no training)", "-", [[f] * a.epochs], None))
    t0 = time.time()
    rows.append(("PyTorch fp32, full fine-tune (host)", "all", [torch_full(s, a.epochs, o) for o in orders], None))
    for spec in [("full", "int8 QAS, full update", "stochastic", 256),
                                ("sparse", "int8 QAS, **sparse update, 29 KB plan** (channel subset)", "stochastic", 29),
                                ("sparse", "int8 QAS, **sparse update, 28 KB plan** (channel subset)", "stochastic", 28),
                                ("sparse", "int8 QAS, sparse update, 27 KB plan (channel subset)", "stochastic", 27),
                                ("sparse", "int8 QAS, sparse update, 24 KB plan (channel subset)", "stochastic", 24),
                                ("full", "int8 QAS, full update, nearest rounding", "nearest", 256),
                                ("last:2", "int8 QAS, last 2 layers", "stochastic", 256),
                                ("last:1", "int8 QAS, last layer only", "stochastic", 256),
                                ("bias", "int8 QAS, biases only", "stochastic", 256),
                                ("full", "int8 QAS, full update, **int8 backward**", "stochastic", 256, "int8"),
                                ("sparse", "int8 QAS, sparse update, 29 KB plan, **int8 backward**", "stochastic", 29,
                                 "int8"),
                                ("sparse", "int8 QAS, sparse update, 28 KB plan, **int8 backward**", "stochastic", 28,
                                 "int8"),
                                ("full", "int8 QAS, full update, int8 backward, stochastic gradient rounding",
                                 "stochastic", 256, "int8-stochastic"),
                                ("sparse", "int8 QAS, sparse update, 29 KB plan, int8 backward, stochastic gradient "
                                 "rounding", "stochastic", 29, "int8-stochastic")]:
        upd, label, rnd, kb, bw = (spec + ("fp32",))[:5]
        if a.only and a.only not in label:
            continue
        c, p = ours(s, upd, a.epochs, orders, budget_kb=kb, rounding=rnd, backward=bw)
        what = ", ".join(f"{l['name'].split('/')[1] if '/' in l['name'] else l['name']}:"
                         f"{'w' + str(l['channels']) + '/' + str(l['of']) if l['channels'] else ''}{'+b' if l['bias'] else ''}"
                         for l in p.report["layers"])
        rows.append((label, what, c, p.report["memory"]["peak_total"]))
    n_ft, n_test = len(s["ft_y"]), len(s["test_y"])
    e3 = min(3, a.epochs) - 1
    lines = [f"Digits 5-9 (sklearn 8x8 digits), model pre-trained on 0-4; {n_ft} fine-tuning samples x {a.epochs} "
             f"epochs, batch 1, SGD lr {LR}; every contender is trained {a.orders} times from the same start, once per "
             f"sample order (the same {a.orders} orders for every contender), accuracy on {n_test} held-out 5-9 images: "
             f"mean over the runs (min-max). Plans for target cortex-m7 (256 KB budget unless named; the full update "
             f"plans {full_kb:.1f} KB); int8 QAS rows use the fp32 backward unless they say int8 backward. "
             f"`python bench/finetune_digits.py --write` ({a.epochs} epochs, {a.orders} orders).", "",
             f"| contender | updated (layer:weights channels +b biases) | accuracy after {a.epochs} epochs | "
             f"after {e3 + 1} epochs | per epoch (mean) | planned peak SRAM |",
             "|---|---|---|---|---|---|"]
    for name, what, curves, peak in rows:
        c = np.array(curves)
        last = c[:, -1]
        acc = f"**{last.mean():.3f}** ({last.min():.3f}-{last.max():.3f})" if len(c) > 1 else f"{last.mean():.3f}"
        mid = c[:, e3]
        lines.append(f"| {name} | {what} | {acc} | {mid.mean():.3f} ({mid.min():.3f}-{mid.max():.3f}) | "
                     f"{' / '.join(f'{v:.3f}' for v in c.mean(0))} | {f'{peak / 1024:.1f} KB' if peak else '-'} |")
    table = "\n".join(lines)
    print(table)
    print(f"({time.time() - t0:.0f} s)")
    if a.write and not a.only:
        doc = ROOT / "docs" / "finetune.md"
        text = doc.read_text()
        new = re.sub(r"(<!-- digits:begin -->\n).*?(<!-- digits:end -->)", lambda m: m.group(1) + table + "\n" + m.group(2),
                     text, flags=re.S)
        doc.write_text(new)


if __name__ == "__main__":
    main()
