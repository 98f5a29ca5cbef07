"""The live stack the dashboard tests query: a real Prometheus (1 s scrape,
every rule file loaded) scraping a real sidecar and a real trading-app API, fed
trades (seed and with symbols) from the API and from a real Publisher, which
also sends ticks for two symbols (one >10 % spike) and heartbeats, plus one
invalid frame; a reliable-mode publisher (``dashboard-reliable``, heartbeats only)
answers the sidecar's clock probes, so the round-trip clock offset and its error
bound exist (it sorts first, so it is the one producer a single-value selection
picks). ``stack`` is a module-scoped fixture: import it into the test
module (each module gets its own stack)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import zmq

from telemetry_testkit.procs import Service, start_api, start_sidecar, wait_until
from telemetry_testkit.prom import Prometheus, scrape, start_prometheus
from trading_app.telemetry.push import PushPublisher as Publisher
from trading_app.telemetry.reliable import ReliablePublisher

RELIABLE_PRODUCER = "dashboard-reliable"


@dataclass
class Stack:
    sidecar: Service
    api: Service
    prom: Prometheus
    last_trade_window: tuple[float, float]  # wall clock just before and after the last trade was sent


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("dashboards")
    sidecar = start_sidecar(tmp / "sidecar", {"SIDECAR_STATE_DIR": str(tmp / "state"),
                                              "SIDECAR_RELIABLE_BIND": "tcp://127.0.0.1:0"})
    api = start_api(tmp / "api", sidecar.zmq)
    prom = start_prometheus(tmp / "prom", {
        "metrics-sidecar": (sidecar.http.removeprefix("http://"), "/metrics/"),
        "trading-app-api": (api.http.removeprefix("http://"), "/metrics"),
    })
    publisher = Publisher(sidecar.zmq, producer="dashboard-test", heartbeat_interval=0.5)
    reliable = ReliablePublisher(str(sidecar.info["reliable"]), tmp / "outbox.db", producer=RELIABLE_PRODUCER,
                                 heartbeat_interval=0.5)
    ctx = zmq.Context()
    raw = ctx.socket(zmq.PUSH)
    raw.setsockopt(zmq.LINGER, 0)
    try:
        wait_until(lambda: httpx.get(api.http + "/health").json()["sidecar_connected"], 10, message="API connected")
        assert publisher.wait_connected(10)
        # Traffic after the first scrape, so rates and quantiles see it change.
        prom.wait_for_targets_up()
        publisher.trade("buy", 1.0)  # seed message: no symbol
        publisher.trade("buy", 0.5, symbol="BTCUSDT", price=100.0)
        publisher.trade("sell", 2.0, symbol="ETHUSDT", price=10.0)
        for symbol, price in [("BTCUSDT", 100.0), ("ETHUSDT", 10.0), ("BTCUSDT", 101.0), ("ETHUSDT", 10.1),
                              ("BTCUSDT", 120.0)]:  # 101 -> 120 is an 18.8 % spike
            assert publisher.tick(symbol, price, volume=1.0).queued
        assert httpx.post(f"{api.http}/trade/buy", data={"qty": "1"}).status_code == 303
        before_last = time.time()
        assert httpx.post(f"{api.http}/trade/sell", json={"qty": 3, "symbol": "BTCUSDT"}).status_code == 202
        after_last = time.time()
        raw.connect(sidecar.zmq)
        raw.send(b"{not json")
        wait_until(lambda: scrape(sidecar.http + "/metrics/").get('messages_invalid_total{reason="bad_json"}') == 1
                   and scrape(sidecar.http + "/metrics/").get('ticks_total{source="sim",symbol="BTCUSDT"}') == 3,
                   10, message="sidecar applied the traffic")
        error = f'producer_clock_offset_error_seconds{{producer="{RELIABLE_PRODUCER}"}}'
        wait_until(lambda: error in scrape(sidecar.http + "/metrics/"), 15, message="a round-trip clock offset")
        yield Stack(sidecar, api, prom, (before_last, after_last))
    finally:
        raw.close()
        ctx.term()
        publisher.close()
        reliable.close()
        prom.stop()
        api.kill()
        sidecar.kill()
