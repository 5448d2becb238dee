"""edge_sdk.Session: runs an .esm artifact with the native runtime (cffi binding)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import ArtifactError, EdgeSdkError, RuntimeFailure

_NP = {0: np.float32, 1: np.int8, 2: np.uint8, 3: np.int32, 4: np.uint32}


def _lib():
    try:
        from ._esdk import ffi, lib
    except ImportError as e:  # the extension is built by `pip install`
        raise EdgeSdkError(f"the native runtime is not built ({e}); reinstall with 'pip install -e .'") from None
    return ffi, lib


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    scale: float
    zero_point: int


def _aligned(ffi, nbytes: int, alignment: int = 64):
    raw = ffi.new("char[]", nbytes + alignment)
    addr = int(ffi.cast("uintptr_t", raw))
    start = (-addr) % alignment
    return raw, ffi.cast("char *", raw) + start


class Session:
    """Loads an artifact (path or bytes), owns its arena, runs it.

    `run` takes {name: array} or a list in input order and returns {name: array} in
    graph output order.
    """

    def __init__(self, artifact: str | os.PathLike | bytes | bytearray | memoryview, threads: int = 1,
                 isa: str = "auto"):
        ffi, lib = _lib()
        self._ffi, self._lib = ffi, lib
        if isinstance(artifact, (str, os.PathLike)):
            try:
                with open(artifact, "rb") as f:
                    data = f.read()
            except OSError as e:
                raise ArtifactError(f"cannot read artifact {artifact}: {e.strerror}") from None
        else:
            data = bytes(artifact)
        # Keep the bytes 64-byte aligned, as flash or mmap would give them.
        self._data_raw, self._data = _aligned(ffi, max(len(data), 1))
        ffi.memmove(self._data, data, len(data))
        self._size = len(data)
        self._model_raw, self._model = _aligned(ffi, lib.esdk_model_size(), max(16, lib.esdk_model_align()))
        self._model = ffi.cast("esdk_model *", self._model)
        st = lib.esdk_load(self._model, self._data, len(data))
        if st != 0:
            raise ArtifactError(f"cannot load artifact: {self._err()}")
        if isa not in ("auto", "scalar"):
            raise EdgeSdkError(f"isa must be 'auto' or 'scalar', not {isa!r}")
        self._check(lib.esdk_set_isa(self._model, 1 if isa == "scalar" else 0))
        arena = lib.esdk_arena_size(self._model)
        self._arena_raw, self._arena = _aligned(ffi, max(arena, 64))
        self._check(lib.esdk_set_arena(self._model, self._arena, arena))
        if threads < 1:
            raise EdgeSdkError("threads must be >= 1")
        if hasattr(lib, "esdk_set_threads"):
            self._check(lib.esdk_set_threads(self._model, int(threads)))
        self.threads = threads
        self.inputs = [self._info(lib.esdk_input_info, i) for i in range(lib.esdk_num_inputs(self._model))]
        self.outputs = [self._info(lib.esdk_output_info, i) for i in range(lib.esdk_num_outputs(self._model))]
        # The arena is set once above, so the tensors' addresses are fixed: views made once
        # (making them on every run cost ~0.1 ms, ~2% of a sparse MobileNetV1 invoke)
        self._in_views = [self._view(lib.esdk_input_data(self._model, k), i) for k, i in enumerate(self.inputs)]
        self._out_views = [self._view(lib.esdk_output_data(self._model, k), i) for k, i in enumerate(self.outputs)]
        self._in_names = {i.name for i in self.inputs}

    @property
    def isa(self) -> str:
        return self._ffi.string(self._lib.esdk_isa_name(self._model)).decode()

    def _err(self) -> str:
        return self._ffi.string(self._lib.esdk_last_error(self._model)).decode("utf-8", "replace")

    def _check(self, status: int) -> None:
        if status != 0:
            raise RuntimeFailure(f"native runtime: {self._err()}")

    def _info(self, fn, i: int) -> TensorInfo:
        info = self._ffi.new("esdk_tensor_info *")
        self._check(fn(self._model, i, info))
        return TensorInfo(self._ffi.string(info.name).decode("utf-8", "replace"), np.dtype(_NP[info.dtype]),
                          tuple(info.dims[k] for k in range(info.rank)), float(info.scale), int(info.zero_point))

    def _view(self, ptr, info: TensorInfo) -> np.ndarray:
        n = int(np.prod(info.shape, dtype=np.int64)) * info.dtype.itemsize
        return np.frombuffer(self._ffi.buffer(ptr, n), dtype=info.dtype).reshape(info.shape)

    def run(self, feeds: Mapping[str, np.ndarray] | Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        if not isinstance(feeds, Mapping):
            feeds = list(feeds)
            if len(feeds) != len(self.inputs):
                raise EdgeSdkError(f"expected {len(self.inputs)} inputs, got {len(feeds)}")
            feeds = {info.name: a for info, a in zip(self.inputs, feeds)}
        if feeds.keys() != self._in_names:  # one set comparison on the common path (DS-CNN runs in ~60 us)
            missing = [i.name for i in self.inputs if i.name not in feeds]
            unknown = [k for k in feeds if k not in self._in_names]
            raise EdgeSdkError(f"inputs missing: {missing}, unknown: {unknown}; expected {[i.name for i in self.inputs]}")
        for info, view in zip(self.inputs, self._in_views):
            arr = feeds[info.name]
            if type(arr) is not np.ndarray:
                arr = np.asarray(arr)
            if arr.shape != info.shape:
                raise EdgeSdkError(f"input '{info.name}' has shape {tuple(arr.shape)}, expected {info.shape}")
            view[...] = arr  # casts like astype(view.dtype) would, without the temporary
        self._check(self._lib.esdk_invoke(self._model))
        return {info.name: view.copy() for info, view in zip(self.outputs, self._out_views)}

    def profile(self, feeds: Mapping[str, np.ndarray] | Sequence[np.ndarray], runs: int = 20,
                warmup: int = 2) -> list[tuple[int, str, str, float]]:
        """Per-op wall time: [(op index, opcode name, source IR node, median ms over runs)].

        Runs the model `warmup + runs` times through the host-only esdk_profile (each op timed
        with CLOCK_MONOTONIC inside one invoke). The sum of the medians is close to, but not
        exactly, the median of whole invokes."""
        if not hasattr(self._lib, "esdk_profile"):
            raise EdgeSdkError("this build of the native runtime has no profiler (ESDK_WITH_PROFILE)")
        from ..artifact.opcodes import BY_CODE

        self.run(feeds)  # writes the inputs (and checks them)
        n = int(self._lib.esdk_num_ops(self._model))
        buf = self._ffi.new("uint64_t[]", max(n, 1))
        samples = np.zeros((max(runs, 1), n), np.float64)
        for r in range(warmup + max(runs, 1)):
            self._check(self._lib.esdk_profile(self._model, buf, n))
            if r >= warmup:
                samples[r - warmup] = np.frombuffer(self._ffi.buffer(buf, 8 * n), np.uint64)
        med = np.median(samples, axis=0) / 1e6
        sources = self._op_sources()
        out = []
        for i in range(n):
            code = int(self._lib.esdk_op_code(self._model, i))
            name = BY_CODE[code].name if code in BY_CODE else str(code)
            out.append((i, name, sources[i] if i < len(sources) else "", float(med[i])))
        return out

    def _op_sources(self) -> list[str]:
        """IR node of each op, from the artifact's META (absent: empty strings)."""
        try:
            from ..artifact.reader import read_artifact

            data = bytes(self._ffi.buffer(self._data, self._size))
            meta = read_artifact(data, check_crc=False).meta or {}
            return [k.get("source", "") for k in meta.get("kernel_ops", [])]
        except Exception:  # META is optional; the profile stands without names
            return []

    def invoke(self) -> None:
        """Run on whatever the input buffers hold (benchmark loops)."""
        self._check(self._lib.esdk_invoke(self._model))
