"""Fully connected autoencoder of MLPerf Tiny anomaly detection (ad01)."""
from torch import nn

from .layers import LinearBNAct


def autoencoder(dim: int = 640, hidden: int = 128, bottleneck: int = 8) -> nn.Sequential:
    sizes = [dim, hidden, hidden, hidden, hidden, bottleneck, hidden, hidden, hidden, hidden]
    layers = [LinearBNAct(a, b) for a, b in zip(sizes, sizes[1:])]
    layers.append(nn.Linear(hidden, dim))
    return nn.Sequential(*layers)
