"""MobileNetV2 1.0/224 (Sandler et al. 2018)."""
from torch import nn

from .layers import ConvBNAct, GlobalAvgPool

# (expansion t, output channels c, repeats n, first stride s), from the paper
_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [ConvBNAct(cin, hidden, 1)]
        layers += [ConvBNAct(hidden, hidden, 3, stride=stride, groups=hidden),
                   ConvBNAct(hidden, cout, 1, act=None)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


def mobilenet_v2(num_classes: int = 1000) -> nn.Sequential:
    layers = [ConvBNAct(3, 32, 3, stride=2)]
    cin = 32
    for t, c, n, s in _SETTINGS:
        for i in range(n):
            layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
            cin = c
    layers += [ConvBNAct(cin, 1280, 1), GlobalAvgPool("MEAN"), nn.Linear(1280, num_classes)]
    return nn.Sequential(*layers)
