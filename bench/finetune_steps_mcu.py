"""Guest instructions per training step on the emulated cortex-m7 (qemu mps2-an500 with
-icount shift=0: the firmware's SysTick timer counts 1 ns per instruction, so m-step-us x 1000
is the step's instruction count). Digits: full update vs sparse updates at budgets where the
planner picks a channel subset, each with the fp32 and the int8 backward; MobileNetV2-w0.35
from bench/finetune_mobilenet.py --board [--backward int8] (build/finetune/mobilenet_report*.json)
when it has run.

    python bench/finetune_steps_mcu.py [--write]   # --write: docs/performance.md finetune block
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_common import write_marked  # noqa: E402
OUT = ROOT / "build" / "finetune"


def main() -> None:
    from finetune_digits import LR, MODEL, splits

    from edge_sdk.finetune import Trainer, plan
    from edge_sdk.finetune.board import Board, build_firmware

    build_firmware()
    s = splits()
    rows = []
    for upd, kb, bw in [("full", 256, "fp32"), ("sparse", 28, "fp32"), ("sparse", 24, "fp32"), ("last:1", 256, "fp32"),
                        ("full", 256, "int8"), ("sparse", 28, "int8"), ("sparse", 24, "int8"), ("last:1", 256, "int8")]:
        p = plan(str(MODEL), budget_kb=kb, target="cortex-m7", update=upd, lr=LR,
                 calibration=(s["ft_x"][:16], s["ft_y"][:16]), backward=bw)
        path = p.save(OUT / f"steps_{upd.replace(':', '')}_{kb}_{bw}.esm")
        flash = OUT / "steps_flash.img"
        flash.unlink(missing_ok=True)
        tr = Trainer(p)
        with Board(path, flash) as b:
            ins = [b.train(s["ft_x"][i], s["ft_y"][i])["us"] * 1000 for i in range(4)]
            for i in range(4):
                tr.step(s["ft_x"][i], s["ft_y"][i])
            same = b.params() == tr.params()
            fwd = b.forward_us(s["ft_x"][4]) * 1000
            mem = b.mem()
        what = ", ".join(f"{l['name'].split('/')[1] if '/' in l['name'] else l['name']}:"
                         f"{'w' + str(l['channels']) + '/' + str(l['of']) if l['channels'] else ''}{'+b' if l['bias'] else ''}"
                         for l in p.report["layers"])
        rows.append((f"digits, {upd} ({kb} KB plan), {bw} backward", what, min(ins), max(ins), fwd, mem["peak"], same))
        print(rows[-1])
    for rep in (OUT / "mobilenet_report.json", OUT / "mobilenet_report_int8.json"):
        if not rep.exists():
            continue
        r = json.loads(rep.read_text())
        if "board" in r:
            ins = [st["instructions"] for st in r["board"]["steps"]]
            what = ", ".join(f"{l['name'].split('/')[-2] if '/' in l['name'] else l['name']}:"
                             f"{'w' + str(l['channels']) + '/' + str(l['of']) if l['channels'] else ''}{'+b' if l['bias'] else ''}"
                             for l in r["plan"]["layers"])
            rows.append((f"MobileNetV2-w0.35 128x128, sparse (256 KB plan), {r['plan'].get('backward', 'fp32')} "
                         "backward", what, min(ins), max(ins), r["board"].get("forward_instructions"),
                         r["board"]["mem"]["peak"], r["board"]["params_equal"]))
    lines = ["Training step on the emulated cortex-m7 (qemu 7.2 mps2-an500, `-icount shift=0`, SysTick counts "
             "guest instructions; our int8 kernels, plain-loop backward in fp32 or int8 as named, batch 1). "
             "`python bench/finetune_steps_mcu.py --write`.",
             "Forward: the same forward alone (`infer%`); loss + backward + updates = step minus forward.",
             "", "| model / update | updated (layer:weights channels +b biases) | instructions per step (min..max of steps) "
             "| forward | loss + backward + updates | measured SRAM peak | board params == host |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        fw = f"{r[4] / 1e6:.2f} M | {(r[2] - r[4]) / 1e6:.2f} M" if r[4] else "- | -"
        lines.append(f"| {r[0]} | {r[1]} | {r[2] / 1e6:.2f} M .. {r[3] / 1e6:.2f} M | {fw} | {r[5] / 1024:.1f} KB | {r[6]} |")
    table = "\n".join(lines)
    print(table)
    if "--write" in sys.argv:
        block = "<!-- finetune:begin -->\n" + table + "\n<!-- finetune:end -->"
        write_marked(ROOT / "docs" / "performance.md", block, "<!-- finetune:begin -->", "<!-- finetune:end -->",
                     "## On-device fine-tuning (emulated cortex-m7)")


if __name__ == "__main__":
    main()
