"""Instructions per inference and memory per model on the emulated Cortex-M boards.

For every MCU target and zoo model (int8 dense, int8 sparse at 80 %, fp32 where it fits):
boots the firmware under qemu-system-arm -icount shift=0, runs `infer N 1` through the
MLPerf Tiny protocol and converts the m-lap-us window into guest instructions (1 ns of
virtual time per instruction). The int8 dense models also run with the kernel set forced to
the portable scalar path (`isa scalar%`), which is the baseline here: TFLite Micro with
CMSIS-NN cannot be built from the package registries this project uses (the tflite-micro
pip package is Python-only), so no TFLM numbers are reported. Flash and SRAM come from the
firmware ELF's sections plus the artifact and its memory plan.

Writes the block between <!-- mcu:begin --> and <!-- mcu:end --> in docs/performance.md.

    python bench/emulated_mcu.py [--models ds_cnn,resnet8] [--targets cortex-m4] [--no-write]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench_common import write_marked  # noqa: E402

MODELS = ["ds_cnn", "resnet8", "autoencoder", "mobilenet_v1_025_96"]
TARGETS = ["cortex-m4", "cortex-m7", "cortex-m55"]
BEGIN, END = "<!-- mcu:begin -->", "<!-- mcu:end -->"


def export_variants(model: str, target: str, work: Path) -> dict[str, Path]:
    from edge_sdk.export import export
    from models import zoo

    onnx = work / f"{model}.onnx"
    if not onnx.exists():
        zoo.build_onnx(model, onnx)
    calib = [{zoo.ZOO[model].input_name: zoo.sample_input(model, seed=100 + i)} for i in range(4)]
    out = {}
    for variant, kw in [("int8", dict(quantize="int8")), ("int8 sparse 80%", dict(quantize="int8", sparsity=0.8)),
                        ("fp32", {})]:
        path = work / f"{model}-{variant.replace(' ', '_').replace('%', '')}-{target}.esm"
        if not path.exists():
            export(onnx, target=target, calibration=calib if kw else None, validate=False, **kw).save(path)
        out[variant] = path
    return out


def measure(target_name: str, art: Path, isa: str, runs: int) -> int | None:
    from edge_sdk.build import mcu
    from edge_sdk.compile.target import load_target
    from edge_sdk.errors import EdgeSdkError

    try:
        return mcu.instructions_per_inference(load_target(target_name), art, runs=runs, isa=isa)["instructions"]
    except EdgeSdkError:
        return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--targets", default=",".join(TARGETS))
    p.add_argument("--runs", type=int, default=2)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    from edge_sdk.build import mcu
    from edge_sdk.compile.target import load_target
    from edge_sdk.errors import EdgeSdkError

    perf, mem = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for tname in args.targets.split(","):
            t = load_target(tname)
            elf = mcu.build_firmware(t, ROOT / "build" / tname)
            isa_name = t.raw["isa"][-1]
            for model in args.models.split(","):
                arts = export_variants(model, tname, work)
                row = {"target": tname, "model": model}
                for variant, art in arts.items():
                    fp = mcu.footprint(t, elf, art.read_bytes())
                    try:
                        mcu.check_fit(fp)
                        fits = "yes"
                    except EdgeSdkError as e:
                        fits = "no: " + str(e).split(":")[1].strip().split(" (")[0]
                    mem.append((tname, model, variant, fp, fits))
                    if fits != "yes":
                        row[variant] = None
                        continue
                    row[variant] = measure(tname, art, "best", args.runs)
                    if variant == "int8":
                        row["int8 scalar"] = measure(tname, art, "scalar", args.runs)
                    print(tname, model, variant, row[variant], flush=True)
                row["isa"] = isa_name
                perf.append(row)
    text = render(perf, mem)
    print(text)
    if not args.no_write:
        write_marked(ROOT / "docs" / "performance.md", text, BEGIN, END)
    return 0


def _m(v) -> str:
    return "does not fit" if v is None else f"{v / 1e6:.2f} M"


def render(perf: list[dict], mem: list) -> str:
    lines = [BEGIN, "## Emulated microcontrollers (bench/emulated_mcu.py)", "",
             "Guest instructions per inference on qemu-system-arm with `-icount shift=0` (one instruction = 1 ns of",
             "virtual time, read through the firmware's SysTick-based `m-lap-us`; resolution 1000 / N instructions,",
             "N = 2). Instructions, not cycles: a Cortex-M7 dual-issues and an M55 runs MVE beats, so cycle counts on",
             "silicon differ. Baseline = the same firmware with `isa scalar` (our portable int8 path); TFLite Micro +",
             "CMSIS-NN was not built (not available from the package registries used here).", "",
             "| target | model | int8 scalar | int8 (ISA) | ISA speed-up | int8 sparse 80% | sparse / dense | fp32 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in perf:
        d, s, sc, f = r.get("int8"), r.get("int8 sparse 80%"), r.get("int8 scalar"), r.get("fp32")
        up = f"{sc / d:.2f}x" if d and sc else "-"
        ratio = f"{s / d:.2f}" if d and s else "-"
        lines.append(f"| {r['target']} ({r['isa']}) | {r['model']} | {_m(sc)} | {_m(d)} | {up} | {_m(s)} | {ratio} | {_m(f)} |")
    lines += ["", "Memory per model (bytes): flash = firmware + model slot contents; SRAM = firmware (.data + .bss +",
              "stack) + arena (memory plan) + input staging buffer.", "",
              "| target | model | variant | firmware flash | model | flash total / size | arena | input | SRAM total / size | fits |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for tname, model, variant, fp, fits in mem:
        lines.append(f"| {tname} | {model} | {variant} | {fp.firmware_flash:,} | {fp.model_flash:,} | "
                     f"{fp.flash_total:,} / {fp.flash_size:,} | {fp.arena:,} | {fp.input_staging:,} | "
                     f"{fp.sram_total:,} / {fp.sram_size:,} | {fits} |")
    lines.append(END)
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
