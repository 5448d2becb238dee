"""The edge-sdk command as a user runs it: real subprocesses, exit codes, one-line errors."""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edge_sdk.artifact.writer import fix_crcs

CMDS = ["export", "inspect", "run", "bench", "build", "ops"]


def cli(*args, check_rc=None):
    env = dict(os.environ, COLUMNS="200")
    env.pop("EDGE_SDK_DEBUG", None)
    p = subprocess.run([sys.executable, "-m", "edge_sdk.cli.main", *map(str, args)], capture_output=True, text=True,
                       env=env, timeout=600)
    if check_rc is not None:
        assert p.returncode == check_rc, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return p


def one_line_error(p):
    assert p.returncode == 1, (p.returncode, p.stderr)
    lines = [l for l in p.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    return lines[0]


@pytest.fixture(scope="module")
def exported(zoo_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    src = zoo_model("ds_cnn")
    out = d / "m.esm"
    p = cli("export", src, "-o", out, "--sparsity", "0.8", "--pattern", "block:4x1", "--report", d / "r.json",
            check_rc=0)
    return src, out, d, p


@pytest.mark.parametrize("cmd", CMDS)
def test_help_on_every_command(cmd):
    p = cli(cmd, "--help", check_rc=0)
    assert "Usage" in p.stdout


@pytest.mark.parametrize("args", [("generate", "m.esmoe", "--no-such-option"), ("export",), ("run", "m.esm", "--threads", "x")])
def test_usage_errors_are_one_line(args):
    """An unknown option, a missing argument or a bad value: click's usage error, on one line with
    exit code 2, never an internal error (typer >= 0.16 raises its own copy of click's exceptions)."""
    p = cli(*args)
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = [l for l in p.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "internal error" not in p.stderr, p.stderr


def test_export_prints_layer_table(exported):
    src, out, d, p = exported
    assert out.exists()
    for word in ("kernel", "sparsity", "MACs", "peak arena", "onnxruntime", "max rel"):
        assert word in p.stdout, word
    rep = json.loads((d / "r.json").read_text())
    assert rep["arena_bytes"] > 0 and rep["layers"]


def test_inspect_shows_graph_and_plan(exported):
    _, out, _, _ = exported
    p = cli("inspect", out, check_rc=0)
    for word in ("sections", "graph", "memory plan", "kernel choice"):
        assert word in p.stdout, word
    j = json.loads(cli("inspect", out, "--json", check_rc=0).stdout)
    assert j["arena_bytes"] > 0 and j["ops"] and j["layers"]


def test_run_writes_outputs_in_graph_order(exported, tmp_path):
    import edge_sdk

    _, out, _, _ = exported
    sess = edge_sdk.Session(out)
    x = np.random.default_rng(0).standard_normal(sess.inputs[0].shape).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    cli("run", out, "--input", f"{sess.inputs[0].name}=" + str(tmp_path / "x.npy"), "-o", tmp_path / "o.npz",
        check_rc=0)
    got = np.load(tmp_path / "o.npz")
    assert list(got.files) == [o.name for o in sess.outputs]
    np.testing.assert_array_equal(got[sess.outputs[0].name], sess.run([x])[sess.outputs[0].name])


def test_bench_compares_with_onnxruntime(exported):
    src, out, _, _ = exported
    j = json.loads(cli("bench", out, "--runs", "5", "--warmup", "1", "--compare", src, "--json", check_rc=0).stdout)
    names = [t["name"] for t in j["timings"]]
    assert names[0] == "edge-sdk" and any(n.startswith("onnxruntime") for n in names)
    assert all(t["runs"] == 5 and t["min_ms"] <= t["median_ms"] <= t["max_ms"] for t in j["timings"])


def test_ops_lists_both_frontends():
    p = cli("ops", check_rc=0)
    assert "onnx" in p.stdout and "tflite" in p.stdout and "Conv" in p.stdout


def test_missing_model_is_one_line(tmp_path):
    line = one_line_error(cli("export", tmp_path / "nope.onnx", "-o", tmp_path / "x.esm"))
    assert "nope.onnx" in line


def test_unsupported_op_names_op_node_and_model(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    g = helper.make_graph([helper.make_node("Hardmax", ["x"], ["y"], name="the_node")], "g", [x], [y])
    path = tmp_path / "odd.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
    line = one_line_error(cli("export", path, "-o", tmp_path / "x.esm"))
    assert "Hardmax" in line and "the_node" in line and "odd.onnx" in line and "edge-sdk ops" in line


def test_garbage_model_is_one_line(tmp_path):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(os.urandom(3000))
    one_line_error(cli("export", path, "-o", tmp_path / "x.esm"))


def test_bad_options_are_one_line(zoo_model, tmp_path):
    src = zoo_model("ds_cnn")
    one_line_error(cli("export", src, "-o", tmp_path / "x.esm", "--pattern", "block:3"))
    one_line_error(cli("export", src, "-o", tmp_path / "x.esm", "--sparsity", "1.5"))
    one_line_error(cli("export", src, "-o", tmp_path / "x.esm", "--input-shape", "input=a,b"))


@pytest.mark.parametrize("how", ["truncate", "flip", "flip-fixed-crc", "empty"])
def test_corrupt_artifact_is_one_line(exported, tmp_path, how):
    _, out, _, _ = exported
    data = bytearray(out.read_bytes())
    if how == "truncate":
        data = data[: len(data) // 2]
    elif how == "empty":
        data = bytearray()
    else:
        rng = np.random.default_rng(1)
        for pos in rng.integers(64, len(data), 20):
            data[pos] ^= 0xFF
        if how == "flip-fixed-crc":
            data = bytearray(fix_crcs(bytes(data)))
    bad = tmp_path / "bad.esm"
    bad.write_bytes(bytes(data))
    for cmd in (["inspect", bad], ["run", bad, "--input", "x=y.npy"], ["bench", bad, "--runs", "1"]):
        p = cli(*cmd)
        # a flipped byte inside constant data can still be a valid file: then it must run, not crash
        if p.returncode == 0:
            assert how == "flip-fixed-crc"
        else:
            one_line_error(p)


def test_bench_compares_an_onnx_export_with_the_tflite_model(zoo_model, tmp_path):
    """The README's main job: an artifact from the ONNX model, timed against both source formats."""
    out = tmp_path / "m.esm"
    cli("export", zoo_model("ds_cnn", "onnx"), "-o", out, check_rc=0)
    j = json.loads(cli("bench", out, "--runs", "3", "--warmup", "1", "--compare", zoo_model("ds_cnn", "onnx"),
                       "--compare", zoo_model("ds_cnn", "tflite"), "--json", check_rc=0).stdout)
    names = [t["name"] for t in j["timings"]]
    assert any(n.startswith("onnxruntime") for n in names) and any(n.startswith("litert") for n in names), names
