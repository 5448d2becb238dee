"""Graph optimization passes run on every imported model."""
from __future__ import annotations

from ..errors import ModelError
from .activation import fuse_activations
from .affine import fold_affine
from .cleanup import remove_identities
from .fold import fold_constants
from .qdq import fuse_qdq
from .transpose_opt import optimize_transposes

MAX_ROUNDS = 100


def _rounds(g) -> None:
    for _ in range(MAX_ROUNDS):
        changed = False
        for p in (fold_constants, fold_affine, fuse_activations, remove_identities, optimize_transposes, fuse_qdq):
            changed |= bool(p(g))
        g.prune()
        if not changed:
            return
    raise ModelError("graph optimization did not converge")


def optimize(graph):
    _rounds(graph)
    # Dequantize of constants the QDQ fusion did not consume become float constants
    if fold_constants(graph, include_dequantize=True):
        _rounds(graph)
    graph.validate()
    return graph


__all__ = ["optimize", "fold_constants", "fold_affine", "fuse_activations", "remove_identities",
           "optimize_transposes", "fuse_qdq"]
