"""Block-CSR packing of a 2-D weight matrix (docs/format.md, "Block-CSR sparse weights")."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class BlockCSR:
    values: np.ndarray  # [nnzb, R, C]
    row_ptr: np.ndarray  # uint32 [rows/R + 1]
    col_idx: np.ndarray  # uint32 [nnzb]
    block: tuple[int, int]
    shape: tuple[int, int]
    k_chunk: int = 0  # > 0: rows are (K chunk, row) pairs, chunk-major (pack_k_chunked)

    @property
    def nnz_blocks(self) -> int:
        return int(self.row_ptr[-1])

    def to_dense(self) -> np.ndarray:
        r, c = self.block
        rows, cols = self.shape
        out = np.zeros((rows // r, cols // c, r, c), dtype=self.values.dtype)
        for i in range(len(self.row_ptr) - 1):  # K-chunked: CSR row i is block row i % (rows // r)
            for j in range(int(self.row_ptr[i]), int(self.row_ptr[i + 1])):
                out[i % (rows // r), int(self.col_idx[j])] = self.values[j]
        return out.transpose(0, 2, 1, 3).reshape(rows, cols)


def pack(w: np.ndarray, block: tuple[int, int]) -> BlockCSR:
    r, c = block
    rows, cols = w.shape
    if rows % r or cols % c:
        raise ValueError(f"{rows}x{cols} weight does not tile into {r}x{c} blocks")
    blocks = w.reshape(rows // r, r, cols // c, c).transpose(0, 2, 1, 3)  # [BR, BC, r, c]
    keep = np.any(blocks != 0, axis=(2, 3))
    row_ptr = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.uint32)
    br, bc = np.nonzero(keep)  # row-major order: sorted by row, then column
    values = np.ascontiguousarray(blocks[br, bc])
    col_idx = bc.astype(np.uint32)
    if values.size == 0:
        # tensors have no zero-sized dims: an all-zero matrix stores one unread placeholder block
        values, col_idx = np.zeros((1, r, c), dtype=w.dtype), np.zeros(1, np.uint32)
    return BlockCSR(values, row_ptr, col_idx, (r, c), (rows, cols))


def pack_k_chunked(w: np.ndarray, k_chunk: int) -> BlockCSR:
    """Unstructured (1x1-block) CSR whose rows are (K chunk, row) pairs, chunk-major: row
    c * rows + m holds row m's nonzeros with columns in [c * k_chunk, (c + 1) * k_chunk), so a
    kernel that walks the input channels chunk by chunk reads each chunk's weights as one
    contiguous stream (docs/format.md, "K-chunked weights"). Column indices stay absolute."""
    rows, cols = w.shape
    if not 1 <= k_chunk <= cols:
        raise ValueError(f"k_chunk {k_chunk} outside [1, {cols}]")
    nch = -(-cols // k_chunk)
    padded = np.zeros((rows, nch * k_chunk), dtype=w.dtype)
    padded[:, :cols] = w
    # [rows, nch, kc] -> [nch, rows, kc] -> a (nch * rows) x kc matrix in chunk-major row order
    stacked = padded.reshape(rows, nch, k_chunk).transpose(1, 0, 2).reshape(nch * rows, k_chunk)
    inner = pack(stacked, (1, 1))
    col_idx = inner.col_idx
    if inner.nnz_blocks:
        chunk_of_row = np.repeat(np.arange(nch * rows) // rows, np.diff(inner.row_ptr.astype(np.int64)))
        col_idx = (col_idx.astype(np.int64) + chunk_of_row * k_chunk).astype(np.uint32)
    return BlockCSR(inner.values, inner.row_ptr, col_idx, (1, 1), (rows, cols), k_chunk)


def choose_block(w: np.ndarray, hint: tuple[int, int] | None) -> tuple[int, int]:
    """The pruning pattern's block if it tiles the matrix, else 1x1 (always exact)."""
    rows, cols = w.shape
    if hint and rows % hint[0] == 0 and cols % hint[1] == 0:
        return (int(hint[0]), int(hint[1]))
    return (1, 1)


def block_density(w: np.ndarray, block: tuple[int, int]) -> float:
    """Fraction of the r x c blocks of w that hold a nonzero (what a block-CSR kernel pays for)."""
    r, c = block
    rows, cols = w.shape
    if w.size == 0:
        return 0.0
    blocks = w.reshape(rows // r, r, cols // c, c)
    return float(np.any(blocks != 0, axis=(1, 3)).mean())
