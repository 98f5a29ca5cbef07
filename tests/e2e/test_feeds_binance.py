"""The Binance relay as a real process (the CLI, and the API's background feed)
against a local WebSocket server speaking Binance's trade-stream format (these
machines have no internet), into a real sidecar: exact counts and last price
across a dropped connection, reconnects counted, malformed messages skipped."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.server import ServerConnection

from telemetry_testkit.binance_ws import LocalStream
from telemetry_testkit.procs import BIN, Service, start_api, start_ready, wait_until
from telemetry_testkit.prom import scrape


def trade(t: int, price: str, symbol: str = "BTCUSDT", qty: str = "0.002") -> str:
    ms = int(time.time() * 1000)
    return json.dumps({"e": "trade", "E": ms, "s": symbol, "t": t, "p": price, "q": qty, "T": ms,
                       "m": False, "M": True})


def btc_ticks(sidecar: Service) -> float:
    return scrape(sidecar.http + "/metrics/").get('ticks_total{source="binance",symbol="BTCUSDT"}', 0)


def test_cli_relays_across_a_dropped_connection(tmp_path: Path, sidecar: Service) -> None:
    async def handler(ws: ServerConnection, index: int) -> None:
        if index == 0:
            for msg in (trade(1001, "64000.01"), "{not json", trade(1002, "64000.02"),
                        json.dumps({"e": "trade", "s": "BTCUSDT", "p": "1"}), trade(1003, "64000.03")):
                await ws.send(msg)
            # Drop the TCP connection mid-stream (no close frame) once the first
            # three ticks are in the sidecar, so none are in flight when it drops.
            await asyncio.to_thread(wait_until, lambda: btc_ticks(sidecar) == 3, 10, 0.05, "3 ticks")
            ws.transport.abort()
        else:
            for t in range(1004, 1009):
                await ws.send(trade(t, f"64000.{t - 1000:02d}"))
            await ws.wait_closed()

    server = LocalStream(handler)
    try:
        feed = start_ready("trading-app-feed",
                           [str(BIN / "trading-app-feed"), "--source", "binance", "--url", server.url,
                            "--count", "8"],
                           {"WEBAPP_ZMQ_ADDR": sidecar.zmq, "WEBAPP_FEED_BACKOFF_INITIAL_SECONDS": "0.05"},
                           tmp_path / "feed")
        assert feed.popen.wait(20) == 0, feed.log()
        line = wait_until(lambda: next((s for s in feed.lines if '"event": "done"' in s), None), 5,
                          message="done line")
    finally:
        server.close()
    done: dict[str, Any] = json.loads(line)
    assert (done["ticks_sent"], done["reconnects"], done["disconnects"]) == (8, 1, 1)
    assert done["skipped"] == {"bad_json": 1, "missing_field": 1}
    assert server.connections == 2
    metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/"))
                         and m.get('ticks_total{source="binance",symbol="BTCUSDT"}') == 8 and m, 10,
                         message="8 binance ticks")
    assert metrics['tick_last_price{symbol="BTCUSDT"}'] == 64000.08
    assert metrics['messages_lost_total{producer="trading-app-feed"}'] == 0
    assert metrics["messages_duplicate_total"] == 0
    assert metrics['messages_invalid_total{reason="stale"}'] == 0


def test_api_background_feed_reports_its_reconnects(tmp_path: Path, sidecar: Service) -> None:
    async def handler(ws: ServerConnection, index: int) -> None:
        if index == 0:  # a clean close after two trades, like Binance's 24-hour disconnect
            await ws.send(trade(1, "3100.5", symbol="ETHUSDT"))
            await ws.send(trade(2, "3100.75", symbol="ETHUSDT"))
            await ws.close(1001, "going away")
        else:
            for t, price in ((3, "3101"), (4, "3101.25"), (5, "3099.5")):
                await ws.send(trade(t, price, symbol="ETHUSDT"))
            await ws.wait_closed()

    server = LocalStream(handler)
    api = start_api(tmp_path, sidecar.zmq, {"WEBAPP_FEED": "binance", "WEBAPP_BINANCE_URL": server.url,
                                            "WEBAPP_FEED_BACKOFF_INITIAL_SECONDS": "0.05"})
    try:
        key = 'ticks_total{source="binance",symbol="ETHUSDT"}'
        metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/")) and m.get(key) == 5 and m, 15,
                             message="5 ticks from the API's feed")
        assert metrics['tick_last_price{symbol="ETHUSDT"}'] == 3099.5
        assert metrics['messages_lost_total{producer="trading-app-api"}'] == 0
        own = scrape(api.http + "/metrics")
        assert own['feed_reconnects_total{source="binance"}'] == 1
        assert own['feed_disconnects_total{source="binance"}'] == 1
        assert own['feed_ticks_sent_total{source="binance"}'] == 5
        assert own['feed_ticks_dropped_total{source="binance"}'] == 0
        # A trade without a price is marked at the feed's last price.
        accepted = httpx.post(api.http + "/trade/buy", json={"qty": 1, "symbol": "ETHUSDT"}).json()
        assert accepted["message"]["price"] == 3099.5
        assert api.stop(timeout=5) == 0  # stops the feed while its connection is open
    finally:
        api.kill()
        server.close()
    assert server.connections == 2
