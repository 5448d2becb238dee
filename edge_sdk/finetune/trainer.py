"""edge_sdk.Trainer: runs a training plan with the native engine (native/src/train)."""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from ..errors import ArtifactError, RuntimeFailure
from ..runtime.session import _aligned, _lib
from .encode import pack, sections
from .errors import FinetuneError
from .kgraph import KGraph

_NP = {0: np.float32, 1: np.int8, 2: np.uint8, 3: np.int32, 4: np.uint32}


class Trainer:
    """Owns the model context, the training arena and the trainer context, like a board would.

    `step(x, y)` trains on one labelled sample (batch 1) and returns the loss before the update;
    `evaluate(xs, ys)` runs the forward with the current weights; `save(path)` writes an
    artifact with the updated weights that edge_sdk.Session (or this class) runs.
    """

    def __init__(self, plan, isa: str = "auto"):
        from .plan import Plan

        if isinstance(plan, Plan):
            data = plan.data
        elif isinstance(plan, (str, os.PathLike)):
            try:
                data = Path(plan).read_bytes()
            except OSError as e:
                raise ArtifactError(f"cannot read plan {plan}: {e.strerror}") from None
        else:
            data = bytes(plan)
        self.plan = plan if isinstance(plan, Plan) else None
        self.data = data
        ffi, lib = _lib()
        self._ffi, self._lib = ffi, lib
        self._data_raw, self._data = _aligned(ffi, len(data))
        ffi.memmove(self._data, data, len(data))
        self._model_raw, m = _aligned(ffi, lib.esdk_model_size(), 16)
        self._m = ffi.cast("esdk_model *", m)
        if lib.esdk_load(self._m, self._data, len(data)) != 0:
            raise ArtifactError(f"cannot load plan: {ffi.string(lib.esdk_last_error(self._m)).decode()}")
        if isa == "scalar":
            lib.esdk_set_isa(self._m, 1)
        self.arena_size = int(lib.esdk_arena_size(self._m))
        self._arena_raw, self._arena = _aligned(ffi, max(self.arena_size, 64))
        self._check_model(lib.esdk_set_arena(self._m, self._arena, self.arena_size))
        self._t_raw, t = _aligned(ffi, lib.esdk_trainer_size(), 16)
        self._t = ffi.cast("esdk_trainer *", t)
        st = lib.esdk_train_init(self._t, self._m)
        if st != 0:
            raise FinetuneError(f"cannot start training: {ffi.string(lib.esdk_train_error(self._t)).decode()}")
        info = ffi.new("esdk_tensor_info *")
        lib.esdk_input_info(self._m, 0, info)
        self.input_shape = tuple(info.dims[k] for k in range(info.rank))
        self.input_dtype = np.dtype(_NP[info.dtype])
        lib.esdk_output_info(self._m, 0, info)
        self.n_out = int(np.prod([info.dims[k] for k in range(info.rank)]))

    # ---- low level ------------------------------------------------------------------
    def _check_model(self, st: int) -> None:
        if st != 0:
            raise RuntimeFailure(f"native runtime: {self._ffi.string(self._lib.esdk_last_error(self._m)).decode()}")

    def _check(self, st: int) -> None:
        if st != 0:
            raise FinetuneError(f"training: {self._ffi.string(self._lib.esdk_train_error(self._t)).decode()}")

    def arena(self) -> np.ndarray:
        """The live arena (a view): saved activations, gradients and parameters, for tests."""
        return np.frombuffer(self._ffi.buffer(self._arena, self.arena_size), dtype=np.uint8)

    def _feed(self, x) -> None:
        a = np.asarray(x)
        if a.size != int(np.prod(self.input_shape)):
            raise FinetuneError(f"input has {a.size} values, the model takes shape {self.input_shape}")
        n = a.size * self.input_dtype.itemsize
        dst = np.frombuffer(self._ffi.buffer(self._lib.esdk_input_data(self._m, 0), n), dtype=self.input_dtype)
        dst[...] = a.reshape(-1).astype(self.input_dtype, copy=False)

    @property
    def steps_done(self) -> int:
        return int(self._lib.esdk_train_steps_done(self._t))

    # ---- training ---------------------------------------------------------------------
    def step(self, x, y) -> float:
        self._feed(x)
        loss = self._ffi.new("float *")
        if np.ndim(y) == 0:
            self._check(self._lib.esdk_train_step(self._t, int(y), self._ffi.NULL, loss))
        else:
            tgt = np.ascontiguousarray(np.asarray(y, np.float32).reshape(-1))
            self._check(self._lib.esdk_train_step(self._t, -1, self._ffi.cast("float *", tgt.ctypes.data), loss))
        return float(loss[0])

    def forward(self, x) -> np.ndarray:
        self._feed(x)
        self._check(self._lib.esdk_train_forward(self._t))
        out = self._ffi.buffer(self._lib.esdk_output_data(self._m, 0), 4 * self.n_out)
        return np.frombuffer(out, dtype=np.float32).copy()

    def evaluate(self, xs, ys) -> dict:
        correct, loss = 0, 0.0
        for x, y in zip(xs, ys):
            z = self.forward(x).astype(np.float64)
            correct += int(np.argmax(z) == int(y))
            zz = z - z.max()
            loss += float(np.log(np.exp(zz).sum()) - zz[int(y)])
        n = max(len(ys), 1)
        return {"accuracy": correct / n, "loss": loss / n, "samples": len(ys)}

    def params(self) -> bytes:
        size = self._ffi.new("size_t *")
        p = self._lib.esdk_train_params(self._t, size)
        return bytes(self._ffi.buffer(p, size[0]))

    def set_params(self, blob: bytes) -> None:
        self._check(self._lib.esdk_train_set_params(self._t, blob, len(blob)))

    # ---- saving -------------------------------------------------------------------------
    def updated_artifact(self) -> bytes:
        """The plan artifact with the updated weights and biases written into its constants."""
        kg = KGraph(self.data)
        hdr = struct.unpack_from("<16I", self._trnp(), 0)
        n_layers, layers_off = hdr[3], hdr[5]
        words = np.frombuffer(self._trnp(), dtype=np.uint32)
        arena = self.arena()
        secs = sections(self.data)
        c_off, c_size = secs["CNST"]
        cnst = bytearray(self.data[c_off:c_off + c_size])
        for li in range(n_layers):
            L = words[layers_off + 16 * li: layers_off + 16 * li + 16]
            w_t, b_t, M, K, nupd, chl, wsram, bsram = (int(L[1]), int(L[2]), int(L[3]), int(L[4]), int(L[5]),
                                                       int(L[6]), int(L[8]), int(L[9]))
            if bsram != 0xFFFFFFFF and b_t != 0xFFFFFFFF:
                off = kg.tensors[b_t].offset
                cnst[off:off + 4 * M] = arena[bsram:bsram + 4 * M].tobytes()
            for r in range(nupd):
                c = int(words[chl + r])
                off = kg.tensors[w_t].offset + c * K
                cnst[off:off + K] = arena[wsram + r * K:wsram + (r + 1) * K].tobytes()
        out = [(k.encode(), bytes(cnst) if k == "CNST" else self.data[o:o + s]) for k, (o, s) in secs.items()]
        return pack(out, struct.unpack_from("<Q", self.data, 24)[0])

    def inference_artifact(self) -> bytes:
        """The updated weights as a plain inference artifact: the compiler's own arena plan
        (forward only, graph inputs kept, no in-place) and arena size, no TRNP section."""
        from types import SimpleNamespace

        from ..artifact import layout as L
        from ..compile import memplan

        data = self.updated_artifact()
        kg = KGraph(data)
        tn = lambda t: f"t{t}"  # noqa: E731
        sizes = {tn(t.index): t.nbytes for t in kg.tensors if not t.is_const}
        kops = [SimpleNamespace(opcode=op.opcode, inputs=[tn(t) for t in op.inputs if t is not None],
                                outputs=[tn(t) for t in op.outputs]) for op in kg.ops]
        offsets, arena = memplan.plan(kops, sizes, [tn(t) for t in kg.art.inputs], [tn(t) for t in kg.art.outputs])
        out = []
        for k, (o, s) in sections(data).items():
            if k == "TRNP":
                continue
            body = bytearray(data[o:o + s])
            if k == "TENS":
                for t in kg.tensors:
                    if not t.is_const:
                        struct.pack_into("<Q", body, t.index * L.TENSOR.size + 32, offsets.get(tn(t.index), 0))
            out.append((k.encode(), bytes(body)))
        return pack(out, arena)

    def _trnp(self) -> bytes:
        o, s = sections(self.data)["TRNP"]
        return self.data[o:o + s]

    def save(self, path: str | Path, keep_plan: bool = False) -> Path:
        """Write the updated model: an inference artifact with the inference arena size
        (default), or with keep_plan=True the plan artifact (training arena, TRNP) that a
        Trainer can resume from."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(self.updated_artifact() if keep_plan else self.inference_artifact())
        return p
