"""Translate the zoo's PyTorch networks into TFLite flatbuffers.

Only the blocks of models/layers.py (and the two residual blocks) are
understood; that is enough for the zoo and keeps the translation exact.
BatchNorm is folded into the preceding conv/linear and activations are fused,
as the TFLite converter does.  One emission pass serves four variants:

* ``float``  -- float32 weights;
* ``fp16``   -- float16 weights and biases followed by DEQUANTIZE;
* ``sparse`` -- float32, FC and 1x1-conv weights stored with SparsityParameters
  and expanded by DENSIFY (zeros must already be in the weights: prune first);
* ``int8``   -- full integer: per-channel symmetric int8 weights, int32 biases,
  asymmetric int8 activations from calibration ranges.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .layers import ConvBNAct, GlobalAvgPool, LinearBNAct
from .mobilenet_v2 import InvertedResidual
from .resnet8 import BasicBlock
from .tflite_writer import TFLiteBuilder, sparse_encode

_ACT = {None: "NONE", "relu": "RELU", "relu6": "RELU6"}


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def fold_bn(weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.Module):
    """Return (weight, bias) with an eval-mode BatchNorm folded in, as numpy."""
    w = _np(weight)
    b = np.zeros(w.shape[0], np.float32) if bias is None else _np(bias)
    if bn is None:
        return w, b
    scale = _np(bn.weight) / np.sqrt(_np(bn.running_var) + bn.eps)
    w = w * scale.reshape(-1, *([1] * (w.ndim - 1)))
    b = (b - _np(bn.running_mean)) * scale + _np(bn.bias)
    return w.astype(np.float32), b.astype(np.float32)


def act_qparams(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric int8 (scale, zero_point) covering [lo, hi] and exactly 0.0."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = max(hi - lo, 1e-8) / 255.0
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return scale, zp


class Emitter:
    """Appends TFLite ops for NHWC tensors; tracks shapes and quantization."""

    def __init__(self, mode: str = "float", ranges: dict | None = None, block_shape=None):
        if mode not in ("float", "fp16", "sparse", "int8"):
            raise ValueError(f"unknown mode {mode}")
        if mode == "int8" and ranges is None:
            raise ValueError("int8 mode needs calibration ranges")
        self.mode, self.ranges, self.block_shape = mode, ranges, block_shape
        self.b = TFLiteBuilder()
        self.shapes: dict[int, list[int]] = {}
        self.qparams: dict[int, tuple[float, int]] = {}
        self.keys: dict[int, str] = {}  # activation tensor index -> calibration key
        self._n = 0

    # -- tensors -------------------------------------------------------

    def act(self, shape, like: int | None = None, key: str | None = None) -> int:
        """A new activation tensor; ``like`` reuses another tensor's qparams
        (TFLite requires it for pooling, reshape and pad)."""
        key = key or f"t{self._n}"
        self._n += 1
        if self.mode == "int8":
            q = self.qparams[like] if like is not None else act_qparams(*self.ranges[key])
            idx = self.b.add_tensor(key, shape, "int8", quant=q)
            self.qparams[idx] = q
        else:
            idx = self.b.add_tensor(key, shape, "float32")
        self.shapes[idx], self.keys[idx] = list(shape), key
        return idx

    def _const_float(self, name, data, sparse_ok=False) -> int:
        if self.mode == "fp16":
            h = self.b.add_const(name + "_fp16", data.astype(np.float16))
            out = self.b.add_tensor(name, data.shape, "float32")
            self.b.add_op("DEQUANTIZE", [h], [out])
            return out
        if self.mode == "sparse" and sparse_ok and np.any(data == 0):
            block = self.block_shape if data.ndim == 2 else None
            sp = sparse_encode(data, block)
            s = self.b.add_tensor(name + "_sparse", data.shape, "float32", sparsity=sp)
            out = self.b.add_tensor(name, data.shape, "float32")
            self.b.add_op("DENSIFY", [s], [out])
            return out
        return self.b.add_const(name, data.astype(np.float32))

    def _weights(self, name, w, b, x, qdim, sparse_ok=False) -> tuple[int, int]:
        """Weight and bias tensors for an op with input ``x``."""
        if self.mode != "int8":
            return self._const_float(name + "_w", w, sparse_ok), self._const_float(name + "_b", b)
        axes = tuple(i for i in range(w.ndim) if i != qdim)
        w_scale = np.maximum(np.abs(w).max(axis=axes), 1e-12) / 127.0
        shape = [1] * w.ndim
        shape[qdim] = -1
        wq = np.clip(np.round(w / w_scale.reshape(shape)), -127, 127).astype(np.int8)
        b_scale = self.qparams[x][0] * w_scale
        bq = np.clip(np.round(b / b_scale), -2**31, 2**31 - 1).astype(np.int32)
        wt = self.b.add_const(name + "_w", wq, "int8", quant=(w_scale, 0, qdim))
        bt = self.b.add_const(name + "_b", bq, "int32", quant=(b_scale, 0, 0))
        return wt, bt

    # -- ops -------------------------------------------------------------

    def conv(self, x, w, b, stride, padding, groups, act) -> int:
        """``w`` in torch layout [O, I/g, kh, kw]; ``padding`` symmetric (ph, pw)."""
        n, h, wd, c = self.shapes[x]
        o, _, kh, kw = w.shape
        sh, sw = stride
        ph, pw = padding
        pad = _tflite_padding((h, wd), (kh, kw), (sh, sw), (ph, pw))
        if pad == "EXPLICIT":
            paddings = self.b.add_const(f"pad{self._n}", np.array([[0, 0], [ph, ph], [pw, pw], [0, 0]], np.int32))
            y = self.act([n, h + 2 * ph, wd + 2 * pw, c], like=x if self.mode == "int8" else None)
            self.b.add_op("PAD", [x, paddings], [y])
            x, h, wd, pad = y, h + 2 * ph, wd + 2 * pw, "VALID"
        if pad == "SAME":
            oh, ow = math.ceil(h / sh), math.ceil(wd / sw)
        else:
            oh, ow = (h - kh) // sh + 1, (wd - kw) // sw + 1
        name = f"conv{self._n}"
        opts = {"padding": pad, "stride_h": sh, "stride_w": sw, "fused_activation_function": _ACT[act]}
        if groups == 1:
            wt, bt = self._weights(name, w.transpose(0, 2, 3, 1).copy(), b, x, 0, sparse_ok=(kh, kw) == (1, 1))
            op = "CONV_2D"
        elif groups == c:
            wt, bt = self._weights(name, w.transpose(1, 2, 3, 0).copy(), b, x, 3)
            op, opts["depth_multiplier"] = "DEPTHWISE_CONV_2D", o // c
        else:
            raise NotImplementedError("grouped convolution other than depthwise")
        y = self.act([n, oh, ow, o])
        self.b.add_op(op, [x, wt, bt], [y], opts)
        return y

    def fc(self, x, w, b, act) -> int:
        name = f"fc{self._n}"
        wt, bt = self._weights(name, w, b, x, 0, sparse_ok=True)
        y = self.act([self.shapes[x][0], w.shape[0]])
        self.b.add_op("FULLY_CONNECTED", [x, wt, bt], [y], {"fused_activation_function": _ACT[act]})
        return y

    def add(self, a, c, act=None) -> int:
        y = self.act(self.shapes[a])
        self.b.add_op("ADD", [a, c], [y], {"fused_activation_function": _ACT[act]})
        return y

    def global_pool(self, x, op) -> int:
        n, h, w, c = self.shapes[x]
        if op == "MEAN":
            axes = self.b.add_const(f"axes{self._n}", np.array([1, 2], np.int32))
            y = self.act([n, c])
            self.b.add_op("MEAN", [x, axes], [y], {"keep_dims": False})
            return y
        like = x if self.mode == "int8" else None
        p = self.act([n, 1, 1, c], like=like)
        self.b.add_op("AVERAGE_POOL_2D", [x], [p], {"filter_height": h, "filter_width": w, "padding": "VALID"})
        shape = self.b.add_const(f"shape{self._n}", np.array([n, c], np.int32))
        y = self.act([n, c], like=like)
        self.b.add_op("RESHAPE", [p, shape], [y], {"new_shape": [n, c]})
        return y


def _tflite_padding(size, kernel, stride, pad) -> str:
    """Express torch's symmetric padding as VALID, SAME or an explicit PAD."""
    if pad == (0, 0):
        return "VALID"
    for n, k, s, p in zip(size, kernel, stride, pad):
        out = (n + 2 * p - k) // s + 1
        same_out = math.ceil(n / s)
        total = max((same_out - 1) * s + k - n, 0)
        if out != same_out or total // 2 != p or total - total // 2 != p:
            return "EXPLICIT"
    return "SAME"


def emit(e: Emitter, m: nn.Module, x: int) -> int:
    if isinstance(m, ConvBNAct):
        conv, bn = m[0], m[1]
        w, b = fold_bn(conv.weight, conv.bias, bn)
        return e.conv(x, w, b, conv.stride, conv.padding, conv.groups, m.act)
    if isinstance(m, LinearBNAct):
        w, b = fold_bn(m[0].weight, m[0].bias, m[1])
        return e.fc(x, w, b, m.act)
    if isinstance(m, nn.Linear):
        return e.fc(x, _np(m.weight), _np(m.bias), None)
    if isinstance(m, nn.Conv2d):
        w, b = fold_bn(m.weight, m.bias, None)
        return e.conv(x, w, b, m.stride, m.padding, m.groups, None)
    if isinstance(m, InvertedResidual):
        y = emit(e, m.block, x)
        return e.add(x, y) if m.residual else y
    if isinstance(m, BasicBlock):
        y = emit(e, m.conv2, emit(e, m.conv1, x))
        s = x if m.shortcut is None else emit(e, m.shortcut, x)
        return e.add(y, s, act="relu")
    if isinstance(m, GlobalAvgPool):
        return e.global_pool(x, m.op)
    if isinstance(m, nn.Sequential):
        for child in m:
            x = emit(e, child, x)
        return x
    raise NotImplementedError(f"no TFLite lowering for {type(m).__name__}")


def nhwc_shape(shape) -> list[int]:
    shape = list(shape)
    return [shape[0], *shape[2:], shape[1]] if len(shape) == 4 else shape


def to_nhwc(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x


def convert(model: nn.Module, input_shape, mode="float", ranges=None, io="int8",
            block_shape=None) -> tuple[bytes, Emitter]:
    """TFLite bytes of ``model`` for an NCHW (or [N, F]) ``input_shape``.

    For int8, ``io`` picks int8 model inputs/outputs ("int8", as MLPerf Tiny
    ships them) or float ones wrapped in QUANTIZE/DEQUANTIZE ("float").
    """
    e = Emitter(mode, ranges, block_shape)
    shape = nhwc_shape(input_shape)
    if mode == "int8" and io == "float":
        x_in = e.b.add_tensor("input", shape, "float32")
        x = e.act(shape, key="input")
        e.b.tensors[x].name = "input_int8"
        e.b.add_op("QUANTIZE", [x_in], [x])
    else:
        x_in = x = e.act(shape, key="input")
    y = emit(e, model, x)
    if mode == "int8" and io == "float":
        out = e.b.add_tensor("output", e.shapes[y], "float32")
        e.b.add_op("DEQUANTIZE", [y], [out])
    else:
        out = y
        e.b.tensors[y].name = "output"
    e.b.set_io([x_in], [out])
    return e.b.to_bytes(), e


def calibrate(model: nn.Module, input_shape, inputs: np.ndarray) -> dict[str, tuple[float, float]]:
    """Min/max of every activation of the float TFLite graph over ``inputs``
    (NCHW or [N, F] batch); keys are the emitter's activation keys."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    data, e = convert(model, input_shape, "float")
    # Without the default XNNPACK delegate every intermediate tensor is kept.
    it = Interpreter(model_content=data, experimental_preserve_all_tensors=True,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    idx = it.get_input_details()[0]["index"]
    ranges: dict[str, tuple[float, float]] = {}
    for sample in np.asarray(inputs, np.float32):
        it.set_tensor(idx, to_nhwc(sample[None]))
        it.invoke()
        for t, key in e.keys.items():
            v = it.get_tensor(t)
            lo, hi = float(v.min()), float(v.max())
            if key in ranges:
                lo, hi = min(lo, ranges[key][0]), max(hi, ranges[key][1])
            ranges[key] = (lo, hi)
    return ranges


def prune(model: nn.Module, sparsity: float) -> nn.Module:
    """Zero the smallest-magnitude weights of every Linear and 1x1 conv, per layer."""
    with torch.no_grad():
        for m in model.modules():
            eligible = isinstance(m, nn.Linear) or (
                isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.groups == 1)
            if eligible:
                k = int(round(sparsity * m.weight.numel()))
                if k:
                    thresh = m.weight.abs().flatten().kthvalue(k).values
                    m.weight.mul_((m.weight.abs() > thresh).to(m.weight.dtype))
    return model
