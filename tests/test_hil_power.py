"""Energy drivers. We own no power meters: the LPM01A, Joulescope and INA219/INA226 drivers are
tested against FAKES of the hardware (edge_sdk/hil/fakes), RAPL against a fake powercap tree
and against this machine's real /sys (where it is usually unreadable: then 'unavailable')."""
import pytest

from edge_sdk.hil.errors import PowerMeterError
from edge_sdk.hil.power.ina219 import Ina2xx
from edge_sdk.hil.power.lpm01a import Lpm01a, parse_sample
from edge_sdk.hil.power.rapl import Rapl, delta_uj


def test_lpm01a_against_fake_lpm01a_over_pty():
    from edge_sdk.hil.fakes.fake_lpm01a import FakeLpm01a

    fake = FakeLpm01a(sample_j=2e-6, window_samples=50)
    m = Lpm01a(fake.port)
    try:
        m.open()
        assert fake.commands[:7] == ["htc", "format ascii_dec", "acqtime inf", "trigsrc sw", "trigdelay 0",
                                     "eventsrc d7 fal", "output energy"]
        assert "freq 1k" in fake.commands and "volt 1800m" in fake.commands and "pwr on" in fake.commands
        m.start()
        import time

        time.sleep(0.15)
        e = m.stop()
        assert m.last_window == "edges"          # summed between the two GPIO edges only
        assert e == pytest.approx(50 * 2.0, rel=1e-6)  # 50 samples x 2 uJ
    finally:
        m.close()
        fake.close()


def test_lpm01a_fake_lpm01a_error_reply_is_typed():
    from edge_sdk.hil.fakes.fake_lpm01a import FakeLpm01a

    fake = FakeLpm01a(refuse="output energy")
    m = Lpm01a(fake.port, timeout_s=1.0)
    try:
        with pytest.raises(PowerMeterError, match="refused 'output energy'"):
            m.open()
    finally:
        m.ser.close()
        fake.close()


def test_lpm01a_sample_format_and_rate_cap():
    assert parse_sample("1234-06") == pytest.approx(1.234e-3)
    assert parse_sample("0.5") == 0.5 and parse_sample("event d7 fal") is None
    with pytest.raises(PowerMeterError, match="5 kHz"):
        Lpm01a("loop://", freq_hz=10000)


def test_joulescope_driver_against_fake_joulescope_api():
    pytest.importorskip("joulescope", reason="the joulescope package did not install")
    from edge_sdk.hil.fakes.fake_joulescope import FakeJoulescopeDevice, FakeJoulescopeModule
    from edge_sdk.hil.power.joulescope import Joulescope

    dev = FakeJoulescopeDevice(power_w=0.010)
    m = Joulescope(module=FakeJoulescopeModule([dev]))
    m.open()
    try:
        assert dev.opened and dev.params["i_range"] == "auto"
        m.start()
        import time

        time.sleep(0.1)
        e = m.stop()
        assert 0.3e3 < e < 3e3   # ~0.1 s x 10 mW = 1 mJ = 1000 uJ, give or take scheduling
    finally:
        m.close()
    with pytest.raises(PowerMeterError, match="found 0"):
        Joulescope(module=FakeJoulescopeModule([])).open()


@pytest.mark.parametrize("chip", ["ina219", "ina226"])
def test_ina2xx_against_fake_smbus(chip):
    from edge_sdk.hil.fakes.fake_smbus import FakeSmbus

    bus = FakeSmbus(chip, 0x40, bus_v=3.3, shunt_v=0.001)   # 10 mA through 0.1 ohm at 3.3 V
    m = Ina2xx(chip, address=0x40, shunt_ohms=0.1, smbus=bus)
    m.open()
    assert m.power_w() == pytest.approx(0.033, rel=0.01)
    m.start()
    import time

    time.sleep(0.05)
    e = m.stop()
    assert bus.reads > 4 and 0.5e3 < e < 4e3   # ~33 mW x ~50 ms
    with pytest.raises(PowerMeterError, match="0x41"):
        Ina2xx(chip, address=0x41, smbus=bus).open()


def test_rapl_wraparound_and_fake_powercap(tmp_path):
    assert delta_uj(100, 250, 1000) == 150
    assert delta_uj(900, 50, 1000) == 151       # wrapped once
    d = tmp_path / "intel-rapl:0"
    d.mkdir()
    (d / "max_energy_range_uj").write_text("1000\n")
    (d / "energy_uj").write_text("990\n")
    r = Rapl("intel-rapl:0", root=tmp_path)
    assert r.kind == "measured"
    r.start()
    (d / "energy_uj").write_text("20\n")
    assert r.stop() == 31


def test_rapl_on_this_machine_says_when_unreadable():
    r = Rapl()
    if r.kind == "unavailable":
        assert "RAPL unreadable" in r.reason and r.stop() is None
    else:
        r.start()
        assert r.stop() >= 0


def test_energy_model_is_labelled_estimated():
    from types import SimpleNamespace

    from edge_sdk.hil.power.model import EnergyModel

    m = EnergyModel.for_target("cortex-m4", insns_per_us=1000.0)
    w = SimpleNamespace(n=10, duration_us=2000.0, raw={})
    assert m.kind == "estimated" and "pJ/insn" in m.source
    assert m.stop(w) == pytest.approx(2000 * 1000 * 200e-6)   # insns x 200 pJ -> uJ
