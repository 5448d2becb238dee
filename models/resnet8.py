"""ResNet-8 image classifier of MLPerf Tiny (ic01, CIFAR-10 32x32x3)."""
from torch import nn

from .layers import ConvBNAct, GlobalAvgPool


class BasicBlock(nn.Module):
    """conv-bn-relu, conv-bn, plus a 1x1 strided conv shortcut when the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = ConvBNAct(cin, cout, 3, stride=stride, act="relu")
        self.conv2 = ConvBNAct(cout, cout, 3, act=None)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else None
        self.relu = nn.ReLU()

    def forward(self, x):
        s = x if self.shortcut is None else self.shortcut(x)
        return self.relu(self.conv2(self.conv1(x)) + s)


def resnet8(num_classes: int = 10) -> nn.Sequential:
    return nn.Sequential(
        ConvBNAct(3, 16, 3, act="relu"),
        BasicBlock(16, 16, 1),
        BasicBlock(16, 32, 2),
        BasicBlock(32, 64, 2),
        GlobalAvgPool("AVERAGE_POOL_2D"),
        nn.Linear(64, num_classes),
    )
