"""Activation-sparse experts (docs/moe.md, "Activation-sparse experts (study)"): from the statistics
that bench/moe_train.py writes beside each checkpoint (`.json`, with the routing and the per-use
unit activity of its held-out replays), the tables of the study: quality, collapse, expert reuse,
the fraction of exactly-zero hidden units, and the bytes per token that an exact partial reader
(edge_sdk/moe/partial_reads.py) would read at the benchmark's grown expert size, against today's
whole-expert reads; then caches of partial experts, replayed.

    python bench/moe_partial_reads.py RUN.json [RUN.json ...] [--json OUT]
    flock /tmp/moe_bench.lock python bench/moe_partial_reads.py --disk BUNDLE.esmx   # small-read bandwidth

Activity is measured on the trained experts (d_ff 128); at the grown size (d_ff 8192, as
bench/moe_io.py builds the bundle) each measured unit stands for 64 units: the grown units of
bench/moe_io.py are padding, their sparsity is not measured. Unit order for 4 KiB pages: as
trained, or most-often-active first, counted on the teacher-forced held-out texts ("read")
and applied to the generations (a permutation of an expert's units is exact).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import moe_train  # noqa: E402

from edge_sdk.moe.format import config_from_dict  # noqa: E402
from edge_sdk.moe.partial_reads import (Bundles, frequency_order, item_cache_bytes, permute, read_bytes,  # noqa: E402
                                        trace_steps, unhexmask, use_masks)
from edge_sdk.moe.policies import LFU, Clairvoyant, Quota  # noqa: E402

BW = 0.9e9  # B/s, this host's O_DIRECT bandwidth for 6 MiB reads (docs/moe.md, "Benchmark and acceptance")
RESIDENT = (98.68, 71.17)  # all-resident tokens/s, runs 6 and 3 of bench/moe_io.py (docs/moe.md)
MIB = 2 ** 20


def config(info: dict):
    cfg = moe_train.model_config("small", info.get("pre_router", True), info["n_experts"], info["top_k"],
                                 info["d_ff_expert"], info.get("d_ff_shared", 0), info.get("expert_act", "silu"))
    return config_from_dict(cfg.to_dict())


def traces(info: dict, F: int) -> dict:
    """run name -> (routes per layer [T, k], activity per layer [T, k, F], tokens); moe_train keeps the
    activity of ReLU-gated experts only"""
    out = {}
    for name, r in info["locality"]["runs"].items():
        routes = [np.array(x) for x in r["routes"]]
        act = ([np.array([[unhexmask(h, F) for h in row] for row in a]) for a in r["active"]] if "active" in r
               else [np.ones(x.shape + (F,), bool) for x in routes])  # SiLU runs: every unit active
        out[name] = (routes, act, r["bytes"])
    return out


def passes(info: dict) -> tuple[bool, str]:
    """docs/moe.md's collapse rule: corpus usage entropy >= 0.90 of uniform with >= 22 experts of >= 1%
    of the slots in every layer (quality is compared with the same batch's SiLU controls instead)"""
    u = info["corpus_usage"]
    why = [w for w, bad in (("entropy", u["entropy_rel_mean"] < 0.90), ("experts", min(u["experts_over_1pct"]) < 22))
           if bad]
    return not why, ", ".join(why)


def study(info: dict, fracs=(0.10, 0.25, 0.50)) -> dict:
    c = config(info)
    L, E, F = c.n_layers, c.n_experts, c.d_ff_expert
    b = Bundles(c.d_model, F, max(1, 8192 // F))
    tr = traces(info, F)
    calib = [u for n, (routes, act, _) in tr.items() if n.startswith("read: held-out") for u in _uses(routes, act, E)]
    order = frequency_order(calib)
    res = {}
    for kind in ("generated: held-out", "generated: bench"):
        runs = [v for n, v in tr.items() if n.startswith(kind)]
        rows = {"check": moe_train.partial_read_stats(runs, c, fracs)}
        uses = [u for routes, act, _ in runs for u in _uses(routes, act, E)]
        rows["groups"] = {g: {o: float(np.mean([_touched(m[order[k]] if o == "ordered" and k in order else m, g)
                                                for k, m in uses])) for o in ("trained", "ordered")}
                          for g in (1, 8, 16, 32, 64)}
        for f in fracs:
            slots = moe_train.cache_slots(f, L * E)
            row = {}
            for pol in ("lfu-quota", "min"):
                per = []
                for routes, act, tokens in runs:
                    st = trace_steps(routes, E)
                    masks = use_masks(act)
                    keys = [k for s in st for k in s.keys]
                    p = Quota(LFU(0.95, n_experts=E), E, L) if pol == "lfu-quota" else Clairvoyant(st)
                    r = read_bytes(st, permute(masks, keys, order), slots, p, b, tokens)
                    per.append(r)
                row[pol + " ordered"] = {k: float(np.mean([r[k] for r in per])) for k in per[0]}
            for pages in (False, True):
                per = []
                for routes, act, tokens in runs:
                    st = trace_steps(routes, E)
                    masks = use_masks(act)
                    keys = [k for s in st for k in s.keys]
                    per.append(item_cache_bytes(st, permute(masks, keys, order) if pages else masks, slots * b.whole, b,
                                                tokens, pages))
                row["window " + ("pages ordered" if pages else "units")] = {
                    k: float(np.mean([r[k] for r in per])) for k in per[0]}
            rows[f"{int(100 * f)}%"] = row
        res[kind] = rows
    return res


def _touched(m: np.ndarray, g: int) -> float:
    """fraction of a use's groups of g consecutive units that hold an active unit"""
    t = np.zeros(-(-len(m) // g) * g, bool)
    t[:len(m)] = m
    return float(t.reshape(-1, g).any(1).mean())


def _uses(routes, act, E):
    """(key, activity) of every routed use"""
    for st in trace_steps(routes, E):
        for j, k in enumerate(st.keys):
            yield k, act[st.layer][st.token][j]


def fraction(mib: float, resident: float) -> float:
    """projected tokens/s as a fraction of all-resident: I/O-bound at BW, else resident"""
    return min(1.0, BW / (mib * MIB) / resident)


def disk(path: Path, sizes=(4096, 32768, 262144, 2166784, 6361088), mib: int = 48, rounds: int = 5) -> dict:
    """O_DIRECT pread bandwidth (MB/s) of random reads of each size, one at a time (what a partial
    reader issues: its gate block, then the pages of active units), about `mib` MiB per size and
    round, sizes interleaved within a round; median over rounds, and every round"""
    import mmap
    import os
    import time

    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    try:
        n = os.fstat(fd).st_size // 4096
        rng = np.random.default_rng(0)
        got = {sz: [] for sz in sizes}
        buf = mmap.mmap(-1, max(sizes))
        for _ in range(rounds):
            for sz in sizes:
                pages = sz // 4096
                reads = max(4, (mib << 20) // sz)
                offs = rng.integers(0, n - pages, reads) * 4096
                view = memoryview(buf)[:sz]
                t = time.perf_counter()
                for o in offs:
                    os.preadv(fd, [view], int(o))
                got[sz].append(reads * sz / (time.perf_counter() - t) / 1e6)
                view.release()
        buf.close()
    finally:
        os.close(fd)
    return {sz: {"median": float(np.median(v)), "rounds": v} for sz, v in got.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="*", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--disk", type=Path, help="measure random O_DIRECT read bandwidth by read size on this file")
    a = ap.parse_args(argv)
    if a.disk:
        for sz, r in disk(a.disk).items():
            print(f"{sz / 1024:8.0f} KiB reads: {r['median']:7.1f} MB/s median (rounds: "
                  + ", ".join(f"{x:.1f}" for x in r["rounds"]) + ")")
        return 0
    out = {}
    need = [BW / (0.7 * r) / MIB for r in RESIDENT]
    print(f"`python bench/moe_partial_reads.py` (70% of all-resident at {RESIDENT[0]} / {RESIDENT[1]} tokens/s needs "
          f"≤ {need[0]:.1f} / {need[1]:.1f} MiB per token at {BW / 1e9:.1f} GB/s):")
    print("\n| variant | flags | held-out | Python | usage (min ≥ 1%) | collapse rule | MIN / lfu-quota reuse 25% | zero "
          "units mean (p10 / p50 / p90) | partial bytes, % of whole: units / 4 KiB pages / pages, ordered | MiB/token: "
          "whole → units / pages ordered | projected tokens/s, % of all-resident: whole / units / pages ordered |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for p in a.runs:
        info = json.loads(p.read_text())
        name = p.stem
        s = study(info)
        out[name] = s
        chk, st = s["generated: held-out"]["check"], info["locality"]["partial_reads"]["generated: held-out"]
        assert all(chk[f][m] == st[f][m] for f in ("10%", "25%", "50%") for m in ("lfu-quota", "min")), name
        q, mn, z = chk["25%"]["lfu-quota"], chk["25%"]["min"], chk["zero"]
        qo = s["generated: held-out"]["25%"]["lfu-quota ordered"]
        u = info["corpus_usage"]
        ok, why = passes(info)
        flags = " ".join(x for x in info["argv"] if x not in ("--device", "cuda", "--corpus-file", "--eval-texts", "--out")
                         and not x.endswith((".bin", ".json", ".pt"))) or "(defaults)"
        mib = [q["whole"] / MIB, q["unit"] / MIB, qo["page"] / MIB]
        print(f"| {name} | `{flags}` | {info['val_bits_per_byte']:.2f} | {info['held_out_python_bits_per_byte']:.2f} | "
              f"{u['entropy_rel_mean']:.3f} ({min(u['experts_over_1pct'])}) | {'pass' if ok else 'fails: ' + why} | "
              f"{100 * mn['reuse']:.1f} / {100 * q['reuse']:.1f} | {100 * z['mean']:.1f} ({100 * z['p10']:.0f} / "
              f"{100 * z['p50']:.0f} / {100 * z['p90']:.0f}) | {100 * q['unit'] / q['whole']:.0f} / "
              f"{100 * q['page'] / q['whole']:.0f} / {100 * qo['page'] / q['whole']:.0f} | "
              f"{mib[0]:.1f} → {mib[1]:.1f} / {mib[2]:.1f} | "
              + " / ".join(f"{100 * fraction(m, RESIDENT[0]):.0f}" for m in mib) + " |")
    print("\nMiB per token at the grown size, held-out generations, caches of 10 / 25 / 50%: the runtime's slot cache "
          "(lfu-quota; MIN) reading whole experts or partially (units; 4 KiB pages, ordered), and a cache of *partial* "
          "experts in the same bytes (window: gate blocks and unit bundles, or pages, kept by recency), with the % of "
          "gate blocks it serves:")
    print("\n| variant | whole, lfu-quota | partial units, lfu-quota | pages ordered, lfu-quota | whole, MIN | "
          "partial units, MIN | window, units | window, pages ordered | window gate blocks reused |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, s in out.items():
        h = s["generated: held-out"]
        cell = lambda f: " / ".join(f(h[x]) for x in ("10%", "25%", "50%"))  # noqa: E731
        print(f"| {name} | " + " | ".join([
            " / ".join(f"{h['check'][x]['lfu-quota']['whole'] / MIB:.1f}" for x in ("10%", "25%", "50%")),
            " / ".join(f"{h['check'][x]['lfu-quota']['unit'] / MIB:.1f}" for x in ("10%", "25%", "50%")),
            cell(lambda r: f"{r['lfu-quota ordered']['page'] / MIB:.1f}"),
            " / ".join(f"{h['check'][x]['min']['whole'] / MIB:.1f}" for x in ("10%", "25%", "50%")),
            " / ".join(f"{h['check'][x]['min']['unit'] / MIB:.1f}" for x in ("10%", "25%", "50%")),
            cell(lambda r: f"{r['window units']['bytes'] / MIB:.1f}"),
            cell(lambda r: f"{r['window pages ordered']['bytes'] / MIB:.1f}"),
            cell(lambda r: f"{100 * r['window units']['gate_reuse']:.0f}"),
        ]) + " |")
    print("\nUnit bundles read per routed use, % of the expert's, by read granularity (1 unit = 512 B, 8 = 4 KiB, 16, "
          "32, 64 = 32 KiB), trained order / ordered, held-out generations: " + "; ".join(
              f"{name} " + ", ".join(f"{100 * g[n]['trained']:.0f} / {100 * g[n]['ordered']:.0f}" for n in g)
              for name, g in ((name, s["generated: held-out"]["groups"]) for name, s in out.items())) + ".")
    print("\nBenchmark prompt (one generation), 25%, lfu-quota, whole → units / pages / pages ordered, MiB per token; "
          "zero units: " + "; ".join(
              f"{name} {q['whole'] / MIB:.1f} → {q['unit'] / MIB:.1f} / {q['page'] / MIB:.1f} / "
              f"{g['25%']['lfu-quota ordered']['page'] / MIB:.1f}, {100 * g['check']['zero']['mean']:.1f}%"
              for name, g, q in ((name, s["generated: bench"], s["generated: bench"]["check"]["25%"]["lfu-quota"])
                                 for name, s in out.items())) + ".")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
