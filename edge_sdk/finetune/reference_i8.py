"""numpy reference of the int8 backward (native/src/train/train_backward_i8.c), bit for bit.

The float output gradient g (already masked) becomes h = g * s_W[c], quantized per tensor to
int8 with s_h = max|h| / 127; products are integer (exact, order-free, so vectorised here)
and each result gets one float32 scale, in the C's operation order.
"""
from __future__ import annotations

import numpy as np

from .reference import F, floor_i, round_half_away, uniform, update_bias, update_weight

SR_LAYER = 0x10000  # stochastic gradient rounding draws on layer index SR_LAYER + li


def quantize_grad(plan, g: np.ndarray, sw: np.ndarray, li: int, step_index: int) -> tuple[np.ndarray, F]:
    """g [M, P] float32 -> (q [M, P] int64 in [-127, 127], s_h)."""
    h = (g * sw[:, None]).astype(F)
    a = np.abs(h)
    amax = F(np.max(np.where(a > 0, a, F(0)))) if a.size else F(0)
    inv = F(F(127) / amax) if amax > 0 else F(0)
    v = (h * inv).astype(F)
    v = np.where(~(v > F(-127)), F(-127), v)
    v = np.where(v > F(127), F(127), v).astype(F)
    if plan.backward_code == 2:
        u = uniform(plan.seed, step_index, SR_LAYER + li, np.arange(v.size)).reshape(v.shape)
        k = floor_i((v + u).astype(F))
    else:
        k = round_half_away(v)
    return np.minimum(k, 127).astype(np.int64), F(amax / F(127))


def _write_dx(d: np.ndarray, acc: bool, s_h: F, dxi: np.ndarray) -> None:
    v = (s_h * dxi.astype(F)).astype(F)
    d[...] = (d + v) if acc else v


def conv(plan, st, sp, step_index, g, geom) -> None:
    x, M, OH, OW, C, H, W, KH, KW, grp, stride, pad, dil, valid = geom
    cg, mg = C // grp, M // grp
    li = sp.layer
    u = plan.prog.layers[li]
    sw = np.asarray(plan.scales[u.op], F)
    Wq = st.weights(li).reshape(M, cg, KH, KW).astype(np.int64)
    q, s_h = quantize_grad(plan, g.reshape(M, -1), sw, li, step_index)
    q = q.reshape(M, OH, OW)
    taps = []
    for kh in range(KH):
        oh, ih = valid(OH, stride[0], pad[0], kh, dil[0], H)
        for kw in range(KW):
            ow, iw = valid(OW, stride[1], pad[1], kw, dil[1], W)
            if len(oh) and len(ow):
                taps.append((kh, kw, oh, ih, ow, iw))
    if sp.g_in and sp.g_in[0] is not None:
        dxi = np.zeros((grp, cg, H, W), np.int64)
        qg = q.reshape(grp, mg, OH, OW)
        Wg = Wq.reshape(grp, mg, cg, KH, KW)
        for kh, kw, oh, ih, ow, iw in taps:
            qs = qg[:, :, oh][:, :, :, ow]
            dxi[:, :, ih[:, None], iw[None, :]] += np.einsum("gmhw,gmc->gchw", qs, Wg[:, :, :, kh, kw])
        _write_dx(st.grad(sp.g_in[0], (C, H, W)), sp.acc[0], s_h, dxi.reshape(C, H, W))
    if u.bias:
        b = st.bias(li)
        gb = ((s_h / sw).astype(F) * q.reshape(M, -1).sum(1).astype(F)).astype(F)
        b[...] = update_bias(b, -(plan.lrb[u.op] * gb))
    if u.channels:
        kg = st.kg
        op = kg.ops[sp.op]
        sx = F(kg.tensors[op.inputs[0]].scale)
        zx = kg.tensors[op.inputs[0]].zero_point
        ch = np.asarray(u.channels)
        xz = (x.astype(np.int64) - zx).reshape(grp, cg, H, W)[ch // mg]  # [n, cg, H, W]
        acc = np.zeros((len(ch), cg, KH, KW), np.int64)
        for kh, kw, oh, ih, ow, iw in taps:
            acc[:, :, kh, kw] = np.einsum("nhw,nchw->nc", q[ch][:, oh][:, :, ow], xz[:, :, ih][:, :, :, iw])
        _update_rows(plan, st, li, u, ch, acc.reshape(len(ch), -1), s_h, sx, sw, Wq.reshape(M, -1), step_index)


def fc(plan, st, sp, step_index, g, x) -> None:
    kg = st.kg
    op = kg.ops[sp.op]
    li = sp.layer
    u = plan.prog.layers[li]
    sw = np.asarray(plan.scales[u.op], F)
    Wq = st.weights(li).astype(np.int64)
    q, s_h = quantize_grad(plan, g.reshape(-1, 1), sw, li, step_index)
    q = q.reshape(-1)
    if sp.g_in and sp.g_in[0] is not None:
        _write_dx(st.grad(sp.g_in[0], (x.size,)), sp.acc[0], s_h, q @ Wq)
    if u.bias:
        b = st.bias(li)
        gb = ((s_h / sw).astype(F) * q.astype(F)).astype(F)
        b[...] = update_bias(b, -(plan.lrb[u.op] * gb))
    if u.channels:
        sx = F(kg.tensors[op.inputs[0]].scale)
        zx = kg.tensors[op.inputs[0]].zero_point
        ch = np.asarray(u.channels)
        acc = q[ch][:, None] * (x.astype(np.int64) - zx)[None, :]
        _update_rows(plan, st, li, u, ch, acc, s_h, sx, sw, Wq, step_index)


def _update_rows(plan, st, li, u, ch, acc, s_h, sx, sw, Wq, step_index) -> None:
    K = acc.shape[1]
    cs = (F(s_h * sx) / sw[ch]).astype(F)
    gw = (cs[:, None] * acc.astype(F)).astype(F)
    idx = ch[:, None].astype(np.int64) * K + np.arange(K)[None, :]
    new = update_weight(Wq[ch].astype(np.int8), -(plan.lrw[u.op][ch][:, None] * gw), plan.rounding_code, plan.seed,
                        step_index, li, idx)
    st.set_weight_rows(li, new)
