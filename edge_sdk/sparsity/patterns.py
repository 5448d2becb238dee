"""Sparsity patterns: parse the user's pattern string and turn importance scores into masks.

Every mask function takes non-negative scores (|W| for magnitude pruning, |W|*||X|| for
Wanda) and returns a boolean keep-mask of the same shape. Weights are viewed as a matrix
[M, K]: conv weights OIHW flatten to K = C/group*kh*kw (K = C for 1x1 convs), which is
the row layout the compiler packs into block-CSR; FullyConnected weights already are [M, K].
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import PatternError, SparsityError

# PatDNN-style library for 3x3 kernels: 4 positions each, always the center (index 4 in
# row-major 3x3). Four 2x2 corners around the center and four "T" shapes; together
# they cover every neighbour twice so each kernel finds a pattern near its mass.
KERNEL_PATTERNS: tuple[tuple[int, ...], ...] = (
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (3, 4, 6, 7),
    (4, 5, 7, 8),
    (1, 3, 4, 5),
    (1, 4, 5, 7),
    (3, 4, 5, 7),
    (1, 3, 4, 7),
)
KERNEL_PATTERN_ENTRIES = 4
KERNEL_PATTERN_SPARSITY = 1.0 - KERNEL_PATTERN_ENTRIES / 9.0  # floor of what patterns alone give

_PATTERN_MATRIX = np.zeros((len(KERNEL_PATTERNS), 9), dtype=bool)
for _i, _p in enumerate(KERNEL_PATTERNS):
    _PATTERN_MATRIX[_i, list(_p)] = True


@dataclass(frozen=True)
class Pattern:
    kind: str  # "unstructured" | "n:m" | "block" | "kernel-pattern"
    n: int = 0
    m: int = 0
    block: tuple[int, int] = (1, 1)

    def __str__(self) -> str:
        if self.kind == "n:m":
            return f"{self.n}:{self.m}"
        if self.kind == "block":
            return f"block:{self.block[0]}x{self.block[1]}"
        return self.kind

    @property
    def fixed_sparsity(self) -> float | None:
        """n:m decides its own sparsity; the requested target does not apply."""
        return 1.0 - self.n / self.m if self.kind == "n:m" else None


def parse_pattern(text: str) -> Pattern:
    s = str(text).strip().lower()
    if s == "unstructured":
        return Pattern("unstructured")
    if s in ("kernel-pattern", "kernel_pattern", "pattern"):
        return Pattern("kernel-pattern")
    m = re.fullmatch(r"(\d+):(\d+)", s)
    if m:
        n, mm = int(m.group(1)), int(m.group(2))
        if not (1 <= n <= mm) or mm < 2:
            raise PatternError(text)
        return Pattern("n:m", n=n, m=mm)
    m = re.fullmatch(r"block:(\d+)x(\d+)", s)
    if m:
        r, c = int(m.group(1)), int(m.group(2))
        if r < 1 or c < 1:
            raise PatternError(text)
        return Pattern("block", block=(r, c))
    raise PatternError(text)


def check_sparsity(sparsity: float, allow_full: bool = False) -> float:
    s = float(sparsity)
    hi_ok = s <= 1.0 if allow_full else s < 1.0
    if not (np.isfinite(s) and s >= 0.0 and hi_ok):
        rng = "[0, 1]" if allow_full else "[0, 1)"
        raise SparsityError(f"sparsity {sparsity} is outside {rng}; pass a fraction such as 0.5 for 50%")
    return s


def as_matrix(a: np.ndarray) -> np.ndarray:
    """[M, ...] -> [M, K] (OIHW flattens channel-major, matching the compiler's packing)."""
    return a.reshape(a.shape[0], -1)


def _n_keep(count: int, sparsity: float) -> int:
    return int(np.clip(round((1.0 - sparsity) * count), 0, count))


def _top_k_mask(flat_scores: np.ndarray, k: int) -> np.ndarray:
    keep = np.zeros(flat_scores.shape, dtype=bool)
    if k >= flat_scores.size:
        keep[:] = True
    elif k > 0:
        # stable on ties: lower index wins, so results are reproducible
        order = np.argsort(-flat_scores, kind="stable")
        keep[order[:k]] = True
    return keep


def unstructured_mask(scores: np.ndarray, sparsity: float) -> np.ndarray:
    check_sparsity(sparsity, allow_full=True)
    flat = scores.reshape(-1)
    return _top_k_mask(flat, _n_keep(flat.size, sparsity)).reshape(scores.shape)


def nm_mask(scores: np.ndarray, n: int, m: int) -> np.ndarray:
    """Keep the n best of every m consecutive weights along K (a trailing partial group keeps
    at most n too)."""
    mat = as_matrix(scores)
    rows, k = mat.shape
    groups = -(-k // m)
    padded = np.full((rows, groups * m), -1.0, dtype=np.float64)  # pads lose to any real score
    padded[:, :k] = mat
    g = padded.reshape(rows, groups, m)
    order = np.argsort(-g, axis=2, kind="stable")
    keep = np.zeros(g.shape, dtype=bool)
    np.put_along_axis(keep, order[:, :, :n], True, axis=2)
    return keep.reshape(rows, groups * m)[:, :k].reshape(scores.shape)


def block_mask(scores: np.ndarray, sparsity: float, block: tuple[int, int]) -> np.ndarray:
    """Keep whole RxC blocks (output channels x K) ranked by summed score. Edge blocks of a
    matrix that does not tile are smaller but ranked the same way."""
    check_sparsity(sparsity, allow_full=True)
    r, c = block
    mat = as_matrix(scores)
    rows, k = mat.shape
    br, bc = -(-rows // r), -(-k // c)
    padded = np.zeros((br * r, bc * c), dtype=np.float64)
    padded[:rows, :k] = mat
    bscore = padded.reshape(br, r, bc, c).sum(axis=(1, 3))
    keep_b = _top_k_mask(bscore.reshape(-1), _n_keep(bscore.size, sparsity)).reshape(br, bc)
    keep = np.repeat(np.repeat(keep_b, r, axis=0), c, axis=1)[:rows, :k]
    return keep.reshape(scores.shape)


def kernel_pattern_mask(scores: np.ndarray, sparsity: float) -> tuple[np.ndarray, np.ndarray]:
    """3x3 kernels: each keeps its best library pattern; then whole kernels with the least
    kept score are removed (connectivity pruning) until the target is reached. Targets
    below KERNEL_PATTERN_SPARSITY end at that floor.

    Returns (mask [M, Cg, 3, 3], pattern id per kernel [M, Cg], -1 for removed kernels).
    """
    check_sparsity(sparsity, allow_full=True)
    if scores.ndim != 4 or scores.shape[2:] != (3, 3):
        raise SparsityError(f"kernel-pattern needs 3x3 conv weights, got shape {tuple(scores.shape)}")
    m, cg = scores.shape[:2]
    flat = scores.reshape(m * cg, 9).astype(np.float64)
    pat_scores = flat @ _PATTERN_MATRIX.T.astype(np.float64)  # [kernels, patterns]
    ids = np.argmax(pat_scores, axis=1)
    kept_score = pat_scores[np.arange(ids.size), ids]
    target_kept = (1.0 - sparsity) * flat.size
    n_kernels = int(np.clip(round(target_kept / KERNEL_PATTERN_ENTRIES), 0, ids.size))
    alive = _top_k_mask(kept_score, n_kernels)
    mask = _PATTERN_MATRIX[ids] & alive[:, None]
    ids = np.where(alive, ids, -1)
    return mask.reshape(scores.shape), ids.reshape(m, cg).astype(np.int8)


def kernel_matches_library(kernel_mask: np.ndarray) -> bool:
    """True if a 3x3 keep-mask is one library pattern or empty (used by checks and tests)."""
    flat = np.asarray(kernel_mask, dtype=bool).reshape(9)
    return not flat.any() or bool((_PATTERN_MATRIX == flat).all(axis=1).any())


def compute_mask(pattern: Pattern, scores: np.ndarray, sparsity: float) -> tuple[np.ndarray, dict]:
    """Dispatch on the pattern. Returns (mask, extra) where extra carries what the report
    and the compiler need: the pattern actually used and the block shape."""
    if pattern.kind == "n:m":
        return nm_mask(scores, pattern.n, pattern.m), {"pattern": str(pattern), "block": (1, 1)}
    if pattern.kind == "block":
        return block_mask(scores, sparsity, pattern.block), {"pattern": str(pattern), "block": pattern.block}
    if pattern.kind == "kernel-pattern":
        if scores.ndim == 4 and scores.shape[2:] == (3, 3):
            mask, ids = kernel_pattern_mask(scores, sparsity)
            return mask, {"pattern": str(pattern), "block": (1, 1), "pattern_ids": ids}
        # 1x1 convs and FC layers have no kernels to pattern: prune them unstructured
        return unstructured_mask(scores, sparsity), {"pattern": "unstructured", "block": (1, 1)}
    return unstructured_mask(scores, sparsity), {"pattern": "unstructured", "block": (1, 1)}


BLOCK_CANDIDATES: tuple[tuple[int, int], ...] = ((8, 1), (4, 1), (1, 8), (1, 4), (2, 2), (2, 1), (1, 2))


def detect_block(mask: np.ndarray) -> tuple[int, int]:
    """Largest candidate block the mask is made of (for weights that arrived sparse)."""
    mat = as_matrix(mask)
    rows, k = mat.shape
    best = (1, 1)
    for r, c in BLOCK_CANDIDATES:
        if rows % r or k % c or r * c <= best[0] * best[1]:
            continue
        b = mat.reshape(rows // r, r, k // c, c)
        if np.array_equal(b.all(axis=(1, 3)), b.any(axis=(1, 3))):
            best = (r, c)
    return best
