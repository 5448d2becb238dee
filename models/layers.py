"""Building blocks shared by the zoo architectures.

The blocks are deliberately few (conv-bn-act, linear-bn-act, residual add,
global pooling) so that tflite_export can translate each one directly.
"""
from __future__ import annotations

import torch
from torch import nn

ACTS = {None: nn.Identity, "relu": nn.ReLU, "relu6": nn.ReLU6}


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) -> BatchNorm2d -> activation; padding is symmetric."""

    def __init__(self, cin, cout, kernel, stride=1, padding=None, groups=1, act="relu6"):
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        if padding is None:
            padding = (kh // 2, kw // 2)
        super().__init__(
            nn.Conv2d(cin, cout, (kh, kw), stride, padding, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            ACTS[act](),
        )
        self.act = act


class LinearBNAct(nn.Sequential):
    """Linear -> BatchNorm1d -> activation (the MLPerf Tiny autoencoder layer)."""

    def __init__(self, cin, cout, act="relu"):
        super().__init__(nn.Linear(cin, cout), nn.BatchNorm1d(cout), ACTS[act]())
        self.act = act


class GlobalAvgPool(nn.Module):
    """Average over H, W and flatten to [N, C]; ``op`` picks the TFLite lowering."""

    def __init__(self, op="AVERAGE_POOL_2D"):
        super().__init__()
        self.op = op

    def forward(self, x):
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


def init_deterministic(model: nn.Module, input_shape, seed: int, batch: int | None = None) -> nn.Module:
    """Seeded weights whose activations stay O(1) through any depth.

    Conv/linear weights are He-normal.  BatchNorm statistics are then set from
    the actual batch statistics of a seeded random input (with noise, so they
    are not an identity) and the affine parameters are random, which mimics a
    trained network: folding the BN into the conv is exercised and every layer
    sees roughly unit-variance inputs.

    Vector inputs need a large batch: with a few samples some post-ReLU
    features have near-zero variance and the BN would blow them up.
    """
    if batch is None:
        batch = 4 if len(input_shape) == 4 else 256
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
                c = m.num_features
                # Positive shifts keep most units in ReLU's linear range; with
                # zero-mean shifts a random deep net is chaotic and amplifies
                # int8 rounding noise far beyond what trained networks do.
                m.weight.copy_(torch.rand(c, generator=g) * 0.5 + 0.5)
                m.bias.copy_(torch.rand(c, generator=g) * 0.5 + 0.25)

        in_var: dict[nn.Module, torch.Tensor] = {}

        def record_input(layer, inputs):
            x = inputs[0]
            in_var[layer] = x.var([0, 2, 3] if x.dim() == 4 else [0])

        def set_stats(bn, inputs):
            x = inputs[0]
            dims = [0, 2, 3] if x.dim() == 4 else [0]
            mean, var = x.mean(dims), x.var(dims)
            c = bn.num_features
            bn.running_mean.copy_(mean + 0.1 * var.sqrt() * torch.randn(c, generator=g))
            layer = producer.get(bn)
            if layer is not None:
                # Never divide by less than white input noise would give: a
                # direction the few calibration samples barely excite must not
                # get a huge gain.
                var = torch.maximum(var, white_noise_var(layer, in_var[layer]))
            var = torch.maximum(var, 0.05 * var.median() + 1e-6)  # dead channels stay O(1)
            bn.running_var.copy_(var * (0.7 + 0.6 * torch.rand(c, generator=g)))

        producer = {blk[1]: blk[0] for blk in model.modules()
                    if isinstance(blk, ConvBNAct | LinearBNAct)}
        hooks = [m.register_forward_pre_hook(set_stats) for m in model.modules()
                 if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d)]
        hooks += [m.register_forward_pre_hook(record_input) for m in producer.values()]
        model.eval()
        model(torch.randn((batch, *input_shape[1:]), generator=g))
        for h in hooks:
            h.remove()
    return model


def white_noise_var(layer: nn.Module, in_var: torch.Tensor) -> torch.Tensor:
    """Per-output-channel variance of ``layer`` fed independent noise with the
    given per-input-channel variances."""
    w2 = layer.weight.detach() ** 2
    if isinstance(layer, nn.Linear):
        return w2 @ in_var
    o, cin_g = w2.shape[:2]
    groups = layer.groups
    v = in_var.reshape(groups, 1, cin_g, 1)
    per_tap = w2.reshape(groups, o // groups, cin_g, -1) * v
    return per_tap.sum(dim=(2, 3)).reshape(o)
