"""The training firmware on emulated cortex-m7 (qemu mps2-an500): same weights as the host
Trainer after the same samples, measured SRAM, and weights that survive power cuts mid-save."""
import random
import shutil

import numpy as np
import pytest

from tests.test_finetune import make, tiny_graph  # noqa: F401  (same tiny model and data)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]


def board_steps_like_host(p, xs, ys, steps, tmp_path):
    """Train the plan `steps` samples on the emulated board and on the host Trainer: the board's
    weights must equal the host's bit for bit, and differ from the start."""
    from edge_sdk.finetune import Trainer
    from edge_sdk.finetune.board import Board

    p.save(tmp_path / "plan.esm")
    tr = Trainer(p)
    start = tr.params()
    with Board(tmp_path / "plan.esm", tmp_path / "flash.img") as b:
        for i in range(steps):
            b.train(xs[i], ys[i])
            tr.step(xs[i], ys[i])
        assert b.params() == tr.params() != start


@pytest.fixture(scope="module")
def data():
    r = np.random.default_rng(1)
    return r.standard_normal((24, 1, 2, 8, 8)).astype(np.float32), r.integers(0, 5, 24)


@pytest.fixture(scope="module")
def setup(data, tmp_path_factory):
    from edge_sdk.finetune.board import build_firmware

    build_firmware()
    d = tmp_path_factory.mktemp("board")
    p = make("full", data, lr=0.2)
    p.save(d / "plan.esm")
    return p, d


def test_board_matches_host_bit_exact_and_fits(setup, data):
    from edge_sdk.finetune import Trainer
    from edge_sdk.finetune.board import Board

    p, d = setup
    xs, ys = data
    tr = Trainer(p)
    with Board(d / "plan.esm", d / "flash_a.img") as b:
        for i in range(6):
            r = b.train(xs[i], ys[i])
            assert abs(r["loss"] - tr.step(xs[i], ys[i])) < 1e-3
        assert b.params() == tr.params()
        assert [b.predict(x) for x in xs[6:10]] == [int(np.argmax(tr.forward(x))) for x in xs[6:10]]
        m = b.mem()
    assert m["peak"] <= 256 * 1024 and m["stack-hwm"] < m["stack-size"]


@pytest.mark.parametrize("backward", ["int8", "int8-stochastic"])
def test_board_int8_backward_matches_host(backward, data, tmp_path):
    from edge_sdk.finetune.board import build_firmware

    build_firmware()
    p = make("full", data, lr=0.2, backward=backward)
    board_steps_like_host(p, *data, 6, tmp_path)


def test_board_trains_through_pools_like_host(data, tmp_path):
    from edge_sdk.export import export
    from edge_sdk.finetune import plan
    from edge_sdk.finetune.board import build_firmware
    from tests.test_finetune_pool import pool_graph

    build_firmware()
    xs, ys = data
    art = export(pool_graph(), quantize="int8", calibration=[{"input": x} for x in xs[:8]], validate=False)
    p = plan(art, target="cortex-m7", update="full", lr=0.2, calibration=(xs[:8], ys[:8]), backward="int8")
    board_steps_like_host(p, xs, ys, 4, tmp_path)


def test_power_cut_during_save_keeps_previous_weights(setup, data):
    from edge_sdk.finetune.board import Board

    p, d = setup
    xs, ys = data
    flash = d / "flash_b.img"
    with Board(d / "plan.esm", flash) as b:
        b.train(xs[0], ys[0])
        assert b.save() == 1
        good = b.params()
        b.train(xs[1], ys[1])
        assert b.save() == 2
        good2 = b.params()
    total = len(good) + 36  # bytes a save programs: 16 erased + payload + 16 header + 4 magic
    rng = random.Random(7)
    expected, seq = good2, 2
    for cut in sorted(rng.sample(range(total + 1), 6)) + [0, total]:
        with Board(d / "plan.esm", flash) as b:
            assert b.params() == expected, f"after a cut at byte {cut - 1}: weights not the last good ones"
            assert f"m-wslot-restored-seq-{seq}" in b.boot_lines
            b.train(xs[2 + cut % 10], ys[2 + cut % 10])
            new = b.params()
            b.cmd(f"powercut {cut}")
            if cut >= total:  # the whole record fits in the budget: the save completes
                assert b.save() == seq + 1
                expected, seq = new, seq + 1
            else:
                b.send_cmd_nowait("save")
                import time

                time.sleep(0.3)  # the firmware is spinning where the power went
        # Board.__exit__ killed qemu: the file holds exactly the bytes written before the cut
