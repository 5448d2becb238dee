"""cffi builder for the native runtime: compiles every .c file under native/src into
edge_sdk.runtime._esdk. No -march flags: the SIMD kernels carry target attributes and are
chosen at load time by CPU detection, so the module runs on any x86-64 (or other) host."""
from __future__ import annotations

import re
from pathlib import Path

from cffi import FFI

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "native"
HEADER = NATIVE / "include" / "edge_sdk.h"
PROFILE_HEADER = NATIVE / "include" / "edge_sdk_profile.h"  # host-only API (ESDK_WITH_PROFILE)
TRAIN_HEADER = NATIVE / "include" / "edge_sdk_train.h"  # on-device training (edge_sdk.finetune)
MOE_HEADER = NATIVE / "include" / "edge_sdk_moe.h"  # mixture-of-experts decoder (edge_sdk.moe)


def _cdef_from_header(text: str) -> str:
    """The public header minus preprocessor lines and extern "C" wrapping."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    out = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#") or s in ('extern "C" {', "}") or not s:
            continue
        out.append(line)
    body = "\n".join(out).replace("ESDK_MAX_RANK", "6")
    return body


def _sources() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (NATIVE / "src").rglob("*.c"))


ffibuilder = FFI()
ffibuilder.cdef(_cdef_from_header(HEADER.read_text()) + "\n" + _cdef_from_header(PROFILE_HEADER.read_text())
               + "\n" + _cdef_from_header(TRAIN_HEADER.read_text())
               + "\n" + _cdef_from_header(MOE_HEADER.read_text())
               # the esdk_moe_token_fn that edge_sdk.moe.generator passes to esdk_moe_set_token_callback
               + '\nextern "Python" int32_t esdk_py_moe_token(void *, int32_t);\n')
ffibuilder.set_source(
    "edge_sdk.runtime._esdk",
    '#include "edge_sdk.h"\n#include "edge_sdk_profile.h"\n#include "edge_sdk_train.h"\n#include "edge_sdk_moe.h"\n',
    sources=_sources(),
    include_dirs=[str(NATIVE / "include")],
    extra_compile_args=["-O3", "-std=c99", "-DESDK_WITH_PTHREADS", "-DESDK_WITH_PROFILE", "-fno-strict-aliasing"],
    libraries=["m", "pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
