"""The UI in real headless Chromium, against the whole loop started exactly as the
README's run command starts it (scripts/launch.py, OS-chosen ports, a local
Prometheus scraping every second): clicks reach the sidecar and Prometheus; a
stopped sidecar is announced and a click while it is down is a counted drop;
its return is noticed; the Market and Latency pages draw live data.

Every test runs alone, in any order: each opens its own page, reads its
baselines before acting and asserts exact deltas, and makes the drop it needs
itself. Nothing here asserts speed: a deadline only bounds a poll.

Screenshots of every step go to test-artifacts/."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import pytest

from telemetry_testkit.browser_loop import (
    chromium_page,
    click_side,
    exception_count,
    launched_loop,
    notice_text,
    shot,
    table_rows,
    type_quantity,
)
from telemetry_testkit.procs import Service, require_binary, start_sidecar, wait_until
from telemetry_testkit.prom import Prometheus, scrape

pytestmark = [pytest.mark.browser, pytest.mark.prometheus]
SYMBOL = "BTCUSDT"  # the symbol the page selects by default
DROP_KEY = 'publisher_messages_dropped_total{reason="no_peer",type="trade"}'
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


@pytest.fixture
def page(stack: dict[str, Any]) -> Iterator[Any]:
    """A new browser (a new Streamlit session) per test, on the Trade page."""
    with chromium_page() as page:
        page.goto(stack["ui"])
        page.get_by_text("Sidecar connected").wait_for(timeout=30_000)
        yield page


def stop_sidecar(stack: dict[str, Any]) -> None:
    """SIGTERM whichever sidecar serves the launcher's ports now: the launcher's
    own, or the one an earlier test started in its place."""
    extra: list[Service] = stack["extra"]
    if extra and extra[-1].popen.poll() is None:
        extra[-1].stop()
        return
    pid = stack["pids"]["metrics-sidecar"]
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: _exited(pid), 10, 0.02, message="sidecar process exited")


def restart_sidecar(stack: dict[str, Any]) -> Service:
    """The same program on the same ports (the launcher's SIDECAR_* values), with
    no state dir: its counters start at 0."""
    sidecar = start_sidecar(Path(stack["run_dir"]) / f"sidecar-restarted-{len(stack['extra']) + 1}", {
        "SIDECAR_ZMQ_BIND": stack["zmq"], "SIDECAR_PORT": stack["sidecar"].rsplit(":", 1)[1],
        "SIDECAR_HOST": "127.0.0.1"})
    stack["extra"].append(sidecar)
    return sidecar


def ui_drops(stack: dict[str, Any]) -> float:
    """This UI's trades dropped because no sidecar was connected (its own /metrics)."""
    return scrape(stack["ui_metrics"]).get(DROP_KEY, 0.0)


def drop_series(labels: str) -> str:
    """The Latency page's "type=trade,reason=no_peer" as the UI's /metrics series name."""
    parts = dict(label.split("=", 1) for label in labels.split(","))
    reason, kind = parts["reason"], parts["type"]
    return f'publisher_messages_dropped_total{{reason="{reason}",type="{kind}"}}'


def drop_one_click(stack: dict[str, Any], page: Any) -> tuple[Service, tuple[str, str, float, str, int, float]]:
    """Stop the sidecar, click Buy 1 (a counted no_peer drop), start a new sidecar
    on the same ports; returns it and the drop's notification."""
    stop_sidecar(stack)
    page.locator(".st-key-status").get_by_text("Sidecar unreachable — events may be dropped").wait_for(
        timeout=30_000)
    notice = click(page, "buy", 1)
    sidecar = restart_sidecar(stack)
    page.locator(".st-key-status").get_by_text("Sidecar connected").wait_for(timeout=30_000)
    return sidecar, notice


def sidecar_metrics(url: str) -> dict[str, float]:
    return scrape(url + "/metrics/")


def side_total(metrics: dict[str, float], family: str, side: str) -> float:
    return sum(v for k, v in metrics.items() if k.startswith(f'{family}{{side="{side}"'))


def last_notice(page: Any) -> tuple[str, str, float, str, int, float] | None:
    """(verb, side, qty, symbol, seq, ts epoch) of the notification on the page."""
    match = NOTICE.match(notice_text(page))
    if not match:
        return None
    verb, side, qty, symbol, seq, ts = match.groups()
    return verb, side, float(qty), symbol, int(seq), datetime.fromisoformat(ts).timestamp()


def click(page: Any, side: str, qty: int) -> tuple[str, str, float, str, int, float]:
    """Type the quantity, click, and return the notification of this very click."""
    before = last_notice(page)
    type_quantity(page, str(qty))
    click_side(page, side)
    return wait_until(lambda: (n := last_notice(page)) and n != before and n[1] == side and n, 10,
                      message=f"notification of the {side} click")


def event_log_shows(page: Any, notice: tuple[str, str, float, str, int, float], status: str) -> None:
    """The top row of the event log is exactly the emitted message."""
    _, side, qty, symbol, seq, ts = notice
    # The page streams in while it reruns: the table may trail the notification.
    row = cast(dict[str, str], wait_until(
        lambda: (rows := table_rows(page, "event_log")) and rows[0]["seq"] == str(seq) and rows[0],
        5, message=f"event log row for seq {seq}"))
    assert (row["side"], float(row["qty"]), row["symbol"], row["status"]) == (side, qty, symbol, status)
    assert datetime.fromisoformat(row["ts"]).timestamp() == ts


def blotter_row(page: Any, seq: int, status: str = "received") -> dict[str, str] | None:
    """This UI's trade ``seq`` in the blotter, once it has the given status."""
    rows = [r for r in table_rows(page, "blotter") if r.get("seq") == str(seq) and r.get("status") == status]
    return rows[0] if rows else None


def test_buy_and_sell_reach_sidecar_and_prometheus(stack: dict[str, Any], page: Any) -> None:
    prom = Prometheus(stack["prometheus"], None)  # type: ignore[arg-type]  # launch.py owns the process
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
        wait_until(lambda e=expr, v=volume0: prom.value(f"({e}) or vector(0)") == v, 10, message="steady state")  # type: ignore[misc]

        notice = click(page, side, 3)
        verb, _, qty, symbol, seq, _ts = notice
        assert (verb, qty, symbol) == ("Emitted", 3.0, SYMBOL)
        event_log_shows(page, notice, "sent")
        row = wait_until(lambda s=seq: blotter_row(page, s), 30, message="the blotter's received row")  # type: ignore[misc]
        assert (row["side"], row["qty"], row["symbol"]) == (side, "3", SYMBOL)
        assert float(row["latency_ms"]) >= 0
        # Waits for the count to move, then asserts by how much: a failure shows the value.
        after = wait_until(lambda s=side, t=trades0: (m := sidecar_metrics(stack["sidecar"]))  # type: ignore[misc]
                           and side_total(m, "trades_total", s) > t and m, 30, message="sidecar counted it")
        assert side_total(after, "trades_total", side) == trades0 + 1
        assert side_total(after, "volume_total", side) == volume0 + 3
        # Prometheus scrapes exactly the sidecar's new value (how fast is a benchmark's
        # question, not this test's: the deadline only bounds the poll).
        wait_until(lambda e=expr, v=volume0: prom.value(e) == v + 3, 30, 0.1,  # type: ignore[misc]
                   message=f"Prometheus {expr} up by exactly 3")
        shot(page, f"02-{side}")
        seqs.append(seq)
    # The blotter is read back from the sidecar: a reload (a new session) still shows both.
    page.reload()
    page.get_by_text("Sidecar connected").wait_for(timeout=30_000)
    for seq in seqs:
        wait_until(lambda s=seq: blotter_row(page, s), 10, message=f"seq {seq} in the blotter after a reload")  # type: ignore[misc]
    assert table_rows(page, "event_log") == []  # the session's own log did not survive; the blotter did


def test_sidecar_down_warns_counts_drops_and_recovers(stack: dict[str, Any], page: Any) -> None:
    prom = Prometheus(stack["prometheus"], None)  # type: ignore[arg-type]
    dropped0 = ui_drops(stack)

    stop_sidecar(stack)
    # The page re-checks the socket monitor twice a second; how soon it shows is not asserted here.
    page.locator(".st-key-status").get_by_text("Sidecar unreachable — events may be dropped").wait_for(
        timeout=30_000)
    shot(page, "03-sidecar-down")

    # A click while it is down: notified as dropped, and counted in the UI process'
    # own /metrics (which Prometheus scrapes as job trading-app-ui) and on the page.
    notice = click(page, "buy", 1)
    assert notice[:4] == ("Dropped", "buy", 1.0, SYMBOL)
    event_log_shows(page, notice, "dropped: no_peer")
    dropped_row = wait_until(lambda: blotter_row(page, notice[4], "dropped: no_peer"), 30,
                             message="the dropped trade in the blotter")
    assert (dropped_row["side"], dropped_row["qty"], dropped_row["latency_ms"]) == ("buy", "1", "—")
    assert ui_drops(stack) == dropped0 + 1
    page.locator(".st-key-status").get_by_text(f"trades dropped {dropped0 + 1:g} (no_peer {dropped0 + 1:g})") \
        .wait_for(timeout=30_000)
    wait_until(lambda: prom.value('sum(publisher_messages_dropped_total{job="trading-app-ui",type="trade"})')
               == dropped0 + 1, 30,
               message="Prometheus sees the UI's drop")
    shot(page, "04-dropped-while-down")

    sidecar = restart_sidecar(stack)
    page.locator(".st-key-status").get_by_text("Sidecar connected").wait_for(timeout=30_000)
    assert page.get_by_text("Sidecar unreachable").count() == 0
    notice = click(page, "buy", 2)
    assert notice[:4] == ("Emitted", "buy", 2.0, SYMBOL)
    event_log_shows(page, notice, "sent")
    metrics = wait_until(lambda: (m := sidecar_metrics(sidecar.http))
                         and m.get(f'trades_total{{side="buy",symbol="{SYMBOL}"}}', 0) > 0 and m, 30,
                         message="the click after recovery is counted by the new sidecar")
    assert metrics[f'trades_total{{side="buy",symbol="{SYMBOL}"}}'] == 1
    assert metrics[f'volume_total{{side="buy",symbol="{SYMBOL}"}}'] == 2.0
    assert metrics['messages_lost_total{producer="trading-app-ui"}'] == 0  # it started counting after the drop
    wait_until(lambda: blotter_row(page, notice[4]), 30, message="blotter after recovery")
    shot(page, "05-recovered")


def _exited(pid: int) -> bool:
    """Gone, or a zombie the launcher has not reaped yet (it polls every 0.5 s)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_market_and_latency_pages_render_live_data(stack: dict[str, Any], page: Any) -> None:
    from trading_app.telemetry.push import PushPublisher as Publisher

    # What the pages draw, made here: one drop of this UI, then ticks and trades.
    prom = Prometheus(stack["prometheus"], None)  # type: ignore[arg-type]
    dropped0 = ui_drops(stack)
    sidecar, _ = drop_one_click(stack, page)
    with Publisher(stack["zmq"], producer="browser-feed", heartbeat_interval=0) as pub:
        wait_until(lambda: pub.connected, 10, message="feed connected")
        now = time.time()
        for i in range(30):
            pub.tick(SYMBOL, 100.0 + i * 0.5, volume=1.0, ts=now - 30 + i)
        # Two batches of trades with a scrape between them: rate(...[1m]) needs the
        # histogram to grow between two of Prometheus' samples.
        for batch in (1, 2):
            for _ in range(5):
                pub.trade("buy", 1.0, symbol=SYMBOL)
            counted = wait_until(lambda b=batch: (m := sidecar_metrics(sidecar.http))  # type: ignore[misc]
                                 and side_total(m, "trades_total", "buy") == 5 * b and m, 10,
                                 message=f"the feed's trades of batch {batch} counted")
            hops = sum(v for k, v in counted.items() if k.startswith("hop_latency_seconds_count{")
                       and 'type="trade"' in k)
            wait_until(lambda h=hops: prom.value('sum(hop_latency_seconds_count{type="trade"})') == h, 30,  # type: ignore[misc]
                       message="Prometheus scraped the trade latencies")
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
    # p50/p95/p99 over time from Prometheus (the trades above) and the histogram.
    wait_until(lambda: page.locator('[data-testid="stVegaLiteChart"]').count() == 4, 60,
               message="three percentile charts and the histogram drawn")
    assert page.get_by_text("No data yet.").count() == 0
    assert exception_count(page) == 0 and "Traceback" not in page.content()
    rows = wait_until(lambda: len(r := table_rows(page, "recent_quantiles")) == 4 and r, 10,
                      message="recent exact percentiles of the four hops")
    assert [r["hop"] for r in rows] == ["event_to_apply", "event_to_send", "receive_to_apply", "send_to_receive"]
    # The click made while the sidecar was down, in the counts: exactly this UI's total.
    counts = wait_until(lambda: table_rows(page, "latency_counts"), 10, message="loss/drops table")
    shown = {drop_series(r["labels"]): float(r["value"]) for r in counts if r["source"] == "this UI"}
    assert shown[DROP_KEY] == dropped0 + 1
    ui = scrape(stack["ui_metrics"])  # every drop series of this UI (heartbeats too), exactly as it counts them
    assert shown == {k: v for k, v in ui.items() if k.startswith("publisher_messages_dropped_total{") and v}
    page.get_by_role("combobox").last.wait_for()  # the histogram's hop choice, drawn
    shot(page, "07-latency")
