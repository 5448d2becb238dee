"""MLPerf Tiny DUT protocol conformance of the bench firmware (hil/firmware), run on the
cortex-m4 emulated board (qemu mps2-an386) over a TCP serial socket, plus the host client
(edge_sdk/hil/dut.py) against a scripted fake port."""
from __future__ import annotations

import re

import numpy as np
import pytest

from tests.mcu_helpers import artifact, firmware, require_tools


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    require_tools()
    from edge_sdk.build import mcu
    from edge_sdk.compile.target import load_target

    art = artifact(tmp_path_factory.mktemp("dut"), "ds_cnn", "int8")
    b = mcu.board(load_target("cortex-m4"), art, firmware("cortex-m4"))
    dut = b.__enter__()
    dut.artifact = art
    dut.boot_lines = b.banner
    yield dut
    b.close()


def test_boot_banner(board):
    assert board.boot_lines == ["m-timestamp-mode-performance", "m-init-done"]


def test_name_and_profile(board):
    assert board.command("name").lines == ["m-name-dut-[edge-sdk]"]
    assert board.command("profile").lines == ["m-profile-[ULPMark for tinyML Firmware V0.0.1]", "m-model-[kws01]"]
    assert board.name() == "edge-sdk"
    assert board.profile() == {"profile": "ULPMark for tinyML Firmware V0.0.1", "model": "kws01"}


def test_timestamp_is_monotonic(board):
    t0, t1 = board.timestamp(), board.timestamp()
    assert 0 <= t0 < t1


def test_unknown_command(board):
    r = board.raw("fly me to the moon")
    assert r.errors == ["Unknown command: fly me to the moon"] and r.lines == []
    r = board.raw("")
    assert r.errors == ["Unknown command: "]


def test_overlong_command_is_an_error_not_a_crash(board):
    r = board.raw("x" * 81)
    assert r.errors and "too long" in r.errors[0]
    assert len(board.raw("db " + "00" * 38 + "0").errors) == 1  # exactly 80 chars: parsed (odd hex)
    r = board.raw("y" * 5000)  # far beyond the buffer
    assert r.errors and "too long" in r.errors[0]
    assert board.name() == "edge-sdk"


def test_name_probe_recovers_from_stale_bytes_in_the_command_buffer(board):
    board._write(b"nam")   # a host that went away mid-command: no '%' yet
    assert board.name() == "edge-sdk"   # first probe: 'Unknown command: namname', the retry answers


def test_noise_bytes_get_an_error_reply(board):
    r = board.raw("\x00\x01\xff\x7f garbage\r\n")
    assert r.errors and r.errors[0].startswith("Unknown command:")
    assert board.name() == "edge-sdk"


def test_db_load_and_print(board):
    assert board.command("db load 5").lines == ["m-[Expecting 5 bytes]"]
    assert board.command("db 0102").lines == []
    assert board.command("db 03FFab").lines == ["m-load-done"]
    assert board.command("db print").lines == ["m-buffer-010203ffab"]


def test_db_errors(board):
    board.command("db load 4")
    for bad, what in [("db 123", "Odd"), ("db 12zz", "Invalid hex"), ("db 1 34", "Invalid hex")]:
        r = board.raw(bad)
        assert r.errors and what in r.errors[0], (bad, r)
    # a bad line stores nothing: the 4 bytes still arrive in full afterwards
    board.command("db 0a0b")
    r = board.raw("db 0c0d0e")  # one byte more than announced
    assert r.errors and "overflows" in r.errors[0]
    assert board.command("db 0c0d").lines == ["m-load-done"]
    assert board.command("db print").lines == ["m-buffer-0a0b0c0d"]
    assert "larger than the input buffer" in board.raw("db load 99999999").errors[0]
    for bad in ["db load", "db load -3", "db load 0", "db load 12x", "db load 99999999999"]:
        assert board.raw(bad).errors, bad
    assert board.raw("db").errors


def test_infer_before_complete_load_is_an_error(board):
    board.command("db load 8")
    r = board.raw("infer 1 0")
    assert r.errors and "input" in r.errors[0].lower()
    r = board.raw("db out 0")  # fine or "no results yet": never a crash
    assert board.name() == "edge-sdk"


def test_infer_wrong_input_size(board):
    board.command("db load 3")
    board.command("db 010203")
    assert "bytes" in board.raw("infer 1 0").errors[0]


def test_infer_protocol_and_results(board):
    from edge_sdk.runtime.session import Session

    s = Session(board.artifact.read_bytes())
    x = np.random.default_rng(7).standard_normal(s.inputs[0].shape).astype(np.float32)
    board.load(x.tobytes())
    r = board.command("infer 2 1", 30)
    assert r.lines[:3] == ["m-warmup-start-1", "m-warmup-done", "m-infer-start-2"]
    assert re.fullmatch(r"m-lap-us-\d+", r.lines[3]) and re.fullmatch(r"m-lap-us-\d+", r.lines[4])
    assert r.lines[5] == "m-infer-done"
    assert re.fullmatch(r"m-results-\[(-?\d+\.\d{3},){11}-?\d+\.\d{3}\]", r.lines[6])
    ref = s.run({s.inputs[0].name: x})[s.outputs[0].name].ravel()
    from edge_sdk.hil.dut import parse_results

    assert np.allclose(parse_results(r.lines[6][len("m-results-"):]), ref, atol=0.0005 + 1e-6)
    assert board.command("results").lines == [r.lines[6]]
    raw = np.frombuffer(board.output_bytes(0), np.float32)
    assert np.array_equal(raw, ref)
    assert board.raw("db out 7").errors  # no such output


def test_infer_defaults(board):
    from edge_sdk.runtime.session import Session

    s = Session(board.artifact.read_bytes())
    board.load(np.zeros(s.inputs[0].shape, np.float32).tobytes())
    r = board.command("infer", 30)
    assert r.lines[:3] == ["m-warmup-start-10", "m-warmup-done", "m-infer-start-1"]
    for bad in ["infer 0", "infer x", "infer 1 y", "infer -1"]:
        assert board.raw(bad).errors, bad


def test_extra_commands(board):
    info = board.model_info()
    assert info["isa"] == "dsp" and info["in"] == "float32:1x1x49x10" and info["out"] == "float32:1x12"
    assert board.set_isa("scalar") == "scalar"
    assert board.set_isa("best") == "dsp"
    assert board.raw("isa avx512").errors


def test_infer_timing_counts_instructions(board):
    """-icount shift=0: the lap is deterministic (instructions / 1000), so two windows agree."""
    from edge_sdk.runtime.session import Session

    s = Session(board.artifact.read_bytes())
    board.load(np.ones(s.inputs[0].shape, np.float32).tobytes())
    a, b = board.infer(2, 0), board.infer(2, 0)
    assert a.duration_us > 1000 and abs(a.duration_us - b.duration_us) <= 2


# ---- host client against a scripted port (no emulator needed) ----
class FakePort:
    def __init__(self, replies: dict[str, bytes]):
        self.replies, self.sent, self.pending = replies, [], b""

    def write(self, data: bytes) -> None:
        cmd = data.decode("latin-1").rstrip("%")
        self.sent.append(cmd)
        self.pending += self.replies.get(cmd, b"")

    def flush(self) -> None:
        pass

    def read(self, n: int) -> bytes:
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def close(self) -> None:
        pass


def test_client_parses_and_types_errors():
    from edge_sdk.hil.dut import DutClient, DutErrorReply, DutProtocolError, DutTimeout

    port = FakePort({"name": b"m-name-dut-[x]\r\nm-ready\r\n", "results": b"m-results-[1.000,-2.500]\r\nm-ready\r\n",
                     "timestamp": b"m-lap-us-abc\r\nm-ready\r\n", "bad": b"e-[Unknown command: bad]\r\nm-ready\r\n",
                     "profile": b"m-profile-[p]\r\n\x00\x13junk\r\nm-model-[kws01]\r\nm-ready\r\n"})
    c = DutClient(port, timeout_s=0.2)
    assert c.name() == "x"
    assert c.results() == [1.0, -2.5]
    assert c.profile() == {"profile": "p", "model": "kws01"}
    with pytest.raises(DutErrorReply, match="Unknown command"):
        c.command("bad")
    with pytest.raises(DutProtocolError):
        c.timestamp()
    with pytest.raises(DutTimeout):
        c.command("silent")
    with pytest.raises(ValueError):
        c.command("x" * 81)


def test_client_health_rejected_probe_is_offline_not_a_crash():
    from edge_sdk.hil.errors import DeviceOffline
    from edge_sdk.hil.protocols.mlperf_tiny import MlperfTiny
    from edge_sdk.hil.dut import DutClient

    port = FakePort({"name": b"e-[Unknown command: name]\r\nm-ready\r\n"})
    with pytest.raises(DeviceOffline, match="Unknown command"):
        MlperfTiny(DutClient(port, timeout_s=0.05)).health()
    assert port.sent == ["name"] * 3


def test_client_retries_name_three_times():
    from edge_sdk.hil.dut import DutClient, DutTimeout

    port = FakePort({})
    with pytest.raises(DutTimeout):
        DutClient(port, timeout_s=0.05).name()
    assert port.sent == ["name"] * 3


def test_client_db_lines_fit_the_buffer():
    from edge_sdk.hil.dut import CMD_MAX, db_lines

    lines = db_lines(bytes(range(256)) * 2)
    assert all(len(ln) < CMD_MAX for ln in lines) and len(lines[0]) == 3 + 62
    assert bytes.fromhex("".join(ln[3:] for ln in lines)) == bytes(range(256)) * 2
