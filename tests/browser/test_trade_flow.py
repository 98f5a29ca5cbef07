"""The UI in real headless Chromium, against the whole loop started the way the
README's run command starts it (scripts/launch.py, OS-chosen ports): clicks show
up in the sidecar and in a real Prometheus; a stopped sidecar is announced and
its return is noticed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from support.procs import REPO, require_binary, start_sidecar, wait_until
from support.prom import Prometheus, scrape

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_binary("prometheus")
    run_dir = tmp_path_factory.mktemp("loop")
    proc = subprocess.Popen([sys.executable, str(REPO / "scripts" / "launch.py"), "--ports", "auto",
                             "--run-dir", str(run_dir)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "WEBAPP_DELIVERY": "fire_and_forget"})
    info: dict[str, Any] = {}
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if line.startswith('{"event": "ready"'):
            info = json.loads(line)
            break
        if time.monotonic() > deadline:
            break
    assert info, "launcher did not become ready"
    info["run_dir"] = run_dir
    try:
        yield info
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        for extra in info.get("extra", []):
            extra.kill()


@pytest.fixture(scope="module")
def page(stack: dict[str, Any]) -> Iterator[Any]:
    chromium = require_binary("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(stack["ui"])
        yield page
        browser.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def metric(url: str, key: str) -> float:
    return scrape(url + "/metrics/").get(key, 0.0)


def click_trade(page: Any, side: str, qty: int) -> None:
    quantity = page.get_by_label("Quantity")
    quantity.fill(str(qty))
    quantity.press("Enter")
    page.get_by_role("button", name=side.capitalize(), exact=True).click()


def test_buy_and_sell_reach_sidecar_and_prometheus(stack: dict[str, Any], page: Any) -> None:
    prom = Prometheus(stack["prometheus"], None)  # type: ignore[arg-type]
    page.get_by_text("Sidecar connected").wait_for(timeout=30_000)
    prom.wait_for_targets_up(30)
    shot(page, "01-connected")
    for side in ("buy", "sell"):
        key = f'volume_total{{side="{side}",symbol="BTCUSDT"}}'
        before = metric(stack["sidecar"], key)
        click_trade(page, side, 3)
        clicked = time.time()
        page.get_by_text(f"Emitted {side} 3 BTCUSDT").first.wait_for(timeout=10_000)
        # The event log shows the exact message; the sidecar panel shows it arrived.
        log_table = page.locator("table").first
        assert side in log_table.inner_text() and "3.0" in log_table.inner_text()
        wait_until(lambda s=side: page.locator("table").nth(1).inner_text().count(s) >= 1, 5,
                   message="received-by-sidecar panel shows the trade")
        wait_until(lambda k=key, b=before: metric(stack["sidecar"], k) == b + 3, 5, message=f"{side} volume +3")
        expr = f'sum(volume_total{{side="{side}"}})'
        wait_until(lambda e=expr, b=before: prom.value(e) == b + 3, 1.0 + 1.0 + 1.0, 0.05,
                   message=f"Prometheus {expr} +3 within one scrape + 1 s")
        assert time.time() - clicked < 10
        shot(page, f"02-{side}")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(REPO / "docs" / "screenshots" / "trade-page.png"), full_page=False)


def test_sidecar_down_warns_counts_drops_and_recovers(stack: dict[str, Any], page: Any) -> None:
    page.get_by_text("Sidecar connected").wait_for(timeout=30_000)
    os.kill(stack["pids"]["metrics-sidecar"], signal.SIGKILL)
    stopped = time.monotonic()
    page.get_by_text("Sidecar unreachable").wait_for(timeout=5_000)
    assert time.monotonic() - stopped <= 2.5  # the monitor reports DISCONNECTED in ms; the page polls every 1 s
    shot(page, "03-sidecar-down")
    click_trade(page, "buy", 1)
    page.get_by_text("Dropped buy 1 BTCUSDT").first.wait_for(timeout=10_000)
    page.get_by_text("trades dropped 1").wait_for(timeout=5_000)
    # ... and in the UI process' own /metrics, which Prometheus scrapes as job trading-app-ui.
    ui_metrics = scrape(stack["ui_metrics"])
    assert ui_metrics['publisher_messages_dropped_total{reason="no_peer",type="trade"}'] == 1

    zmq_port = stack["zmq"].rsplit(":", 1)[1]
    http_port = stack["sidecar"].rsplit(":", 1)[1]
    sidecar = start_sidecar(stack["run_dir"] / "sidecar2", {"SIDECAR_ZMQ_BIND": f"tcp://127.0.0.1:{zmq_port}",
                                                           "SIDECAR_PORT": http_port})
    stack.setdefault("extra", []).append(sidecar)
    page.get_by_text("Sidecar connected").wait_for(timeout=10_000)
    click_trade(page, "buy", 2)
    page.get_by_text("Emitted buy 2 BTCUSDT").first.wait_for(timeout=10_000)
    wait_until(lambda: metric(sidecar.http, 'trades_total{side="buy",symbol="BTCUSDT"}') == 1, 10,
               message="the click after recovery is counted by the new sidecar")
    shot(page, "04-recovered")


def test_market_and_latency_pages_render_live_data(stack: dict[str, Any], page: Any) -> None:
    from trading_app.publisher import Publisher

    with Publisher(stack["zmq"], producer="browser-feed", heartbeat_interval=0) as pub:
        wait_until(lambda: pub.connected, 10, message="feed connected")
        now = time.time()
        for i in range(30):
            pub.tick("BTCUSDT", 100.0 + i * 0.5, volume=1.0, ts=now - 30 + i)
        pub.close(linger=2.0)
    base = stack["ui"].rstrip("/")
    page.goto(base + "/market")
    page.get_by_text("Last price").first.wait_for(timeout=30_000)
    page.get_by_text("114.5000").first.wait_for(timeout=10_000)
    page.get_by_text("OHLC 1m").wait_for(timeout=10_000)
    assert page.locator("canvas, svg").count() > 0  # charts rendered
    assert "Traceback" not in page.content() and "Error" not in page.locator("body").inner_text()[:2000]
    shot(page, "05-market")
    page.goto(base + "/latency")
    page.get_by_text("Recent exact percentiles (ms)").wait_for(timeout=30_000)
    page.get_by_text("p99 per hop (ms)").wait_for(timeout=30_000)
    wait_until(lambda: page.locator("canvas, svg").count() > 0, 20, message="latency charts drawn")
    assert "Traceback" not in page.content()
    shot(page, "06-latency")
    page.screenshot(path=str(REPO / "docs" / "screenshots" / "latency-page.png"), full_page=True)
