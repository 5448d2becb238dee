"""A bounded fuzz run of the C artifact loader (libFuzzer + ASan/UBSan when clang has it).

Seeds: real exported artifacts (fp32 dense, sparse, int8) plus the native tests' sample graph.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import edge_sdk

ROOT = Path(__file__).resolve().parents[1]
FUZZ_SECONDS = int(os.environ.get("EDGE_SDK_FUZZ_SECONDS", "60"))


@pytest.mark.slow
def test_fuzz_loader_bounded(zoo_model, tmp_path):
    if not (shutil.which("clang") or shutil.which("gcc")):
        pytest.skip("no C compiler to build the fuzz target")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    src = zoo_model("ds_cnn")
    for name, kw in {"dense": {}, "sparse": dict(sparsity=0.8, pattern="block:4x1"),
                     "int8": dict(quantize="int8", calibration=None)}.items():
        edge_sdk.export(src, validate=False, **kw).save(corpus / f"ds_cnn_{name}.esm")
    p = subprocess.run(["bash", str(ROOT / "native/fuzz/run_fuzz.sh"), str(FUZZ_SECONDS)], cwd=ROOT,
                       env=dict(os.environ, FUZZ_WORK=str(tmp_path)), capture_output=True, text=True,
                       timeout=FUZZ_SECONDS + 600)
    tail = (p.stdout + p.stderr)[-3000:]
    assert p.returncode == 0, tail
    assert "ERROR" not in p.stderr and "runtime error" not in p.stderr, tail
