"""The partial-read arithmetic of the activation-sparse study (edge_sdk/moe/partial_reads.py):
byte counts of the row-column bundle layout, the replay of a slot cache whose slots hold what was
read into them, unit reordering and the cache of partial experts, against hand counts and an
independent numpy replay."""
import numpy as np
import pytest

from edge_sdk.moe.format import PAGE, MoEConfig, expert_layout
from edge_sdk.moe.partial_reads import (Bundles, frequency_order, hexmask, item_cache_bytes, permute, read_bytes,
                                        trace_steps, unhexmask, use_masks, zero_stats)
from edge_sdk.moe.policies import LRU


def units(F, *on):
    m = np.zeros(F, bool)
    m[list(on)] = True
    return m


def test_bundle_byte_counts():
    b = Bundles(256, 128)  # the benchmark model's trained expert
    assert (b.unit, b.per_page) == (512, 8)
    assert b.gate == 9 * PAGE  # 512 + 32768 + 512 + 1024 = 34816 bytes -> 9 pages
    assert b.whole == 27 * PAGE  # three matrices of 9 pages each, as the bundle stores them
    g = Bundles(256, 128, 64)  # grown to d_ff 8192 as bench/moe_io.py does
    assert g.gate == 529 * PAGE  # 32768 + 2097152 + 32768 + 1024 = 2163712 -> 529 pages
    assert g.whole == 1553 * PAGE == 6361088  # bench/moe_read_qd.c's record size
    cfg = MoEConfig(1, 256, 1, 1, 1, 1, 1, 1, 8192, expert_quant=1)
    assert g.whole == expert_layout(cfg)[1]
    assert g.units(units(128, 3, 7)) == 2 * 64 * 512


def test_read_bytes_by_hand():
    """one layer, three experts, top-1, two slots, LRU; uses e0 e1 e0 e2 e1, 16 units of 1 KiB
    (4 to a page): LRU evicts e1 at token 3 and e0 at token 4"""
    b = Bundles(512, 16)
    G, u, P = b.gate, b.unit, PAGE
    assert (u, b.per_page) == (1024, 4)
    routes = [np.array([[0], [1], [0], [2], [1]])]
    act = [np.array([[units(16, 0, 1)], [units(16, 5)], [units(16, 1, 2, 9)], [units(16)], [units(16, 5, 15)]])]
    r = read_bytes(trace_steps(routes, 3), use_masks(act), 2, LRU(), b, tokens=5)
    assert r["reuse"] == pytest.approx(1 / 5)
    assert r["whole"] * 5 == 4 * b.whole
    # misses: G+2u, G+u, G, G+2u; the hit at token 2 finds unit 1 and reads units 2 and 9
    assert r["unit"] * 5 == 4 * G + 7 * u and r["fill_unit"] * 5 == 2 * u
    # pages: {0}, {1}, hit {0, 2} (page 0 held), {}, {1, 3}
    assert r["page"] * 5 == 4 * G + 5 * P and r["fill_page"] * 5 == P


def lru_bytes_np(keys, masks, slots, gate, unit, page_units, scale):
    """an independent replay: demand LRU over whole-expert slots holding the units read"""
    held, last, tot_u, tot_p = {}, {}, 0, 0
    for i, (k, m) in enumerate(zip(keys, masks)):
        pm = np.add.reduceat(np.pad(m, (0, -len(m) % page_units)).astype(int), np.arange(0, len(m), page_units)) > 0
        if k in held:
            hu, hp = held[k]
            tot_u += np.sum(m & ~hu) * unit * scale
            tot_p += np.sum(pm & ~hp) * PAGE * scale
            held[k] = (hu | m, hp | pm)
        else:
            if len(held) >= slots:
                del held[min(held, key=lambda x: last[x])]
            tot_u += gate + m.sum() * unit * scale
            tot_p += gate + pm.sum() * PAGE * scale
            held[k] = (m.copy(), pm)
        last[k] = i
    return tot_u, tot_p


@pytest.mark.parametrize("seed", range(4))
def test_read_bytes_random_against_numpy(seed):
    """one layer, top-1 (so that LRU over uses is LRU over steps), odd widths, densities from all
    zero to all active, an expert that is never active"""
    rng = np.random.default_rng(seed)
    E, F, T, slots, scale = 7, 13 + seed * 6, 60, 3, 1 + seed
    b = Bundles(256, F, scale)
    routes = [rng.integers(0, E, (T, 1))]
    dens = rng.choice([0.0, 0.1, 0.5, 1.0], T)
    act = [(rng.random((T, 1, F)) < dens[:, None, None]) & (routes[0][:, :, None] != 4)]
    r = read_bytes(trace_steps(routes, E), use_masks(act), slots, LRU(), b, tokens=T)
    keys = [int(e) for e in routes[0][:, 0]]
    tu, tp = lru_bytes_np(keys, [a[0] for a in act[0]], slots, b.gate, b.unit, b.per_page, scale)
    assert r["unit"] * T == pytest.approx(tu) and r["page"] * T == pytest.approx(tp)
    misses = T - round(r["reuse"] * T)
    assert r["whole"] * T == misses * b.whole


def test_zero_stats_and_masks():
    rng = np.random.default_rng(5)
    a = rng.random((200, 37)) < rng.random((200, 1))
    z = 1 - a.sum(1) / 37
    s = zero_stats(a)
    assert s["uses"] == 200 and s["mean"] == pytest.approx(z.mean())
    assert [s["p10"], s["p50"], s["p90"]] == pytest.approx(list(np.percentile(z, [10, 50, 90])))
    assert zero_stats(np.zeros((4, 8), bool))["mean"] == 1.0 and zero_stats(np.ones((4, 8), bool))["p90"] == 0.0
    for m in a[:5]:
        assert np.array_equal(unhexmask(hexmask(m), 37), m)


def test_frequency_order_packs_pages():
    """units 0, 5, 10, 15 always active together: four pages in the trained order, one after
    ordering by frequency; the unit count (and so the unit bytes) is unchanged"""
    F, b = 16, Bundles(512, 16)
    m = units(F, 0, 5, 10, 15)
    order = frequency_order([(3, m), (3, m), (3, units(F, 0))])
    assert list(order[3][:4]) == [0, 5, 10, 15]
    (p,) = permute([m], [3], order)
    assert p.sum() == m.sum() and list(np.flatnonzero(p)) == [0, 1, 2, 3]
    assert permute([m], [2], order)[0] is m  # no order for key 2
    routes = [np.array([[3]])]
    r0 = read_bytes(trace_steps(routes, 4), [m], 2, LRU(), b, 1)
    r1 = read_bytes(trace_steps(routes, 4), [p], 2, LRU(), b, 1)
    assert (r0["page"] - b.gate, r1["page"] - b.gate) == (4 * PAGE, PAGE) and r0["unit"] == r1["unit"]


def test_item_cache_bounds():
    """a cache of partial experts: with no room every use reads its gate block and active items;
    with room for everything each item is read once"""
    rng = np.random.default_rng(1)
    E, F, T = 5, 24, 40
    b = Bundles(256, F)
    routes = [rng.integers(0, E, (T, 2)) for _ in range(2)]
    for r in routes:  # two distinct experts per token and layer
        r[:, 1] = (r[:, 0] + 1 + rng.integers(0, E - 1, T)) % E
    act = [rng.random((T, 2, F)) < 0.3 for _ in range(2)]
    st, masks = trace_steps(routes, E), use_masks(act)
    none = item_cache_bytes(st, masks, 0, b, T, pages=False)
    assert none["bytes"] * T == sum(b.gate + m.sum() * b.unit for m in masks) and none["gate_reuse"] == 0
    keys = [k for s in st for k in s.keys]
    seen = {}
    for k, m in zip(keys, masks):
        seen[k] = seen.get(k, np.zeros(F, bool)) | m
    full = item_cache_bytes(st, masks, 1 << 40, b, T, pages=False)
    assert full["bytes"] * T == sum(b.gate + s.sum() * b.unit for s in seen.values())
    assert full["gate_reuse"] == pytest.approx(1 - len(seen) / len(keys))
