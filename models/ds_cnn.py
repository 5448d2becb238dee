"""DS-CNN keyword spotting model of MLPerf Tiny (kws01).

Input is the 49x10 MFCC map as NCHW [1, 1, 49, 10].  The reference uses
Keras 'same' padding for the 10x4/2 stem; symmetric (5, 1) padding gives the
same 25x5 output and keeps the ONNX graph free of Pad nodes.
"""
from torch import nn

from .layers import ConvBNAct, GlobalAvgPool


def ds_cnn(num_classes: int = 12, filters: int = 64, blocks: int = 4) -> nn.Sequential:
    layers = [ConvBNAct(1, filters, (10, 4), stride=2, padding=(5, 1), act="relu")]
    for _ in range(blocks):
        layers.append(ConvBNAct(filters, filters, 3, groups=filters, act="relu"))
        layers.append(ConvBNAct(filters, filters, 1, act="relu"))
    layers += [GlobalAvgPool("AVERAGE_POOL_2D"), nn.Linear(filters, num_classes)]
    return nn.Sequential(*layers)
