"""MobileNetV1 (Howard et al. 2017) with ReLU6 as in the TF reference; `width` is the width
multiplier alpha (1.0 and 224x224 input: the classic model; 0.25 at 96x96 with 2 classes: the
MLPerf Tiny vww01 network)."""
from torch import nn

from .layers import ConvBNAct, GlobalAvgPool

# (output channels, stride) of the 13 depthwise-separable blocks
_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
           (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


def mobilenet_v1(num_classes: int = 1000, width: float = 1.0) -> nn.Sequential:
    ch = lambda c: max(8, int(c * width))  # noqa: E731 - channels scaled by the width multiplier
    layers = [ConvBNAct(3, ch(32), 3, stride=2)]
    cin = ch(32)
    for cout, stride in _BLOCKS:
        layers.append(ConvBNAct(cin, cin, 3, stride=stride, groups=cin))
        layers.append(ConvBNAct(cin, ch(cout), 1))
        cin = ch(cout)
    layers += [GlobalAvgPool("AVERAGE_POOL_2D"), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)
