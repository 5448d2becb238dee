"""Deterministic pre-training of the small digits CNN used by bench/finetune_digits.py.

Data: sklearn's 8x8 handwritten digits (1797 real images shipped inside scikit-learn).
Pre-training task: digits 0-4 only (the 10-way head sees no 5-9). The fine-tuning task
(bench/finetune_digits.py) is digits 5-9: new classes the frozen model never predicts.
Fixed seeds, single thread, fixed split: the same ONNX bytes on every run.

    python bench/finetune_digits_pretrain.py -o build/finetune/digits_cnn.onnx
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import nn

SEED = 20240601


def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None]  # [N, 1, 8, 8] in [0, 1]
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(SEED)
    perm = rng.permutation(len(y))
    return x[perm], y[perm]


def splits():
    """pretrain (0-4, all of their samples but a test third), finetune train/test (5-9)."""
    x, y = digits()
    old, new = y < 5, y >= 5
    xo, yo = x[old], y[old]
    xn, yn = x[new], y[new]
    n_test = len(yn) // 3
    return {"pre_x": xo, "pre_y": yo, "ft_x": xn[n_test:], "ft_y": yn[n_test:], "test_x": xn[:n_test],
            "test_y": yn[:n_test]}


def make_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),  # 4x4
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def pretrain(epochs: int = 30) -> nn.Module:
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    s = splits()
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = torch.from_numpy(s["pre_x"]), torch.from_numpy(s["pre_y"])
    g = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def export_onnx(model: nn.Module, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(path), input_names=["input"], output_names=["output"],
                      opset_version=17, dynamo=False, do_constant_folding=False)
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--out", default="build/finetune/digits_cnn.onnx")
    a = ap.parse_args()
    m = pretrain()
    torch.save(m.state_dict(), Path(a.out).with_suffix(".pt"))
    export_onnx(m, Path(a.out))
    s = splits()
    with torch.no_grad():
        acc = (m(torch.from_numpy(s["pre_x"])).argmax(1).numpy() == s["pre_y"]).mean()
    print(f"pretrained on digits 0-4: train accuracy {acc:.3f}; wrote {a.out}")


if __name__ == "__main__":
    main()
