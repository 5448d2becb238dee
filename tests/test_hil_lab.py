"""Lab files: bad ones give one line and exit 1; secrets come from the environment and never
reach a report."""
import pytest

from edge_sdk.cli.main import main
from edge_sdk.hil.errors import LabFileError
from edge_sdk.hil.lab import load_lab

GOOD = '''
[[device]]
name = "pi"
target = "rpi4"
transport = "ssh"
host = "${HIL_PI_HOST}"
user = "pi"
key_file = "${HIL_PI_KEY}"
[device.budget]
latency_ms = 20
'''


@pytest.mark.parametrize("text,msg", [
    ("x = ", "not valid TOML"),
    ("a = 1", "no [[device]]"),
    ('[[device]]\nname = "a b"\ntarget = "host"\ntransport = "local"', "needs a name"),
    ('[[device]]\nname = "a"\ntarget = "nope"\ntransport = "local"', "unknown target 'nope'"),
    ('[[device]]\nname = "a"\ntarget = "host"\ntransport = "usb"', "transport must be one of"),
    ('[[device]]\nname = "a"\ntarget = "host"\ntransport = "local"\npower = "watts"', "power must be one of"),
    ('[[device]]\nname = "a"\ntarget = "cortex-m4"\ntransport = "serial"', "serial needs port"),
    ('[[device]]\nname = "a"\ntarget = "cortex-m4"\ntransport = "ssh"\nhost = "x"', "mlperf-tiny needs transport"),
    ('[[device]]\nname = "a"\ntarget = "host"\ntransport = "local"\nbaud = "fast"', "baud must be a number"),
    ('[[device]]\nname = "a"\ntarget = "host"\ntransport = "local"\ncolour = 1', "unknown key(s) colour"),
    ('[[device]]\nname = "a"\ntarget = "host"\ntransport = "local"\npower = "model"', "emulated boards only"),
    ('[[device]]\nname = "a"\ntarget = "host"\ntransport = "local"\n[[device]]\nname = "a"\ntarget = "host"\n'
     'transport = "local"', "used twice"),
    ('[[device]]\nname = "a"\ntarget = "host"\ntransport = "local"\n[device.budget]\nlatency_ms = -1', "must be > 0"),
])
def test_bad_lab_files_one_line_exit_1(tmp_path, capsys, text, msg):
    p = tmp_path / "lab.toml"
    p.write_text(text)
    with pytest.raises(LabFileError, match=msg.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        load_lab(p)
    art = tmp_path / "a.esm"
    art.write_bytes(b"x")
    assert main(["hil", "run", "--lab", str(p), "--model", str(art), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and msg.split("(")[0].strip() in err


def test_secrets_from_environment_and_not_in_public(tmp_path, monkeypatch):
    p = tmp_path / "lab.toml"
    p.write_text(GOOD)
    with pytest.raises(LabFileError, match="HIL_PI_HOST is not set"):
        load_lab(p)
    monkeypatch.setenv("HIL_PI_HOST", "10.0.0.7")
    monkeypatch.setenv("HIL_PI_KEY", "/secret/id_ed25519")
    d = load_lab(p).device("pi")
    assert d.host == "10.0.0.7" and d.key_file == "/secret/id_ed25519" and d.protocol == "edge-sdk"
    assert "/secret" not in str(d.public()) and d.public()["budget"]["latency_ms"] == 20


def test_example_labs_parse(monkeypatch):
    for k in ("HIL_PI4_HOST", "HIL_PI4_KEY", "HIL_PHONE_SERIAL"):
        monkeypatch.setenv(k, "set-by-test")
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    lab = load_lab(root / "hil" / "labs" / "emulated.toml")
    assert {d.target for d in lab.devices} == {"cortex-m4", "cortex-m55", "rpi4"}
    assert all(d.emulate for d in lab.devices)
    load_lab(root / "hil" / "labs" / "example.toml")
