"""User-facing sparsification errors (one line each, printed by the CLI)."""
from __future__ import annotations

from ..errors import EdgeSdkError


class SparsityError(EdgeSdkError):
    """Bad sparsification request: pattern string, target, layer names, missing data."""


class PatternError(SparsityError):
    def __init__(self, text: str):
        super().__init__(
            f"pattern '{text}' not understood; expected unstructured, n:m (e.g. 2:4), "
            f"block:RxC (e.g. 4x1) or kernel-pattern"
        )
