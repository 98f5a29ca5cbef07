"""``trading-app-feed --source sim`` as a real process into a real sidecar:
exact tick counts, seeded prices, and a clean SIGTERM with nothing lost."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from telemetry_testkit.procs import BIN, Service, start_ready, wait_until
from telemetry_testkit.prom import scrape
from trading_app.feeds.sim import walks_for


def start_feed(tmp_path: Path, sidecar: Service, *args: str) -> Service:
    return start_ready("trading-app-feed", [str(BIN / "trading-app-feed"), *args],
                       {"WEBAPP_ZMQ_ADDR": sidecar.zmq}, tmp_path / "feed")


def done_line(feed: Service, timeout: float = 10.0) -> dict[str, Any]:
    """Wait for the process to exit 0 and return its JSON ``done`` line."""
    assert feed.popen.wait(timeout) == 0, feed.log()
    line = wait_until(lambda: next((s for s in feed.lines if '"event": "done"' in s), None), 5,
                      message="done line")
    return dict(json.loads(line))


def ticks(metrics: dict[str, float], source: str) -> dict[str, float]:
    prefix = f'ticks_total{{source="{source}",symbol="'
    return {k[len(prefix):-2]: v for k, v in metrics.items() if k.startswith(prefix)}


def test_count_ticks_arrive_exactly_with_the_seeded_prices(tmp_path: Path, sidecar: Service) -> None:
    feed = start_feed(tmp_path, sidecar, "--source", "sim", "--symbols", "BTCUSDT,ETHUSDT", "--tps", "200",
                      "--count", "100", "--seed", "11")
    done = done_line(feed)
    assert (done["ticks_sent"], done["ticks_dropped"]) == (100, 0), (done["publisher_dropped"], feed.log())
    metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/")) and sum(ticks(m, "sim").values()) == 100
                         and m, 10, message="100 sim ticks")
    assert ticks(metrics, "sim") == {"BTCUSDT": 50, "ETHUSDT": 50}
    walks = walks_for(["BTCUSDT", "ETHUSDT"], seed=11)
    expected = {}
    for _ in range(50):
        for symbol in ("BTCUSDT", "ETHUSDT"):
            expected[symbol] = walks[symbol].step(1 / 200)
    assert metrics['tick_last_price{symbol="BTCUSDT"}'] == expected["BTCUSDT"]
    assert metrics['tick_last_price{symbol="ETHUSDT"}'] == expected["ETHUSDT"]
    assert metrics['messages_lost_total{producer="trading-app-feed"}'] == 0
    assert metrics['messages_invalid_total{reason="stale"}'] == 0
    assert metrics['ticks_out_of_order_total{symbol="BTCUSDT"}'] == 0


def test_sigterm_stops_cleanly_and_every_sent_tick_arrives(tmp_path: Path, sidecar: Service) -> None:
    feed = start_feed(tmp_path, sidecar, "--source", "sim", "--symbols", "SOLUSDT", "--tps", "100")
    wait_until(lambda: ticks(scrape(sidecar.http + "/metrics/"), "sim").get("SOLUSDT", 0) >= 20, 10,
               message="some ticks")
    feed.popen.send_signal(signal.SIGTERM)
    done = done_line(feed, timeout=5)
    sent = done["ticks_sent"]
    assert sent >= 20 and done["ticks_dropped"] == 0
    metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/"))
                         and ticks(m, "sim").get("SOLUSDT") == sent and m, 10, message=f"{sent} ticks")
    assert metrics['messages_lost_total{producer="trading-app-feed"}'] == 0
