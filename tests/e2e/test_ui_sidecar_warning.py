"""Seed acceptance 4 with Streamlit's AppTest and a real sidecar process: while no
sidecar is connected the UI warns that events may be dropped and a click returns
at once as a counted drop; once the sidecar starts on that endpoint, the warning
clears and a click is counted. After each click the notification and the event
log show the exact message that was emitted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from telemetry_testkit.procs import free_port, start_sidecar, wait_until
from telemetry_testkit.prom import scrape
from telemetry_testkit.ui_apptest import click, texts, ui_env
from trading_app.ui import app_publisher, trade_page
from trading_app.ui.cli import APP
from trading_app.ui.trade_page import ts_text


@pytest.fixture
def ports(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, int]]:
    """Unused ZeroMQ and HTTP ports: nothing listens there until the test starts a sidecar."""
    zmq_port, http_port = free_port(), free_port()
    with ui_env(monkeypatch, zmq_port, http_port):
        yield zmq_port, http_port


def _emitted(at: AppTest) -> dict[str, Any]:
    """The exact message of the last click, from the JSON the page shows."""
    return dict(json.loads(at.code[0].value))


def _event_log_top(at: AppTest) -> dict[str, Any]:
    return cast(dict[str, Any], at.table[0].value.iloc[0].to_dict())


def test_warning_while_down_counted_drop_then_recovery(ports: tuple[int, int], tmp_path: Path) -> None:
    zmq_port, http_port = ports
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception
    assert texts(at.warning) == [trade_page.UNREACHABLE_WARNING]
    assert texts(at.success) == []
    assert at.text_input(key="qty").value == "1"  # quantity defaults to 1
    assert "UI publisher: trades sent 0 · trades dropped 0" in texts(at.caption)

    # 1. Sidecar down: the click returns (publish() does not wait) and is a counted drop.
    at = click(at, "Buy")
    publisher = app_publisher.get_publisher()
    snapshot = publisher.stats()
    assert snapshot.dropped == {("trade", "no_peer"): 1} and snapshot.sent == {}
    # The click's publish() returned and was accounted once; nothing was held for a peer:
    # the sidecar started below counts only the later clicks (buy: 1 trade, volume 3).
    # How long the call takes is benchmark B3's business (sidecar down).
    assert sum(snapshot.duration_counts) == 1
    message = _emitted(at)
    assert {k: message[k] for k in ("type", "side", "qty", "symbol", "seq", "producer")} == {
        "type": "trade", "side": "buy", "qty": 1.0, "symbol": "BTCUSDT", "seq": 1, "producer": "trading-app-ui"}
    ts = ts_text(message["ts"])
    assert texts(at.error) == [
        f"Dropped buy 1 BTCUSDT — seq 1, ts {ts} (no_peer: the sidecar is not connected)"]
    assert _event_log_top(at) == {"seq": 1, "side": "buy", "qty": "1", "symbol": "BTCUSDT", "ts": ts,
                                  "status": "dropped: no_peer"}
    assert "UI publisher: trades sent 0 · trades dropped 1 (no_peer 1)" in texts(at.caption)
    assert texts(at.warning) == [trade_page.UNREACHABLE_WARNING]

    # 2. A real sidecar starts on that endpoint: the warning clears, clicks are counted.
    sidecar = start_sidecar(tmp_path, {"SIDECAR_ZMQ_BIND": f"tcp://127.0.0.1:{zmq_port}",
                                       "SIDECAR_PORT": str(http_port)})
    try:
        wait_until(lambda: publisher.connected, 10, message="publisher reconnects to the new sidecar")
        at = at.run()
        assert texts(at.warning) == []
        assert texts(at.success) == [trade_page.CONNECTED_TEXT]
        at.text_input(key="qty").set_value("3")
        for n, side in enumerate(("buy", "sell"), start=2):
            at = click(at.run(), side.capitalize())
            message = _emitted(at)
            ts = ts_text(message["ts"])
            assert (message["side"], message["qty"], message["seq"]) == (side, 3.0, n)
            assert texts(at.success) == [trade_page.CONNECTED_TEXT, f"Emitted {side} 3 BTCUSDT — seq {n}, ts {ts}"]
            assert [t.value for t in at.toast] == [f"Emitted {side} 3 BTCUSDT — seq {n}, ts {ts}"]
            assert _event_log_top(at) == {"seq": n, "side": side, "qty": "3", "symbol": "BTCUSDT", "ts": ts,
                                          "status": "sent"}
            metrics = wait_until(lambda s=side: (m := scrape(sidecar.http + "/metrics/"))  # type: ignore[misc]
                                 and m.get(f'trades_total{{side="{s}",symbol="BTCUSDT"}}') == 1 and m, 10,
                                 message=f"the {side} click is counted by the sidecar")
            assert metrics[f'volume_total{{side="{side}",symbol="BTCUSDT"}}'] == 3.0
        # seq 1 was dropped before this sidecar existed: its first seq from this producer
        # instance is 2, which is not a gap.
        assert metrics['messages_lost_total{producer="trading-app-ui"}'] == 0
        assert publisher.stats().sent == {"trade": 2}

        # The blotter closes the loop: both clicks as the sidecar received them, and
        # the one dropped before it existed, newest first.
        def blotter(app: AppTest) -> list[dict[str, Any]]:
            app.run()
            return [] if len(app.table) < 2 else cast(list[dict[str, Any]], app.table[1].value.to_dict("records"))

        rows = wait_until(lambda: len(r := blotter(at)) == 3 and r, 10, message="blotter")
        assert [(r["seq"], r["side"], r["qty"], r["symbol"], r["status"]) for r in rows] == [
            ("3", "sell", "3", "BTCUSDT", "received"), ("2", "buy", "3", "BTCUSDT", "received"),
            ("1", "buy", "1", "BTCUSDT", "dropped: no_peer")]
    finally:
        sidecar.kill()


def test_first_render_with_sidecar_up_shows_no_warning(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The page must not flash the warning while the first TCP handshake is in flight."""
    sidecar = start_sidecar(tmp_path)
    try:
        monkeypatch.setenv("WEBAPP_ZMQ_ADDR", sidecar.zmq)
        monkeypatch.setenv("WEBAPP_SIDECAR_URL", sidecar.http)
        monkeypatch.setenv("WEBAPP_HEARTBEAT_INTERVAL_SECONDS", "0")
        monkeypatch.setenv("WEBAPP_DELIVERY", "fire_and_forget")
        monkeypatch.setenv("WEBAPP_UI_METRICS_PORT", "0")
        st.cache_resource.clear()
        at = AppTest.from_file(str(APP), default_timeout=30).run()
        assert not at.exception
        assert texts(at.warning) == []
        assert texts(at.success) == [trade_page.CONNECTED_TEXT]
        assert texts(at.info) == []  # the sidecar's /events answered
        app_publisher.get_publisher().close()
    finally:
        st.cache_resource.clear()
        sidecar.kill()
