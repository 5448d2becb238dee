"""MobileNetV2 with a width multiplier (0.35 for the tiny-training benchmark), 128x128 input.

Channel counts are rounded to multiples of 8 as in the reference implementation; the last
1x1 conv keeps 1280 channels for widths below 1, as the paper's models do."""
from torch import nn

from .layers import ConvBNAct, GlobalAvgPool
from .mobilenet_v2 import _SETTINGS, InvertedResidual


def _div8(v: float) -> int:
    n = max(8, int(v + 4) // 8 * 8)
    return n + 8 if n < 0.9 * v else n


def mobilenet_v2_width(width: float = 0.35, num_classes: int = 10) -> nn.Sequential:
    cin = _div8(32 * width)
    layers = [ConvBNAct(3, cin, 3, stride=2)]
    for t, c, n, s in _SETTINGS:
        cout = _div8(c * width)
        for i in range(n):
            layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
            cin = cout
    last = 1280 if width <= 1.0 else _div8(1280 * width)
    layers += [ConvBNAct(cin, last, 1), GlobalAvgPool("MEAN"), nn.Linear(last, num_classes)]
    return nn.Sequential(*layers)


def mobilenet_v2_035() -> nn.Sequential:
    return mobilenet_v2_width(0.35, 10)
