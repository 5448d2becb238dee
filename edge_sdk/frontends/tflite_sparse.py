"""Densifies TFLite SparsityParameters (TFLite's FormatConverter, in Python)."""
from __future__ import annotations

import numpy as np
import tflite

from ..errors import ModelError

_VECTORS = {
    tflite.SparseIndexVector.Int32Vector: tflite.Int32Vector,
    tflite.SparseIndexVector.Uint16Vector: tflite.Uint16Vector,
    tflite.SparseIndexVector.Uint8Vector: tflite.Uint8Vector,
}


def _index_vector(kind, table) -> np.ndarray:
    cls = _VECTORS.get(kind)
    if cls is None or table is None:
        raise ModelError("sparse tensor has an unknown index vector type")
    v = cls()
    v.Init(table.Bytes, table.Pos)
    return np.asarray(v.ValuesAsNumpy(), dtype=np.int64).reshape(-1)


def densify(values: np.ndarray, shape: tuple[int, ...], sp) -> np.ndarray:
    """Dense array of `shape` from the stored `values` and a tflite.SparsityParameters."""
    n = len(shape)
    order = [int(v) for v in sp.TraversalOrderAsNumpy()] if sp.TraversalOrderLength() else list(range(n))
    bmap = [int(v) for v in sp.BlockMapAsNumpy()] if sp.BlockMapLength() else []
    metas = []
    for i in range(sp.DimMetadataLength()):
        m = sp.DimMetadata(i)
        if m.Format() == tflite.DimensionType.DENSE:
            metas.append(("dense", int(m.DenseSize()), None, None))
        else:
            metas.append(("csr", 0, _index_vector(m.ArraySegmentsType(), m.ArraySegments()),
                          _index_vector(m.ArrayIndicesType(), m.ArrayIndices())))
    if len(metas) != len(order) or len(order) != n + len(bmap):
        raise ModelError("sparse tensor metadata does not match its shape")
    block = {bmap[d - n]: metas[lvl][1] for lvl, d in enumerate(order) if d >= n}
    out = np.zeros(shape, dtype=values.dtype)
    coord = [0] * len(order)

    def leaf(pos):
        idx = []
        for i in range(n):
            c = coord[i]
            if i in block:
                c = c * block[i] + coord[n + bmap.index(i)]
            idx.append(c)
        out[tuple(idx)] = values[pos]

    def walk(level, pos):
        if level == len(order):
            leaf(pos)
            return
        kind, size, seg, ind = metas[level]
        d = order[level]
        if kind == "dense":
            for k in range(size):
                coord[d] = k
                walk(level + 1, pos * size + k)
        else:
            for j in range(int(seg[pos]), int(seg[pos + 1])):
                coord[d] = int(ind[j])
                walk(level + 1, j)

    try:
        walk(0, 0)
    except IndexError as e:
        raise ModelError(f"sparse tensor indices are out of range ({e})") from e
    return out
