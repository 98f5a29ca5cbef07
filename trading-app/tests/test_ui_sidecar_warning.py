"""Seed acceptance 4 with Streamlit's AppTest and a real sidecar process: while no
sidecar is connected the UI warns that events may be dropped and a click is a
counted drop; once the sidecar starts, the warning clears and a click is counted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from support.procs import free_port, start_sidecar, wait_until
from support.prom import scrape
from trading_app import ui_common

UI = Path(ui_common.__file__).with_name("ui.py")


@pytest.fixture
def ports(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, int]]:
    zmq_port, http_port = free_port(), free_port()
    monkeypatch.setenv("WEBAPP_ZMQ_ADDR", f"tcp://127.0.0.1:{zmq_port}")
    monkeypatch.setenv("WEBAPP_SIDECAR_URL", f"http://127.0.0.1:{http_port}")
    monkeypatch.setenv("WEBAPP_HEARTBEAT_INTERVAL_SECONDS", "0")
    monkeypatch.setenv("WEBAPP_DELIVERY", "fire_and_forget")
    st.cache_resource.clear()
    yield zmq_port, http_port
    ui_common.get_publisher().close()
    st.cache_resource.clear()


def _click(at: AppTest, label: str) -> AppTest:
    return next(b for b in at.button if b.label == label).click().run()


def _texts(elements: object) -> list[str]:
    return [str(e.value) for e in elements]  # type: ignore[attr-defined]


def test_warning_while_down_counted_drop_then_recovery(ports: tuple[int, int], tmp_path: Path) -> None:
    zmq_port, http_port = ports
    at = AppTest.from_file(str(UI), default_timeout=30).run()
    assert not at.exception
    assert any("Sidecar unreachable" in t and "may be dropped" in t for t in _texts(at.warning))
    assert at.number_input(key="qty").value == 1.0  # quantity defaults to 1

    started = time.perf_counter()
    at = _click(at, "Buy")
    assert time.perf_counter() - started < 10  # the whole rerun; publish() itself is benchmarked in bench/
    publisher = ui_common.get_publisher()
    assert publisher.snapshot()["dropped"] == {("trade", "no_peer"): 1}
    assert any("Dropped buy 1" in t for t in _texts(at.error))
    emitted = at.session_state["emitted"]
    assert [(e["seq"], e["side"], e["qty"], e["symbol"], e["queued"]) for e in emitted] == [
        (1, "buy", 1.0, "BTCUSDT", False)]

    sidecar = start_sidecar(tmp_path, {"SIDECAR_ZMQ_BIND": f"tcp://127.0.0.1:{zmq_port}",
                                       "SIDECAR_PORT": str(http_port)})
    try:
        wait_until(lambda: publisher.connected, 10, message="publisher reconnects to the new sidecar")
        at = at.run()
        assert not any("Sidecar unreachable" in t for t in _texts(at.warning))
        assert any("Sidecar connected" in t for t in _texts(at.success))
        at.number_input(key="qty").set_value(3.0)
        at = _click(at.run(), "Buy")
        assert any("Emitted buy 3" in t for t in _texts(at.success))
        table = at.session_state["emitted"][0]
        assert (table["side"], table["qty"], table["queued"]) == ("buy", 3.0, True)
        metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/"))
                             and m.get('trades_total{side="buy",symbol="BTCUSDT"}') == 1 and m, 10,
                             message="the click after recovery is counted")
        assert metrics['volume_total{side="buy",symbol="BTCUSDT"}'] == 3.0
        assert metrics['messages_lost_total{producer="trading-app-ui"}'] == 0  # the first seq it saw was 2
    finally:
        sidecar.kill()
