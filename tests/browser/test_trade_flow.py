"""The UI in real headless Chromium, against the whole loop started exactly as the
README's run command starts it (scripts/launch.py, OS-chosen ports, a local
Prometheus scraping every second): clicks reach the sidecar and Prometheus; a
stopped sidecar is announced and a click while it is down is a counted drop;
its return is noticed; the Market and Latency pages draw live data.

Screenshots of every step go to test-artifacts/."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from browser.loop import chromium_page, exception_count, launched_loop, shot, table_rows
from support.procs import Service, require_binary, start_sidecar, wait_until
from support.prom import Prometheus, scrape

pytestmark = [pytest.mark.browser, pytest.mark.prometheus]
SCRAPE_INTERVAL = 1.0  # launch.py's Prometheus scrape interval
SYMBOL = "BTCUSDT"  # the symbol the page selects by default
NOTICE = re.compile(r"^(Emitted|Dropped) (buy|sell) (\S+) (\S+) — seq (\d+), ts (\S+)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_binary("prometheus")
    require_binary("chromium")
    extra: list[Service] = []
    with launched_loop(tmp_path_factory.mktemp("loop")) as info:
        assert info["prometheus"], "launch.py starts Prometheus when /usr/bin/prometheus exists"
        info["extra"] = extra
        try:
            yield info
        finally:
            for service in extra:  # a sidecar this module restarted; launch.py does not know it
                service.kill()


@pytest.fixture(scope="module")
def page(stack: dict[str, Any]) -> Iterator[Any]:
    with chromium_page() as page:
        page.goto(stack["ui"])
        yield page


def sidecar_metrics(url: str) -> dict[str, float]:
    return scrape(url + "/metrics/")


def side_total(metrics: dict[str, float], family: str, side: str) -> float:
    return sum(v for k, v in metrics.items() if k.startswith(f'{family}{{side="{side}"'))


def last_notice(page: Any) -> tuple[str, str, float, str, int, float] | None:
    """(verb, side, qty, symbol, seq, ts epoch) of the notification on the page."""
    box = page.locator(".st-key-notice")
    if not box.count():
        return None
    match = NOTICE.match(box.inner_text().strip())
    if not match:
        return None
    verb, side, qty, symbol, seq, ts = match.groups()
    return verb, side, float(qty), symbol, int(seq), datetime.fromisoformat(ts).timestamp()


def click(page: Any, side: str, qty: int) -> tuple[str, str, float, str, int, float]:
    """Type the quantity, click, and return the notification of this very click."""
    before = last_notice(page)
    quantity = page.get_by_label("Quantity")
    quantity.fill(str(qty))
    quantity.press("Enter")
    page.get_by_role("button", name=side.capitalize(), exact=True).click()
    return wait_until(lambda: (n := last_notice(page)) and n != before and n[1] == side and n, 10,
                      message=f"notification of the {side} click")


def event_log_shows(page: Any, notice: tuple[str, str, float, str, int, float], status: str) -> None:
    """The top row of the event log is exactly the emitted message."""
    _, side, qty, symbol, seq, ts = notice
    # The page streams in while it reruns: the table may trail the notification.
    row = wait_until(lambda: (rows := table_rows(page, "event_log")) and rows[0]["seq"] == str(seq) and rows[0],
                     5, message=f"event log row for seq {seq}")
    assert (row["side"], float(row["qty"]), row["symbol"], row["status"]) == (side, qty, symbol, status)
    assert datetime.fromisoformat(row["ts"]).timestamp() == ts


def blotter_row(page: Any, seq: int, status: str = "received") -> dict[str, str] | None:
    """This UI's trade ``seq`` in the blotter, once it has the given status."""
    rows = [r for r in table_rows(page, "blotter") if r.get("seq") == str(seq) and r.get("status") == status]
    return rows[0] if rows else None


def test_buy_and_sell_reach_sidecar_and_prometheus(stack: dict[str, Any], page: Any) -> None:
    prom = Prometheus(stack["prometheus"], None)  # type: ignore[arg-type]  # launch.py owns the process
    page.get_by_text("Sidecar connected").wait_for(timeout=30_000)
    # The default; the page streams in, so the field may be drawn before its value.
    wait_until(lambda: page.get_by_label("Quantity").input_value() == "1", 10, message="quantity 1 by default")
    assert page.get_by_role("button", name="Deploy").count() == 0  # client.toolbarMode=viewer
    prom.wait_for_targets_up(30)
    shot(page, "01-connected")
    seqs: list[int] = []
    for side in ("buy", "sell"):
        before = sidecar_metrics(stack["sidecar"])
        volume0, trades0 = side_total(before, "volume_total", side), side_total(before, "trades_total", side)
        expr = f'sum(volume_total{{side="{side}"}})'
        # Steady state first: Prometheus has scraped the current value.
        wait_until(lambda e=expr, v=volume0: prom.value(f"({e}) or vector(0)") == v, 10, message="steady state")

        notice = click(page, side, 3)
        verb, _, qty, symbol, seq, ts = notice
        assert (verb, qty, symbol) == ("Emitted", 3.0, SYMBOL)
        event_log_shows(page, notice, "sent")
        row = wait_until(lambda s=seq: blotter_row(page, s), 5, message="the blotter's received row")
        assert (row["side"], row["qty"], row["symbol"]) == (side, "3", SYMBOL)
        assert float(row["latency_ms"]) >= 0
        after = wait_until(lambda s=side, t=trades0: (m := sidecar_metrics(stack["sidecar"]))
                           and side_total(m, "trades_total", s) == t + 1 and m, 5, message="sidecar counted it")
        assert side_total(after, "volume_total", side) == volume0 + 3
        # Seed criterion 1: in Prometheus within one scrape interval + 1 s of the click
        # (ts is stamped by publish(); +0.5 s for the query itself and the poll).
        deadline = ts + SCRAPE_INTERVAL + 1.0 + 0.5
        wait_until(lambda e=expr, v=volume0: prom.value(e) == v + 3, max(0.0, deadline - time.time()), 0.05,
                   message=f"Prometheus {expr} up by 3 within one scrape + 1 s")
        shot(page, f"02-{side}")
        seqs.append(seq)
    # The blotter is read back from the sidecar: a reload (a new session) still shows both.
    page.reload()
    page.get_by_text("Sidecar connected").wait_for(timeout=30_000)
    for seq in seqs:
        wait_until(lambda s=seq: blotter_row(page, s), 10, message=f"seq {seq} in the blotter after a reload")
    assert table_rows(page, "event_log") == []  # the session's own log did not survive; the blotter did


def test_sidecar_down_warns_counts_drops_and_recovers(stack: dict[str, Any], page: Any) -> None:
    prom = Prometheus(stack["prometheus"], None)  # type: ignore[arg-type]
    page.get_by_text("Sidecar connected").wait_for(timeout=30_000)
    drop_key = 'publisher_messages_dropped_total{reason="no_peer",type="trade"}'
    dropped0 = scrape(stack["ui_metrics"]).get(drop_key, 0.0)

    pid = stack["pids"]["metrics-sidecar"]
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: _exited(pid), 10, 0.02, message="sidecar process exited")
    stopped = time.monotonic()
    page.locator(".st-key-status").get_by_text("Sidecar unreachable — events may be dropped").wait_for(
        timeout=5_000)
    assert time.monotonic() - stopped <= 2.0  # the page re-checks the socket monitor twice a second
    shot(page, "03-sidecar-down")

    # A click while it is down: notified as dropped, and counted in the UI process'
    # own /metrics (which Prometheus scrapes as job trading-app-ui) and on the page.
    notice = click(page, "buy", 1)
    assert notice[:4] == ("Dropped", "buy", 1.0, SYMBOL)
    event_log_shows(page, notice, "dropped: no_peer")
    dropped_row = wait_until(lambda: blotter_row(page, notice[4], "dropped: no_peer"), 5,
                             message="the dropped trade in the blotter")
    assert (dropped_row["side"], dropped_row["qty"], dropped_row["latency_ms"]) == ("buy", "1", "—")
    assert scrape(stack["ui_metrics"])[drop_key] == dropped0 + 1
    page.locator(".st-key-status").get_by_text(f"trades dropped {dropped0 + 1:g} (no_peer {dropped0 + 1:g})") \
        .wait_for(timeout=5_000)
    wait_until(lambda: prom.value('sum(publisher_messages_dropped_total{job="trading-app-ui",type="trade"})')
               == dropped0 + 1, 5, message="Prometheus sees the UI's drop")
    shot(page, "04-dropped-while-down")

    # The same program on the same ports (the launcher's SIDECAR_* values).
    sidecar = start_sidecar(Path(stack["run_dir"]) / "sidecar-restarted", {
        "SIDECAR_ZMQ_BIND": stack["zmq"], "SIDECAR_PORT": stack["sidecar"].rsplit(":", 1)[1],
        "SIDECAR_HOST": "127.0.0.1"})
    stack["extra"].append(sidecar)
    page.locator(".st-key-status").get_by_text("Sidecar connected").wait_for(timeout=5_000)
    assert page.get_by_text("Sidecar unreachable").count() == 0
    notice = click(page, "buy", 2)
    assert notice[:4] == ("Emitted", "buy", 2.0, SYMBOL)
    event_log_shows(page, notice, "sent")
    metrics = wait_until(lambda: (m := sidecar_metrics(sidecar.http))
                         and m.get(f'trades_total{{side="buy",symbol="{SYMBOL}"}}') == 1 and m, 5,
                         message="the click after recovery is counted by the new sidecar")
    assert metrics[f'volume_total{{side="buy",symbol="{SYMBOL}"}}'] == 2.0
    assert metrics['messages_lost_total{producer="trading-app-ui"}'] == 0  # it started counting after the drop
    wait_until(lambda: blotter_row(page, notice[4]), 5, message="blotter after recovery")
    shot(page, "05-recovered")


def _exited(pid: int) -> bool:
    """Gone, or a zombie the launcher has not reaped yet (it polls every 0.5 s)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_market_and_latency_pages_render_live_data(stack: dict[str, Any], page: Any) -> None:
    from trading_app.telemetry.push import PushPublisher as Publisher

    with Publisher(stack["zmq"], producer="browser-feed", heartbeat_interval=0) as pub:
        wait_until(lambda: pub.connected, 10, message="feed connected")
        now = time.time()
        for i in range(30):
            pub.tick(SYMBOL, 100.0 + i * 0.5, volume=1.0, ts=now - 30 + i)
        pub.close(linger=2.0)
    base = stack["ui"].rstrip("/")
    page.goto(base + "/market")
    page.get_by_text("114.5000").first.wait_for(timeout=10_000)  # the last tick's price
    page.get_by_text("OHLC 1m").wait_for(timeout=10_000)
    wait_until(lambda: page.locator('[data-testid="stVegaLiteChart"]').count() == 2, 10,
               message="price line and OHLC candles drawn")
    assert page.get_by_text("Position and PnL").count() == 1
    assert exception_count(page) == 0 and "Traceback" not in page.content()
    shot(page, "06-market")

    page.goto(base + "/latency")
    page.get_by_text("Recent exact percentiles (ms)").wait_for(timeout=30_000)
    page.get_by_text("From Prometheus at").wait_for(timeout=10_000)
    # p50/p95/p99 over time from Prometheus (the clicks above) and the histogram.
    wait_until(lambda: page.locator('[data-testid="stVegaLiteChart"]').count() == 4, 20,
               message="three percentile charts and the histogram drawn")
    assert page.get_by_text("No data yet.").count() == 0
    assert exception_count(page) == 0 and "Traceback" not in page.content()
    rows = wait_until(lambda: len(r := table_rows(page, "recent_quantiles")) == 4 and r, 10,
                      message="recent exact percentiles of the four hops")
    assert [r["hop"] for r in rows] == ["event_to_apply", "event_to_send", "receive_to_apply", "send_to_receive"]
    # The click made while the sidecar was down, in the counts.
    counts = wait_until(lambda: table_rows(page, "latency_counts"), 10, message="loss/drops table")
    assert {"source": "this UI", "metric": "publisher_messages_dropped_total", "labels": "type=trade,reason=no_peer",
            "value": "1.0000"} in counts
    page.get_by_role("combobox").last.wait_for()  # the histogram's hop choice, drawn
    shot(page, "07-latency")
