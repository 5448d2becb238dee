"""Runs inside the emulated arm64 python3.11 (see aarch64_python.sh): imports the staged
edge_sdk runtime (cffi extension built for aarch64) and runs an artifact.

Only edge_sdk.runtime is imported: the package's top level also pulls in the exporter
(onnx, torch-free but heavy), which a board that only runs artifacts does not need, so the
package object is created here without executing edge_sdk/__init__.py.

usage: aarch64_session_run.py STAGE [ART.esm IN.npz OUT.npz]
"""
import json
import platform
import sys
import types

stage = sys.argv[1]
pkg = types.ModuleType("edge_sdk")
pkg.__path__ = [f"{stage}/edge_sdk"]
sys.modules["edge_sdk"] = pkg

import numpy as np  # noqa: E402

from edge_sdk.runtime import _esdk  # noqa: E402  (the cross-built cffi extension)
from edge_sdk.runtime.session import Session  # noqa: E402

info = {"machine": platform.machine(), "python": platform.python_version(), "numpy": np.__version__,
        "extension": _esdk.__file__.rsplit("/", 1)[-1]}
if len(sys.argv) == 5:
    art, inp, out = sys.argv[2:]
    sess = Session(art)
    with np.load(inp) as z:
        feeds = {k: z[k] for k in z.files}
    outs = sess.run(feeds)
    np.savez(out, **outs)
    info.update(isa=sess.isa, outputs=sorted(outs))
elif len(sys.argv) != 2:
    sys.exit("usage: aarch64_session_run.py STAGE [ART.esm IN.npz OUT.npz]")
else:
    ffi, lib = _esdk.ffi, _esdk.lib
    m = ffi.new("char[]", lib.esdk_model_size())
    info["isa"] = ffi.string(lib.esdk_isa_name(ffi.cast("esdk_model *", m))).decode()
print(json.dumps(info))
