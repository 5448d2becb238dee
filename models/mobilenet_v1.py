"""MobileNetV1 1.0/224 (Howard et al. 2017) with ReLU6 as in the TF reference."""
from torch import nn

from .layers import ConvBNAct, GlobalAvgPool

# (output channels, stride) of the 13 depthwise-separable blocks
_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
           (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


def mobilenet_v1(num_classes: int = 1000) -> nn.Sequential:
    layers = [ConvBNAct(3, 32, 3, stride=2)]
    cin = 32
    for cout, stride in _BLOCKS:
        layers.append(ConvBNAct(cin, cin, 3, stride=stride, groups=cin))
        layers.append(ConvBNAct(cin, cout, 1))
        cin = cout
    layers += [GlobalAvgPool("AVERAGE_POOL_2D"), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)
