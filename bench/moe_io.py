"""MoE expert-streaming benchmark: the trained model (bench/moe_train.py; routing kept)
with its experts grown to larger d_ff (extra hidden units whose down-projection is zero,
so tokens and routing are unchanged), int8, generated from a prompt of local text.

Contenders, each in its own process inside a cgroup-v1 memory limit (page cache counted):
all experts resident (no cap), streaming with an expert cache of 10/25/50% of expert bytes
(O_DIRECT, lfu-quota: LFU with decay within per-layer shares, the pre-attention router's exact
reads; the default expert reader), 25% with next-layer prediction (always / idle-only), two-layer
prediction, LRU, plain LFU with decay at 10/25/50%, no prediction, two pread I/O threads, pread
against io_uring at depth 1 / 2 / 4, an mmap
baseline capped at the 25% budget, resident / 25% / mmap again with the scalar kernels
(the compute-bound regime), and resident / 10-50% / mmap with 4-bit expert rows (the cache a
fraction of the 4-bit bundle). Passes interleave the contenders; the table gives medians and the
offline Belady bound on reuse. Writes docs/performance.md's moe block.

    python bench/moe_io.py [--scale 64] [--tokens 48] [--repeats 3] [--no-int4] [--no-doc] [--only REGEX]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from bench_common import write_marked

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = Path.home() / ".cache" / "edge-sdk" / "moe"
CG_ROOT = Path("/sys/fs/cgroup/memory")
OVERHEAD_MB = 160  # process, dense weights, KV cache: added to every capped run's limit


def own_memcg() -> Path | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrl, path = line.split(":", 2)
            if "memory" in ctrl.split(","):
                p = CG_ROOT / path.lstrip("/")
                return p if p.is_dir() else None
    except OSError:
        return None
    return None


def make_cgroup(name: str, limit: int) -> Path | None:
    base = own_memcg()
    if base is None:
        return None
    cg = base / name
    try:
        cg.mkdir(exist_ok=True)
        (cg / "memory.limit_in_bytes").write_text(str(limit))
        return cg
    except OSError:
        return None


def drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def worker(spec: dict) -> None:
    if spec.get("cgroup"):
        Path(spec["cgroup"], "cgroup.procs").write_text(str(os.getpid()))
    from edge_sdk import Generator

    kw = dict(mode=spec["mode"], max_seq=512)
    if spec["mode"] == "stream":
        kw.update(expert_cache_mb=spec["cache_mb"], policy=spec["policy"], prefetch=spec["prefetch"],
                  prefetch_extra=spec.get("prefetch_extra", 0))
        kw.update({k: spec[k] for k in ("lookahead", "decay", "io_threads", "speculate", "cache_routing", "io", "io_depth")
                   if k in spec})
    if "kernels" in spec:
        kw["kernels"] = spec["kernels"]
    g = Generator(spec["artifact"], **kw)
    prompt = spec["prompt"]
    r = g.generate(prompt, spec["tokens"])
    out = dict(r.stats)
    for part in ("prefill", "decode"):  # the phases' rates at the top level, where median_run takes medians
        out[f"{part}_tokens_per_s"] = out[part].get("tokens_per_s")
    out["text"] = r.text
    out["tokens_list"] = r.tokens
    print("RESULT " + json.dumps(out))


def run_one(spec: dict, limit: int | None) -> dict:
    drop_cache(Path(spec["artifact"]).with_suffix(".esmx"))
    cg = make_cgroup(f"esdk_moe_{os.getpid()}", limit) if limit else None
    spec = dict(spec, cgroup=str(cg) if cg else None)
    t0 = time.time()
    p = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True)
    wall = time.time() - t0
    if cg:
        try:
            peak = int((cg / "memory.max_usage_in_bytes").read_text())
        except OSError:
            peak = None
        for _ in range(20):
            try:
                cg.rmdir()
                break
            except OSError:
                time.sleep(0.1)
    else:
        peak = None
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not line:
        return {"error": (p.stderr.strip().splitlines() or ["?"])[-1], "wall": wall}
    res = json.loads(line[0][7:])
    res.update(wall=wall, cap_bytes=limit, cgroup=bool(cg), peak_bytes=peak)
    return res


def median_run(name: str, rs: list) -> dict:
    """the sample with the median tokens/s (its own statistics), plus every sample's tokens/s"""
    ok = [r for r in rs if "error" not in r]
    if not ok:
        return dict(rs[0], name=name)
    ok.sort(key=lambda r: r.get("decode_tokens_per_s") or 0.0)
    out = dict(ok[(len(ok) - 1) // 2], name=name)
    for k in ("tokens_per_s", "decode_tokens_per_s", "prefill_tokens_per_s"):  # each its own median
        v = sorted(r.get(k) or 0.0 for r in ok)
        out[k] = float(v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2)
        out["samples_" + k] = [r.get(k) or 0.0 for r in ok]
    out["same_tokens_all"] = len({tuple(r.get("tokens_list") or ()) for r in ok}) == 1
    return out


def routing_trace(art: Path, prompt: str, tokens: int):
    """(expert keys layer * n_experts + e in use order over the greedy run, bytes per cache slot)"""
    from edge_sdk import Generator
    from edge_sdk.moe.trace import routing_keys

    g = Generator(art, mode="mmap")
    ids = g.encode(prompt)
    toks = g.generate(ids, tokens).tokens
    g.reset()
    keys = routing_keys(g, ids + toks[:-1])
    per = g.expert_bytes + 12  # as esdk_moe_cache_init counts a slot
    g.close()
    return keys, per


def belady(keys: list, slots: int) -> float:
    """reuse under Belady's MIN: evict the expert needed farthest in the future"""
    from edge_sdk.moe.trace import belady_hits

    return belady_hits(keys, slots) / len(keys)


def belady_bounds(art: Path, prompt: str, tokens: int, cache_bytes: list) -> dict:
    """Offline bound on reuse: Belady's MIN (knowing the whole routing trace) over this run's
    routing, for each cache size in slots."""
    keys, per = routing_trace(art, prompt, tokens)
    return {str((cb - 256) // per): belady(keys, (cb - 256) // per) for cb in cache_bytes}


def bench_prompt() -> str:
    import sysconfig

    return Path(sysconfig.get_paths()["stdlib"], "shutil.py").read_bytes()[2000:2120].decode("utf-8", "replace")


def prepare(scale: int, quantize: str = "int8") -> Path:
    """the benchmark artifact + bundle, exported again when the checkpoint is newer"""
    from edge_sdk.moe.export import export_dir
    from models.moe_lm import build

    ck = CACHE / "moe_lm.pt"
    if not ck.is_file():
        raise SystemExit(f"no trained checkpoint at {ck}: run python bench/moe_train.py first")
    art = CACHE / f"moe_lm_x{scale}{'' if quantize == 'int8' else '_' + quantize}.esmoe"
    bundle = art.with_suffix(".esmx")
    if not bundle.is_file() or not art.is_file() or bundle.stat().st_mtime < ck.stat().st_mtime:
        hf = build(CACHE / "hf", checkpoint=ck)
        export_dir(hf, art, quantize=quantize, d_ff_scale=scale)
    return art


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker")
    ap.add_argument("--scale", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved passes; the table gives medians")
    ap.add_argument("--no-int4", action="store_true", help="leave out the 4-bit expert rows")
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--doc-only", action="store_true", help="rewrite the docs block from the last results file")
    ap.add_argument("--only", help="run only the rows whose name matches this regular expression (and all "
                                   "resident); results to moe_io_results_only.json, docs untouched")
    a = ap.parse_args(argv)
    if a.worker:
        worker(json.loads(a.worker))
        return 0
    if a.doc_only:
        write_doc(json.loads((CACHE / "moe_io_results.json").read_text()))
        return 0
    art = prepare(a.scale)
    art4 = None if a.no_int4 else prepare(a.scale, "int4")
    from edge_sdk import Generator

    g = Generator(art, mode="mmap")
    total = g.total_expert_bytes
    cfg = g.config
    per_tok_experts = cfg.n_layers * cfg.top_k
    del g
    total4 = None
    if art4:
        with Generator(art4, mode="mmap") as g4:
            total4 = g4.total_expert_bytes
    prompt = bench_prompt()
    base = dict(artifact=str(art), prompt=prompt, tokens=a.tokens)
    mb = lambda frac: frac * total / 2**20  # noqa: E731
    st = lambda frac, **kw: dict(mode="stream", cache_mb=mb(frac), policy="lfu-quota", prefetch=True, **kw)  # noqa: E731
    plan = [("all resident", dict(mode="resident"), None)]
    for frac in (0.10, 0.25, 0.50):
        plan.append((f"stream {int(frac * 100)}%", st(frac), frac))
    plan += [("stream 25% + next-layer prediction", st(0.25, lookahead=1), 0.25),
             ("stream 25% + next-layer prediction, idle only", st(0.25, lookahead=1, speculate="idle"), 0.25),
             ("stream 25% + 2-layer prediction", st(0.25, lookahead=2), 0.25),
             ("stream 25% lru", dict(st(0.25), policy="lru"), 0.25),
             ("stream 10% lfu", dict(st(0.10), policy="lfu"), 0.10),
             ("stream 25% lfu", dict(st(0.25), policy="lfu"), 0.25),
             ("stream 50% lfu", dict(st(0.50), policy="lfu"), 0.50),
             ("stream 25% no prediction (demand reads)", dict(st(0.25), prefetch=False), 0.25),
             ("stream 25%, 2 I/O threads", st(0.25, io_threads=2), 0.25),
             ("stream 25% pread", st(0.25, io="pread"), 0.25),
             ("stream 25% io_uring depth 1", st(0.25, io="io_uring", io_depth=1), 0.25),
             ("stream 25% io_uring depth 2", st(0.25, io="io_uring", io_depth=2), 0.25),
             ("stream 25% io_uring depth 4", st(0.25, io="io_uring", io_depth=4), 0.25),
             ("stream 25% io_uring depth 8", st(0.25, io="io_uring", io_depth=8), 0.25),
             ("stream 25% io_uring depth 16", st(0.25, io="io_uring", io_depth=16), 0.25),
             ("stream 25%, 4 pread threads", st(0.25, io="pread", io_threads=4), 0.25),
             ("stream 25% + cache routing 0.2 (not exact)", st(0.25, cache_routing=0.2), 0.25),
             ("stream 25% + cache routing 0.3 (not exact)", st(0.25, cache_routing=0.3), 0.25),
             ("mmap baseline, 25% cap", dict(mode="mmap"), 0.25),
             ("scalar kernels: all resident", dict(mode="resident", kernels="scalar"), None),
             ("scalar kernels: stream 25%", st(0.25, kernels="scalar"), 0.25),
             ("scalar kernels: mmap baseline, 25% cap", dict(mode="mmap", kernels="scalar"), 0.25)]
    if art4:  # the cache (and the cap) a fraction of the 4-bit bundle
        i4 = dict(artifact=str(art4), total=total4)
        plan.append(("int4: all resident", dict(i4, mode="resident"), None))
        for frac in (0.10, 0.25, 0.50):
            plan.append((f"int4: stream {int(frac * 100)}%", dict(st(frac), cache_mb=frac * total4 / 2**20, **i4), frac))
        for bias in (0.2, 0.3):
            plan.append((f"int4: stream 25% + cache routing {bias} (not exact)",
                         dict(st(0.25, cache_routing=bias), cache_mb=0.25 * total4 / 2**20, **i4), 0.25))
        plan.append(("int4: mmap baseline, 25% cap", dict(i4, mode="mmap"), 0.25))
    if a.only:
        plan = [p for p in plan if p[0] == "all resident" or re.search(a.only, p[0])]
    samples = {name: [] for name, _, _ in plan}
    for rep in range(a.repeats):  # passes interleave the contenders
        for name, spec, frac in plan:
            limit = int(frac * spec.get("total", total)) + OVERHEAD_MB * 2**20 if frac else None
            r = run_one(dict(base, **spec), limit)
            samples[name].append(r)
            print(rep, name, {k: r.get(k) for k in ("decode_tokens_per_s", "prefill_tokens_per_s", "precision", "recall",
                                                     "stall_s", "error", "peak_bytes")},
                  {p: {k: (r.get(p) or {}).get(k) for k in ("hit_rate", "mib_per_token")} for p in ("decode", "prefill")},
                  flush=True)
    runs = [median_run(name, samples[name]) for name, _, _ in plan]
    runs[0]["belady"] = belady_bounds(art, prompt, a.tokens, [int(f * total) for f in (0.10, 0.25, 0.50)])
    by = {r["name"]: r for r in runs}
    if art4 and "int4: all resident" in by:
        by["int4: all resident"]["belady"] = belady_bounds(art4, prompt, a.tokens, [int(f * total4) for f in (0.10, 0.25, 0.50)])
    for r in runs:  # int4 rows against the int4 resident run (other weights, other tokens)
        ref = by.get("int4: all resident", {}) if r["name"].startswith("int4") else runs[0]
        r["same_tokens"] = r.get("tokens_list") == ref.get("tokens_list")
    meta = CACHE / "moe_lm.json"
    train = json.loads(meta.read_text()) if meta.is_file() else {}
    out = {"artifact": str(art), "scale": a.scale, "expert_bytes_total": total, "expert_record": total // (cfg.n_layers * cfg.n_experts),
           "expert_bytes_total_int4": total4, "experts_per_token": per_tok_experts, "d_ff_expert": cfg.d_ff_expert,
           "pre_router": bool(cfg.pre_router), "runs": runs,
           "training": {k: train.get(k) for k in ("argv", "steps", "val_bits_per_byte", "held_out_python_bits_per_byte")}}
    (CACHE / ("moe_io_results_only.json" if a.only else "moe_io_results.json")).write_text(json.dumps(out, indent=2))
    if not a.no_doc and not a.only:
        write_doc(out)
    return 0


def write_doc(out: dict) -> None:
    runs = out["runs"]
    by = {r["name"]: r for r in runs}
    # acceptance figures are decoding's (generated tokens); the prompt's prefill is its own column
    tps = lambda name: (by.get(name) or {}).get("decode_tokens_per_s")  # noqa: E731
    pps = lambda name: (by.get(name) or {}).get("prefill_tokens_per_s")  # noqa: E731
    ref, sref, ref4 = tps("all resident"), tps("scalar kernels: all resident"), tps("int4: all resident")
    pref = {n: pps(n) for n in ("all resident", "scalar kernels: all resident", "int4: all resident")}
    reps = len(runs[0].get("samples_decode_tokens_per_s") or [1])
    tr = out.get("training") or {}
    argv = [x for i, x in enumerate(tr.get("argv") or []) if "--out" not in (x, tr["argv"][i - 1] if i else "")]
    trained = (f"Trained with `python bench/moe_train.py {' '.join(argv)}` ({tr['steps']} steps; held-out "
               f"{tr['val_bits_per_byte']:.3f} bits/byte, held-out Python {tr['held_out_python_bits_per_byte']:.3f}). "
               if tr.get("argv") and tr.get("held_out_python_bits_per_byte") else "")
    int4 = (f"4-bit rows (\"int4:\"): {out['expert_bytes_total_int4'] / 2**30:.2f} GiB of experts, caches and caps a fraction of "
            "that. " if out.get("expert_bytes_total_int4") else "")
    lines = ["<!-- moe:begin -->", "## Mixture-of-experts: experts streamed from storage (bench/moe_io.py)", "",
             f"Trained 4-layer MoE (bench/moe_train.py, 32 experts, top-4, "
             f"{'pre-attention router' if out.get('pre_router') else 'post-attention router'}) with experts grown to d_ff "
             f"{out['d_ff_expert']} (x{out['scale']}; extra units have zero down-projection, so routing and tokens are "
             f"the trained model's), int8: {out['expert_bytes_total'] / 2**30:.2f} GiB of experts, "
             f"{out['expert_record'] / 2**20:.1f} MiB each, {out['experts_per_token']} routed experts per token. "
             + int4 + "Sized to finish in minutes on this 2-core machine, not a 4B-class bundle of several GB. " + trained +
             f"Greedy, {runs[0]['prefill']['tokens'] if runs[0].get('prefill') else '?'} prompt tokens (fed by "
             f"prefill: layer by layer in blocks of 64, each expert read once per block) and "
             f"{runs[0]['decode']['tokens'] if runs[0].get('decode') else '?'} generated tokens fed back (decode) per run; "
             f"each contender runs {reps} times, passes interleaved; "
             "tokens/s are medians (decode: generated tokens per second of decoding, the acceptance figure; prefill: "
             "prompt tokens per second of prefill), the other columns come from the median decode run and, except "
             "the prefill columns and stall s (the whole run), count decoding only. The all-resident run checks each "
             "expert's CRC at its first use, which falls in its prefill; streamed runs check it on the I/O thread. "
             "Capped runs live in a cgroup-v1 "
             f"memory limit of cache + {OVERHEAD_MB} MiB (page cache counted); the bundle is dropped from the page cache "
             f"before each run; streaming reads use {(by.get('stream 25%') or {}).get('io_backend') or 'pread, O_DIRECT'} "
             "unless the row says otherwise (one I/O thread); the "
             "mmap baseline maps the bundle MAP_PRIVATE, PROT_READ, without madvise (kernel default readahead) and runs "
             "the same kernels. Expert kernels: AVX2 unless the row says scalar (both give the same bits). "
             "\"stream\" rows use the lfu-quota policy (LFU with decay 0.95 within equal per-layer shares of the cache) "
             "unless the row names another, and the pre-attention router's exact reads (each layer's experts "
             "are asked for before its attention); \"+ prediction\" rows also guess the next layer(s) from the "
             "current hidden state. Hit = a routed expert ready when its kernel needs it (no wait); reuse = used "
             "without a read in this token (cache effect only).", "",
             "| run | decode tokens/s | runs | vs resident | hit rate | reuse | precision | recall | MiB read/token | "
             "prefill tokens/s | vs resident | prefill MiB/token | stall s | same tokens |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    f = lambda v, p=1: "-" if v is None else f"{100 * v:.{p}f}%"  # noqa: E731
    for r in runs:
        if "error" in r:
            lines.append(f"| {r['name']} | error: {r['error']} | | | | | | | | | | | | |")
            continue
        t, pt = r.get("decode_tokens_per_s") or 0, r.get("prefill_tokens_per_s") or 0
        kind = "scalar kernels: all resident" if r["name"].startswith("scalar") else \
            "int4: all resident" if r["name"].startswith("int4") else "all resident"
        base, pbase = tps(kind), pref[kind]
        same = r["same_tokens"] and r.get("same_tokens_all", True)
        runs_s = " / ".join(f"{v:.1f}" for v in r.get("samples_decode_tokens_per_s") or [t])
        blind = "mmap" in r["name"]  # page faults are invisible to the runtime
        dec, pre = r.get("decode") or {}, r.get("prefill") or {}
        hit, reuse = ("n/a", "n/a") if blind else (f(dec.get("hit_rate")), f(dec.get("reuse_rate")))
        lines.append(f"| {r['name']} | {t:.2f} | {runs_s} | {f(t / base if base else None, 0)} | {hit} | "
                     f"{reuse} | {f(r['precision'])} | {f(r['recall'])} | {dec.get('mib_per_token') or 0:.1f} | "
                     f"{pt:.1f} | {f(pt / pbase if pbase else None, 0)} | {pre.get('mib_per_token') or 0:.1f} | "
                     f"{r['stall_s']:.2f} | {'yes' if same else 'NO'} |")
    s25, mm = by.get("stream 25%", {}), tps("mmap baseline, 25% cap")
    if ref and mm and s25.get("decode_tokens_per_s"):
        t = s25["decode_tokens_per_s"]
        lines += ["", f"At 25% (AVX2), decoding: {100 * t / ref:.0f}% of the all-resident tokens/s (target >= 70%), "
                      f"{t / mm:.1f}x the mmap baseline (target >= 3x), hit rate {f(s25['decode']['hit_rate'])} (target >= 80%); "
                      f"reads ran at {t * s25['decode']['mib_per_token']:.0f} MiB/s. The prompt's prefill: "
                      f"{s25['prefill_tokens_per_s']:.1f} tokens/s, {f(s25['prefill_tokens_per_s'] / pref['all resident'], 0)} "
                      f"of all-resident's, {s25['prefill_tokens_per_s'] / pps('mmap baseline, 25% cap'):.1f}x the mmap baseline's."]
        ss, sm = by.get("scalar kernels: stream 25%", {}), tps("scalar kernels: mmap baseline, 25% cap")
        if sref and sm and ss.get("decode_tokens_per_s"):
            lines += [f"At 25% (scalar kernels, compute-bound), decoding: {100 * ss['decode_tokens_per_s'] / sref:.0f}% of "
                      f"all-resident, {ss['decode_tokens_per_s'] / sm:.1f}x mmap, hit rate {f(ss['decode']['hit_rate'])}."]
    for name, r in by.items():
        if "cache routing" in name and r.get("decode_tokens_per_s"):
            b4 = name.startswith("int4")
            base, mmb = (ref4, tps("int4: mmap baseline, 25% cap")) if b4 else (ref, mm)
            if base and mmb:
                lines += [f"{name.replace(' (not exact)', '')}, decoding: {100 * r['decode_tokens_per_s'] / base:.0f}% of "
                          f"the {'int4 ' if b4 else ''}all-resident tokens/s, {r['decode_tokens_per_s'] / mmb:.1f}x "
                          f"{'its' if b4 else 'the'} mmap baseline, hit rate {f(r['decode']['hit_rate'])} - with routing "
                          "changed toward cached experts, so not the exact model's tokens (quality cost: docs/moe.md, "
                          "\"Cache routing\"; the prompt is fed token by token there)."]
    s4, mm4 = by.get("int4: stream 25%", {}), tps("int4: mmap baseline, 25% cap")
    if ref4 and mm4 and s4.get("decode_tokens_per_s"):
        t = s4["decode_tokens_per_s"]
        lines += [f"At 25% (int4 rows, AVX2), decoding: {100 * t / ref4:.0f}% of the int4 all-resident tokens/s, "
                  f"{t / mm4:.1f}x its mmap baseline, hit rate {f(s4['decode']['hit_rate'])}; reads ran at "
                  f"{t * s4['decode']['mib_per_token']:.0f} MiB/s."]
    for name, what in (("all resident", ""), ("int4: all resident", " (int4 routing)")):
        bel = (by.get(name) or {}).get("belady")
        if bel:
            lines += ["", f"Offline bound on reuse{what} (Belady's MIN, clairvoyant eviction, over this run's routing): "
                      + ", ".join(f"{k} slots {f(v)}" for k, v in bel.items()) + "."]
    lines.append("<!-- moe:end -->")
    block = "\n".join(lines)
    write_marked(ROOT / "docs" / "performance.md", block, "<!-- moe:begin -->", "<!-- moe:end -->")


if __name__ == "__main__":
    sys.exit(main())
