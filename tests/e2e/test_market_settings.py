"""The analytics parameters come from settings (docs/configuration.md): a real
sidecar started with other window lengths, SMA length and EW half-life reports
and exports exactly those, and computes with them (SMA over 3 ticks, a 2 s
window that evicts after 1-2 s, EW volume halving every 5 s)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from telemetry_testkit.procs import Service, start_sidecar, wait_until
from telemetry_testkit.prom import scrape
from telemetry_testkit.sockets import push_socket

ENV = {
    "SIDECAR_ANALYTICS_SHORT_WINDOW_SECONDS": "2",
    "SIDECAR_ANALYTICS_LONG_WINDOW_SECONDS": "120",
    "SIDECAR_ANALYTICS_SMA_TICKS": "3",
    "SIDECAR_ANALYTICS_EW_HALF_LIFE_SECONDS": "5",
}
PRICES = [10.0, 11.0, 12.5, 12.0, 14.0]


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = start_sidecar(tmp_path_factory.mktemp("market-settings"), ENV)
    yield service
    service.kill()


def get(sidecar: Service, path: str) -> Any:
    r = httpx.get(sidecar.http + path, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_windows_sma_and_half_life_follow_the_settings(sidecar: Service) -> None:
    with push_socket(sidecar.zmq) as push:
        sent = time.time()
        for i, price in enumerate(PRICES):
            push.send(json.dumps({"type": "tick", "symbol": "SET", "price": price, "volume": 1.0 + i,
                                  "ts": sent}).encode())
        for qty in (1.0, 2.0, 3.0, 4.0):
            push.send(json.dumps({"type": "trade", "side": "buy", "qty": qty, "ts": sent}).encode())
        wait_until(lambda: sum(s["windows"]["2m"]["trades"] for s in get(sidecar, "/analytics/sides")["sides"]) == 4,
                   10, message="4 trades in the long window")
        seen = time.time()

    view = get(sidecar, "/symbols/SET")
    a = view["analytics"]
    assert set(a["windows"]) == {"2s", "2m"}
    assert (a["sma_ticks"], a["sma"]) == (3, pytest.approx(np.mean(PRICES[-3:]), rel=1e-12))
    assert a["volatility_ticks"] == pytest.approx(np.std(np.diff(np.log(PRICES[-3:])), ddof=1), rel=1e-9)
    assert a["windows"]["2m"]["tick_rate"] == pytest.approx(5 / 120)

    first = get(sidecar, "/analytics/sides")
    assert first["half_life_seconds"] == 5.0
    buy = next(s for s in first["sides"] if s["side"] == "buy")
    assert set(buy["windows"]) == {"2s", "2m"}
    # Received between ``sent`` and ``seen``: the EW volume is 10 decayed by that age, in half-lives of 5 s.
    assert 10 * 0.5 ** ((first["as_of"] - sent) / 5) <= buy["ew_volume"] <= 10 * 0.5 ** ((first["as_of"] - seen) / 5)

    # No trade since: one read a second later has decayed by exactly 2 ** (-elapsed / 5).
    wait_until(lambda: time.time() > first["as_of"] + 1.0, 5, message="a second")
    later = get(sidecar, "/analytics/sides")
    buy_later = next(s for s in later["sides"] if s["side"] == "buy")
    elapsed = later["as_of"] - first["as_of"]
    assert buy_later["ew_volume"] == pytest.approx(buy["ew_volume"] * 0.5 ** (elapsed / 5), rel=1e-9)

    # The 2 s window holds the events of the current and the previous second: it
    # evicts them one to two seconds after they arrived; the 2 m window keeps them.
    def evicted() -> dict[str, Any] | None:
        sides = get(sidecar, "/analytics/sides")
        windows = next(s for s in sides["sides"] if s["side"] == "buy")["windows"]
        return sides if windows["2s"]["trades"] == 0 else None

    gone = wait_until(evicted, 10, message="the 2 s window empty")
    assert gone["as_of"] >= math.floor(sent) + 2
    windows = next(s for s in gone["sides"] if s["side"] == "buy")["windows"]
    assert (windows["2m"]["trades"], windows["2m"]["volume"]) == (4, 10.0)
    ticks = get(sidecar, "/symbols/SET")["analytics"]["windows"]
    assert (ticks["2s"]["ticks"], ticks["2m"]["ticks"], ticks["2m"]["volume"]) == (0, 5, 15.0)

    m = scrape(sidecar.http + "/metrics/")
    assert m['trades_rolling{side="buy",window="2m"}'] == 4
    assert m['trades_rolling{side="buy",window="2s"}'] == 0
    assert m['symbol_sma_price{symbol="SET"}'] == pytest.approx(np.mean(PRICES[-3:]), rel=1e-12)
    assert m['symbol_ticks_per_second{symbol="SET",window="2m"}'] == pytest.approx(5 / 120)
    assert not [k for k in m if 'window="1m"' in k or 'window="5m"' in k]
