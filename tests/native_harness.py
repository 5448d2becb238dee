"""Build one-op (or few-op) artifacts with ArtifactBuilder and run them through the native
runtime via cffi. Shared by the native kernel and loader tests."""
from __future__ import annotations

import numpy as np

from edge_sdk.artifact.writer import GRAPH_INPUT, GRAPH_OUTPUT, ArtifactBuilder

try:
    from edge_sdk.runtime._esdk import ffi, lib
except ImportError:  # pragma: no cover - build missing
    ffi = lib = None

ISAS = {"scalar": 1, "best": 0}
try:  # the AVX2 tier is testable on AVX-512 hosts through isa level 2
    if " avx2 " in open("/proc/cpuinfo").read().replace("\n", " "):
        ISAS["avx2"] = 2
except OSError:
    pass


def aligned(n: int, align: int = 64):
    """A cffi char buffer of n bytes at the given alignment; returns (owner, pointer)."""
    owner = ffi.new("char[]", n + align)
    addr = int(ffi.cast("uintptr_t", owner))
    return owner, owner + ((-addr) % align)


class Graph:
    def __init__(self) -> None:
        self.b = ArtifactBuilder()
        self.off = 0
        self.inputs: list[tuple[int, np.ndarray]] = []
        self.outputs: list[tuple[int, str, tuple]] = []

    def act(self, name, dtype, shape, flags=0, scale=None, zp=0) -> int:
        n = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        idx = self.b.activation(name, dtype, tuple(shape), offset=self.off, flags=flags, scale=scale, zero_point=zp)
        self.off += (n + 63) // 64 * 64
        return idx

    def input(self, name, arr, scale=None, zp=0) -> int:
        arr = np.ascontiguousarray(arr)
        idx = self.act(name, str(arr.dtype), arr.shape, GRAPH_INPUT, scale, zp)
        self.inputs.append((idx, arr))
        return idx

    def const(self, name, arr, scale=None, zp=0) -> int:
        return self.b.constant(name, np.ascontiguousarray(arr), scale=scale, zero_point=zp)

    def output(self, name, dtype, shape, scale=None, zp=0) -> int:
        idx = self.act(name, dtype, shape, GRAPH_OUTPUT, scale, zp)
        self.outputs.append((idx, dtype, tuple(shape)))
        return idx

    def op(self, name, inputs, outputs, extra=(), **params) -> None:
        self.b.op(name, inputs=inputs, outputs=outputs, params=params, extra=list(extra))

    def to_bytes(self) -> bytes:
        self.b.set_io(inputs=[i for i, _ in self.inputs], outputs=[o for o, _, _ in self.outputs])
        return self.b.to_bytes()

    def run(self, isa: str = "scalar", threads: int = 1) -> list[np.ndarray]:
        return run_artifact(self.to_bytes(), [a for _, a in self.inputs], isa, threads,
                            [(d, s) for _, d, s in self.outputs])


class Loaded:
    """A model loaded from bytes, keeping every buffer alive."""

    def __init__(self, data: bytes, skip_crc: int = 0) -> None:
        self._dbuf, self.dptr = aligned(max(len(data), 1))
        ffi.memmove(self.dptr, data, len(data))
        self._mbuf, mptr = aligned(lib.esdk_model_size(), 16)
        self.m = ffi.cast("esdk_model *", mptr)
        self.status = lib.esdk_load_ex(self.m, self.dptr, len(data), skip_crc)
        self.error = ffi.string(lib.esdk_last_error(self.m)).decode()

    def bind_arena(self) -> int:
        n = lib.esdk_arena_size(self.m)
        self._abuf, aptr = aligned(max(n, 64))
        return lib.esdk_set_arena(self.m, aptr, n)


def run_artifact(data: bytes, inputs, isa="scalar", threads=1, out_specs=None) -> list[np.ndarray]:
    ld = Loaded(data)
    assert ld.status == lib.ESDK_OK, ld.error
    assert lib.esdk_set_isa(ld.m, ISAS[isa]) == lib.ESDK_OK
    if threads != 1:
        assert lib.esdk_set_threads(ld.m, threads) == lib.ESDK_OK
    assert ld.bind_arena() == lib.ESDK_OK
    for i, arr in enumerate(inputs):
        raw = np.ascontiguousarray(arr).tobytes()
        ffi.memmove(lib.esdk_input_data(ld.m, i), raw, len(raw))
    st = lib.esdk_invoke(ld.m)
    assert st == lib.ESDK_OK, ffi.string(lib.esdk_last_error(ld.m)).decode()
    outs = []
    info = ffi.new("esdk_tensor_info *")
    for i in range(lib.esdk_num_outputs(ld.m)):
        assert lib.esdk_output_info(ld.m, i, info) == lib.ESDK_OK
        dtype = {0: np.float32, 1: np.int8, 2: np.uint8, 3: np.int32, 4: np.uint32}[info.dtype]
        shape = tuple(info.dims[k] for k in range(info.rank))
        buf = bytes(ffi.buffer(lib.esdk_output_data(ld.m, i), info.nbytes))
        outs.append(np.frombuffer(buf, dtype=dtype).reshape(shape).copy())
    return outs
