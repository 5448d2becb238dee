"""Weight sparsification: patterns, scores, channel permutation, per-layer allocation."""
from .errors import PatternError, SparsityError
from .patterns import Pattern, parse_pattern
from .prune import default_keep_dense, sparsify
from .report import LayerSparsity, SparsityReport

__all__ = [
    "Pattern", "PatternError", "SparsityError", "LayerSparsity", "SparsityReport",
    "default_keep_dense", "parse_pattern", "sparsify",
]
