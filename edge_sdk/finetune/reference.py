"""numpy reference of one training step's backward pass and updates, bit for bit the C of
native/src/train (same float32 operations, same accumulation order, same counter-based
random numbers). The forward is the native one (its kernels are checked against the IR
oracle elsewhere); this takes the arena as the forward left it.

`gradients()` is the analysis variant used by the planner: float64, vectorised, every
channel of every layer, nothing applied.
"""
from __future__ import annotations

import numpy as np

F = np.float32
C_LOG2E, C_LN2_HI, C_LN2_LO = F(1.44269504), F(0.693145751953125), F(1.42860676533018e-06)
EXP_POLY = [F(0.00138888892), F(0.00833333377), F(0.0416666679), F(0.166666672), F(0.5), F(1.0), F(1.0)]
LOG_POLY = [F(0.111111112), F(0.142857149), F(0.200000003), F(0.333333343), F(1.0)]
LN2 = F(0.693147182)


def floor_i(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, F)
    k = np.trunc(v).astype(np.int64)
    return np.where(k.astype(F) > v, k - 1, k)


def exp_f(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, F)
    n = floor_i(x * C_LOG2E + F(0.5)).astype(F)
    r = x - n * C_LN2_HI
    r = r - n * C_LN2_LO
    p = EXP_POLY[0]
    for c in EXP_POLY[1:]:
        p = c + r * p
    bits = ((n.astype(np.int64) + 127) << 23).astype(np.uint32)
    out = (p * bits.view(F)).astype(F)
    return np.where(x < F(-87.0), F(0.0), out).astype(F)


def log_f(x: float) -> F:
    x = np.asarray([x], F)
    bits = x.view(np.uint32)
    e = ((bits >> 23) & 255).astype(np.int64) - 127
    mf = ((bits & 0x007FFFFF) | 0x3F800000).astype(np.uint32).view(F)
    u = (mf - F(1)) / (mf + F(1))
    u2 = u * u
    p = LOG_POLY[0]
    for c in LOG_POLY[1:]:
        p = c + u2 * p
    l = F(2) * u * p
    return F((e.astype(F) * LN2 + l)[0])


def uniform(seed: int, step: int, li: int, idx: np.ndarray) -> np.ndarray:
    m = np.uint64(0xFFFFFFFF)
    idx = np.asarray(idx, np.uint64)
    x = (idx * np.uint64(0x9E3779B9)) & m
    x ^= (np.uint64(step) * np.uint64(0x85EBCA6B) + np.uint64(li) * np.uint64(0xC2B2AE35) + np.uint64(seed)) & m
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & m
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & m
    x ^= x >> np.uint64(16)
    return (x >> np.uint64(8)).astype(F) * F(1.0 / 16777216.0)


def round_half_away(d: np.ndarray) -> np.ndarray:
    k = floor_i(np.abs(d) + F(0.5))
    return np.where(d < 0, -k, k)


def update_weight(w: np.ndarray, d: np.ndarray, rounding: int, seed: int, step: int, li: int, idx) -> np.ndarray:
    d = np.asarray(d, F)
    d = np.where(~(d > F(-255)), F(-255), d)
    d = np.where(d > F(255), F(255), d).astype(F)
    k = floor_i(d + uniform(seed, step, li, idx)) if rounding else round_half_away(d)
    return np.clip(w.astype(np.int64) + k, -127, 127).astype(np.int8)


def update_bias(b: np.ndarray, d: np.ndarray) -> np.ndarray:
    d = np.asarray(d, F)
    d = np.where(~(d > F(-1e9)), F(-1e9), d)
    d = np.where(d > F(1e9), F(1e9), d).astype(F)
    return np.clip(b.astype(np.int64) + round_half_away(d), -(2**31) + 1, 2**31 - 1).astype(np.int32)


class _State:
    """Views of the arena the step reads and writes, by tensor index / buffer name."""

    def __init__(self, plan, arena: np.ndarray):
        self.p, self.kg, self.arena = plan, plan.kg, arena

    def act(self, t: int) -> np.ndarray:
        rec = self.kg.tensors[t]
        return self.arena[rec.offset:rec.offset + rec.nbytes].view(np.dtype(rec.dtype)).reshape(rec.shape)

    def grad(self, name: str, shape) -> np.ndarray:
        off = self.p.arena.offsets[name]
        n = int(np.prod(shape))
        return self.arena[off:off + 4 * n].view(F).reshape(shape)

    def bias(self, li: int) -> np.ndarray:
        s = self.p.arena.slots[li]
        M = self.p.layer_M(li)
        return self.arena[s.bias_off:s.bias_off + 4 * M].view(np.int32)

    def weights(self, li: int) -> np.ndarray:
        """Current int8 weights [M, K] of layer li: SRAM rows over the artifact's."""
        u = self.p.prog.layers[li]
        w = self.kg.const(self.kg.ops[u.op].inputs[1])
        W = w.reshape(w.shape[0], -1).copy()
        s = self.p.arena.slots[li]
        if u.channels:
            K = W.shape[1]
            rows = self.arena[s.weight_off:s.weight_off + len(u.channels) * K].view(np.int8).reshape(-1, K)
            W[u.channels] = rows
        return W

    def set_weight_rows(self, li: int, rows: np.ndarray) -> None:
        s = self.p.arena.slots[li]
        self.arena[s.weight_off:s.weight_off + rows.size] = rows.reshape(-1).view(np.uint8)


def step(plan, arena: np.ndarray, label: int, step_index: int, target=None, collect: dict | None = None) -> float:
    """Apply one step's loss + backward + updates to `arena` (uint8, as the forward left it);
    returns the loss. Mirrors esdk_train_step after its forward."""
    st = _State(plan, arena)
    st.collect = collect
    z = st.act(plan.prog.logits).reshape(-1).astype(F)
    g = st.grad(plan.prog.steps[0].g_out, z.shape)
    if plan.loss == "cross_entropy":
        mx = F(z.max())
        e = exp_f(z - mx)
        s = F(0)
        for v in e:
            s = F(s + v)
        g[...] = e / s
        g[label] = F(g[label] - F(1))
        loss = F(log_f(s) - F(z[label] - mx))
    else:
        t = np.asarray(target, F).reshape(-1)
        c = F(F(2) / F(z.size))
        d = (z - t).astype(F)
        g[...] = d * c
        l = F(0)
        for v in d:
            l = F(l + F(v * v))
        loss = F(l / F(z.size))
    for si, sp in enumerate(plan.prog.steps[1:], start=1):
        _STEP[sp.kind](plan, st, sp, step_index)
    return float(loss)


def _gin(st, sp, k, shape) -> np.ndarray:
    d = st.grad(sp.g_in[k], shape)
    if not sp.acc[k]:
        d[...] = F(0)
    return d


def _mask(g: np.ndarray, y: np.ndarray, qmin: int, qmax: int) -> None:
    g[(y <= qmin) | (y >= qmax)] = F(0)


def _conv(plan, st, sp, step_index):
    kg = st.kg
    op = kg.ops[sp.op]
    p = op.p
    x = st.act(op.inputs[0])[0]
    y = st.act(op.outputs[0])[0]
    C, H, W = x.shape
    M, OH, OW = y.shape
    wt = kg.tensors[op.inputs[1]]
    KH, KW = wt.shape[2], wt.shape[3]
    grp = p["group"]
    cg, mg = C // grp, M // grp
    li = sp.layer
    u = plan.prog.layers[li]
    sw = plan.scales[u.op]
    g = st.grad(sp.g_out, (M, OH, OW))
    _mask(g, y, p["qmin"], p["qmax"])
    Wq = st.weights(li).reshape(M, cg, KH, KW)
    sh, sw_, pt, pl, dh, dw = p["stride_h"], p["stride_w"], p["pad_t"], p["pad_l"], p["dil_h"], p["dil_w"]

    def valid(n_out, stride, pad, k, dil, n_in):
        o = np.arange(n_out)
        i = o * stride - pad + k * dil
        ok = (i >= 0) & (i < n_in)
        return o[ok], i[ok]

    if plan.backward_code:
        from . import reference_i8

        return reference_i8.conv(plan, st, sp, step_index, g,
                                 (x, M, OH, OW, C, H, W, KH, KW, grp, (sh, sw_), (pt, pl), (dh, dw), valid))

    if sp.g_in and sp.g_in[0] is not None:
        dx = _gin(st, sp, 0, (C, H, W))
        for kh in range(KH):
            oh, ih = valid(OH, sh, pt, kh, dh, H)
            for kw in range(KW):
                ow, iw = valid(OW, sw_, pl, kw, dw, W)
                if not len(oh) or not len(ow):
                    continue
                for co in range(M):
                    gi = co // mg
                    wv = (sw[co] * Wq[co, :, kh, kw].astype(F)).astype(F)  # [cg]
                    gc = g[co][np.ix_(oh, ow)]
                    blk = dx[gi * cg:(gi + 1) * cg][:, ih[:, None], iw[None, :]]
                    dx[gi * cg:(gi + 1) * cg, ih[:, None], iw[None, :]] = blk + gc[None] * wv[:, None, None]
    if not u.bias and not u.channels:
        return
    sx = F(kg.tensors[op.inputs[0]].scale)
    zx = kg.tensors[op.inputs[0]].zero_point
    if u.bias:
        b = st.bias(li)
        flat = g.reshape(M, -1)
        gb = np.zeros(M, F)
        for j in range(flat.shape[1]):
            gb = gb + flat[:, j]
        b[...] = update_bias(b, -(plan.lrb[u.op] * gb))
        if st.collect is not None:
            st.collect[u.op] = (None, gb.copy())
    if u.channels:
        K = cg * KH * KW
        ch = np.asarray(u.channels)
        xr = (sx * (x.astype(np.int32) - zx).astype(F)).astype(F)
        acc = np.zeros((len(ch), cg, KH, KW), F)
        grp_of = ch // mg
        for oh in range(OH):
            for ow in range(OW):
                patch = np.zeros((C, KH, KW), F)
                for kh in range(KH):
                    ih = oh * sh - pt + kh * dh
                    if not 0 <= ih < H:
                        continue
                    for kw in range(KW):
                        iw = ow * sw_ - pl + kw * dw
                        if 0 <= iw < W:
                            patch[:, kh, kw] = xr[:, ih, iw]
                pg = np.stack([patch[gi * cg:(gi + 1) * cg] for gi in grp_of])  # [n, cg, KH, KW]
                acc = acc + g[ch, oh, ow][:, None, None, None] * pg
        rows = Wq[ch].reshape(len(ch), K)
        if st.collect is not None:
            st.collect[u.op] = (acc.reshape(len(ch), K).copy(), st.collect.get(u.op, (None, None))[1])
        lrw = plan.lrw[u.op][ch][:, None]
        idx = ch[:, None].astype(np.int64) * K + np.arange(K)[None, :]
        new = update_weight(rows, -(lrw * acc.reshape(len(ch), K)), plan.rounding_code, plan.seed, step_index, li, idx)
        st.set_weight_rows(li, new)


def _fc(plan, st, sp, step_index):
    kg = st.kg
    op = kg.ops[sp.op]
    x = st.act(op.inputs[0]).reshape(-1)
    y = st.act(op.outputs[0]).reshape(-1)
    li = sp.layer
    u = plan.prog.layers[li]
    sw = plan.scales[u.op]
    M, K = y.size, x.size
    g = st.grad(sp.g_out, (M,))
    _mask(g, y, op.p["qmin"], op.p["qmax"])
    if plan.backward_code:
        from . import reference_i8

        return reference_i8.fc(plan, st, sp, step_index, g, x)
    Wq = st.weights(li)
    if sp.g_in and sp.g_in[0] is not None:
        dx = _gin(st, sp, 0, (K,))
        for c in range(M):
            dx[...] = dx + g[c] * (sw[c] * Wq[c].astype(F))
    sx = F(kg.tensors[op.inputs[0]].scale)
    zx = kg.tensors[op.inputs[0]].zero_point
    if u.bias:
        b = st.bias(li)
        b[...] = update_bias(b, -(plan.lrb[u.op] * g))
    if u.channels:
        ch = np.asarray(u.channels)
        xr = (sx * (x.astype(np.int32) - zx).astype(F)).astype(F)
        gw = (g[ch][:, None] * xr[None, :]).astype(F)
        if st.collect is not None:
            st.collect[u.op] = (gw.copy(), g.copy())
        idx = ch[:, None].astype(np.int64) * K + np.arange(K)[None, :]
        new = update_weight(Wq[ch], -(plan.lrw[u.op][ch][:, None] * gw), plan.rounding_code, plan.seed, step_index, li,
                            idx)
        st.set_weight_rows(li, new)


def _add(plan, st, sp, step_index):
    op = st.kg.ops[sp.op]
    y = st.act(op.outputs[0]).reshape(-1)
    g = st.grad(sp.g_out, (y.size,))
    _mask(g, y, op.p["qmin"], op.p["qmax"])
    for k in range(2):
        if sp.g_in[k] is not None:
            d = _gin(st, sp, k, (y.size,))
            d[...] = d + g


def _gap(plan, st, sp, step_index):
    op = st.kg.ops[sp.op]
    x = st.act(op.inputs[0])
    C, HW = x.shape[1], x.shape[2] * x.shape[3]
    g = st.grad(sp.g_out, (C,))
    inv = F(F(1) / F(HW))
    d = _gin(st, sp, 0, (C, HW))
    d[...] = d + (g * inv)[:, None]


def _copy(plan, st, sp, step_index):
    op = st.kg.ops[sp.op]
    n = st.kg.tensors[op.outputs[0]].nbytes // np.dtype(st.kg.tensors[op.outputs[0]].dtype).itemsize
    g = st.grad(sp.g_out, (n,))
    d = _gin(st, sp, 0, (n,))
    d[...] = d + g


def pool_grad(x: np.ndarray, g: np.ndarray, d: np.ndarray, p: dict, is_max: bool) -> None:
    """Adds the int8 AVGPOOL / MAXPOOL input gradient into d [C, H, W] (x: int8 input, g: [C, OH, OW])."""
    C, H, W = x.shape
    _, OH, OW = g.shape
    KH, KW = p["kh"], p["kw"]
    for oh in range(OH):
        for ow in range(OW):
            h0, w0 = oh * p["stride_h"] - p["pad_t"], ow * p["stride_w"] - p["pad_l"]
            hs, ws, he, we = max(h0, 0), max(w0, 0), min(h0 + KH, H), min(w0 + KW, W)
            if he <= hs or we <= ws:
                continue
            gv = g[:, oh, ow]
            if is_max:  # first maximum in row-major order
                k = np.argmax(x[:, hs:he, ws:we].reshape(C, -1), axis=1)
                hh, ww = hs + k // (we - ws), ws + k % (we - ws)
                d[np.arange(C), hh, ww] = d[np.arange(C), hh, ww] + gv
            else:
                cnt = KH * KW if p.get("count_include_pad") else (he - hs) * (we - ws)
                d[:, hs:he, ws:we] = d[:, hs:he, ws:we] + (gv / F(cnt)).astype(F)[:, None, None]


def _pool(plan, st, sp, step_index):
    op = st.kg.ops[sp.op]
    x = st.act(op.inputs[0])[0]
    y = st.kg.tensors[op.outputs[0]]
    g = st.grad(sp.g_out, y.shape[1:])
    d = _gin(st, sp, 0, x.shape)
    pool_grad(x, g, d, op.p, sp.kind == "MAXPOOL")


_STEP = {"CONV": _conv, "FC": _fc, "ADD": _add, "GAP": _gap, "COPY": _copy, "AVGPOOL": _pool, "MAXPOOL": _pool}
