"""The market-data API of a real sidecar process fed through a real ZeroMQ PUSH
socket: exact values for a scripted symbol, history and OHLC with their caps,
bad parameters (4xx with the reason), unknown symbols (404), the per-side
analytics against the counters, the gauges on /metrics/, OpenAPI, and the
analytics switched off."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import zmq

from telemetry_testkit.procs import Service, running_sidecar, wait_until
from telemetry_testkit.prom import scrape
from telemetry_testkit.sockets import push_socket

ENV = {
    "SIDECAR_TICK_MAX_AGE_SECONDS": "100000",  # the OHLC test replays ticks from two hours ago
    "SIDECAR_ANALYTICS_SMA_TICKS": "5",
    "SIDECAR_ANALYTICS_HISTORY_SIZE": "50",
    "SIDECAR_ANALYTICS_OHLC_BARS": "30",
}
PRICES = [100.0, 101.0, 99.0, 102.0, 104.0, 103.0, 101.0, 105.0]
VOLUMES = [1.0, 2.0, 0.0, 1.0, 3.0, 1.0, 2.0, 1.0]


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_sidecar(tmp_path_factory.mktemp("market-api"), ENV) as service:
        yield service


@pytest.fixture(scope="module")
def push(sidecar: Service) -> Iterator[zmq.Socket]:
    with push_socket(sidecar.zmq) as sock:
        yield sock


def send(push: zmq.Socket, *messages: dict[str, Any]) -> None:
    for message in messages:
        push.send(json.dumps(message).encode())


def get(sidecar: Service, path: str, **params: Any) -> httpx.Response:
    return httpx.get(sidecar.http + path, params=params, timeout=10)


def view_when(sidecar: Service, symbol: str, ticks: int, trades: int) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        r = get(sidecar, f"/symbols/{symbol}")
        body: dict[str, Any] = r.json()
        return body if r.status_code == 200 and (body["ticks"], body["trades"]) == (ticks, trades) else None

    return wait_until(ready, 10, message=f"{symbol}: {ticks} ticks and {trades} trades applied")


@pytest.fixture(scope="module")
def scripted(sidecar: Service, push: zmq.Socket) -> tuple[list[float], dict[str, Any]]:
    """BTC/USD (a symbol with a slash): 8 ticks half a second apart, then a priced buy
    and an unpriced sell (filled at the last tick)."""
    t0 = time.time() - 8
    times = [t0 + 0.5 * i for i in range(len(PRICES))]
    send(push, *[{"type": "tick", "symbol": "BTC/USD", "price": p, "volume": v, "ts": t, "source": "test"}
                 for t, p, v in zip(times, PRICES, VOLUMES, strict=True)])
    send(push, {"type": "trade", "side": "buy", "qty": 2, "ts": time.time(), "symbol": "BTC/USD", "price": 100.0},
         {"type": "trade", "side": "sell", "qty": 1, "ts": time.time(), "symbol": "BTC/USD"})
    return times, view_when(sidecar, "BTC/USD", 8, 2)


def test_symbol_view_has_the_exact_analytics(scripted: tuple[list[float], dict[str, Any]]) -> None:
    times, view = scripted
    prices, volumes = np.array(PRICES), np.array(VOLUMES)
    assert (view["symbol"], view["price"], view["last_tick_ts"]) == ("BTC/USD", 105.0, times[-1])
    a = view["analytics"]
    assert a["sma_ticks"] == 5 and a["sma"] == pytest.approx(prices[-5:].mean(), rel=1e-12)
    assert a["volatility_ticks"] == pytest.approx(np.std(np.diff(np.log(prices[-5:])), ddof=1), rel=1e-9)
    w = a["windows"]["1m"]
    vwap = float((prices * volumes).sum() / volumes.sum())
    vol = float(np.std(np.diff(np.log(prices)), ddof=1))
    assert (w["ticks"], w["returns"], w["volume"]) == (8, 7, float(volumes.sum()))
    assert w["tick_rate"] == pytest.approx(8 / 60)
    assert w["vwap"] == pytest.approx(vwap, rel=1e-12)
    assert w["volatility"] == pytest.approx(vol, rel=1e-6)
    assert w["volatility_annualised"] == pytest.approx(vol * math.sqrt(7 / 60 * 365 * 86400), rel=1e-6)
    assert w["max_drawdown"] == pytest.approx(float((1 - prices / np.maximum.accumulate(prices)).max()), rel=1e-12)
    assert a["windows"]["5m"]["ticks"] == 8
    same_day = math.floor(times[0] / 86400) == math.floor(view["as_of"] / 86400)
    if same_day:  # a run that straddles 00:00 UTC starts a new session
        assert a["vwap_session"] == pytest.approx(vwap, rel=1e-12)
    # buy 2 @ 100, sell 1 at the last tick (105): realized 5, 1 left marked at 105.
    assert view["position"] == {"qty": 1.0, "avg_cost": 100.0, "realized_pnl": 5.0, "unrealized_pnl": 5.0,
                                "total_pnl": 10.0, "mark_price": 105.0, "trades": 2, "unpriced_trades": 0}


def test_gauges_on_metrics_match_the_view(sidecar: Service, scripted: tuple[list[float], dict[str, Any]]) -> None:
    _, view = scripted
    m = scrape(sidecar.http + "/metrics/")
    s = 'symbol="BTC/USD"'
    assert m[f"symbol_sma_price{{{s}}}"] == view["analytics"]["sma"]
    assert m[f'symbol_vwap_price{{{s},window="1m"}}'] == view["analytics"]["windows"]["1m"]["vwap"]
    assert m[f'symbol_max_drawdown_ratio{{{s},window="5m"}}'] == view["analytics"]["windows"]["5m"]["max_drawdown"]
    assert m[f"position_quantity{{{s}}}"] == 1.0
    assert m[f"pnl_realized{{{s}}}"] == 5.0
    assert m[f"pnl_unrealized{{{s}}}"] == 5.0


def test_symbols_lists_price_and_tick_time(sidecar: Service, push: zmq.Socket,
                                           scripted: tuple[list[float], dict[str, Any]]) -> None:
    times, _ = scripted
    send(push, {"type": "trade", "side": "buy", "qty": 1, "ts": time.time(), "symbol": "ONLYTRADES", "price": 3.0})
    view_when(sidecar, "ONLYTRADES", 0, 1)
    rows = {r["symbol"]: r for r in get(sidecar, "/symbols").json()["symbols"]}
    assert rows["BTC/USD"] == {"symbol": "BTC/USD", "price": 105.0, "last_tick_ts": times[-1], "ticks": 8,
                               "trades": 2}
    assert rows["ONLYTRADES"] == {"symbol": "ONLYTRADES", "price": None, "last_tick_ts": None, "ticks": 0,
                                  "trades": 1}
    assert get(sidecar, "/symbols/BTC%2FUSD").json()["price"] == 105.0  # percent-encoded slash
    only = get(sidecar, "/symbols/ONLYTRADES").json()
    assert only["analytics"] is None and only["position"]["unrealized_pnl"] is None


def test_history_is_capped_and_validated(sidecar: Service, push: zmq.Socket) -> None:
    t0 = time.time() - 30
    send(push, *[{"type": "tick", "symbol": "HIST", "price": 10.0 + i, "volume": i, "ts": t0 + 0.1 * i}
                 for i in range(80)])
    view_when(sidecar, "HIST", 80, 0)
    last3 = get(sidecar, "/symbols/HIST/history", limit=3).json()
    assert last3 == {"symbol": "HIST", "limit": 3, "ticks": [
        {"ts": t0 + 0.1 * i, "price": 10.0 + i, "volume": float(i)} for i in (77, 78, 79)]}
    capped = get(sidecar, "/symbols/HIST/history", limit=10**6).json()
    assert capped["limit"] == 50 and [p["price"] for p in capped["ticks"]] == [10.0 + i for i in range(30, 80)]
    assert len(get(sidecar, "/symbols/HIST/history").json()["ticks"]) == 50  # default 1000, capped
    for bad in ("0", "-1", "lots", "1.5"):
        r = get(sidecar, "/symbols/HIST/history", limit=bad)
        assert r.status_code == 422 and "limit" in r.text, bad
    r = get(sidecar, "/symbols/NOPE/history")
    assert r.status_code == 404 and "unknown symbol 'NOPE'" in r.json()["detail"][0]["message"]
    r = get(sidecar, "/symbols/bad$sym/history")
    assert r.status_code == 404 and "not a valid symbol" in r.json()["detail"][0]["message"]


def test_ohlc_bars(sidecar: Service, push: zmq.Socket) -> None:
    hour = math.floor((time.time() - 7200) / 3600) * 3600
    old = [(hour + 30.0 + 20.0 * k, 50.0 + (k * 7) % 5, 1.0 + k % 3) for k in range(12)]  # minutes 0-4
    now_tick = (time.time(), 60.0, 2.0)
    send(push, *[{"type": "tick", "symbol": "BARS", "price": p, "volume": v, "ts": t} for t, p, v in
                 (*old, now_tick)])
    view_when(sidecar, "BARS", 13, 0)
    body = get(sidecar, "/symbols/BARS/ohlc", timeframe="1m", limit=100).json()
    assert (body["symbol"], body["timeframe"], body["limit"]) == ("BARS", "1m", 30)
    expected: dict[float, list[float]] = {}
    for t, p, v in (*old, now_tick):
        start = math.floor(t / 60) * 60.0
        bar = expected.setdefault(start, [p, p, p, p, 0.0, 0.0, 0.0])
        bar[1], bar[2], bar[3] = max(bar[1], p), min(bar[2], p), p
        bar[4] += v
        bar[5] += 1
        bar[6] += p * v
    assert [(b["start"], b["open"], b["high"], b["low"], b["close"], b["volume"], b["ticks"]) for b in body["bars"]] \
        == [(s, o, h, lo, c, v, n) for s, (o, h, lo, c, v, n, _) in expected.items()]
    for b in body["bars"]:
        assert b["end"] == b["start"] + 60 and b["closed"] == (b["end"] <= body["as_of"])
        assert b["vwap"] == pytest.approx(expected[b["start"]][6] / expected[b["start"]][4], rel=1e-12)
    assert all(b["closed"] for b in body["bars"][:-1])  # two hours old: closed without a later tick
    hourly = get(sidecar, "/symbols/BARS/ohlc", timeframe="H1").json()
    assert hourly["timeframe"] == "1h" and hourly["bars"] == get(sidecar, "/symbols/BARS/ohlc",
                                                                  timeframe="1h").json()["bars"]
    assert hourly["bars"][0]["start"] == hour and hourly["bars"][0]["ticks"] == 12 and hourly["bars"][0]["closed"]
    two = get(sidecar, "/symbols/BARS/ohlc", limit=2).json()["bars"]
    assert [b["start"] for b in two] == [b["start"] for b in body["bars"][-2:]]
    r = get(sidecar, "/symbols/BARS/ohlc", timeframe="2m")
    assert r.status_code == 422 and "'1m', '5m', '15m', '1h', '4h', '1d'" in r.text
    assert get(sidecar, "/symbols/BARS/ohlc", limit=0).status_code == 422
    assert get(sidecar, "/symbols/NOPE/ohlc").status_code == 404


def test_unknown_symbol_is_404(sidecar: Service) -> None:
    r = get(sidecar, "/symbols/NOPE")
    assert r.status_code == 404 and r.json()["detail"][0]["message"].startswith("unknown symbol 'NOPE'")


def test_side_analytics_agree_with_the_counters(sidecar: Service, push: zmq.Socket) -> None:
    send(push, *[{"type": "trade", "side": "sell" if i % 3 == 0 else "buy", "qty": 0.5 + i % 4, "ts": time.time()}
                 for i in range(30)])
    m = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/"))
                   and m.get('trades_total{side="sell",symbol=""}') == 10 and m, 10, message="30 seed trades")
    body = get(sidecar, "/analytics/sides").json()
    sides = {s["side"]: s for s in body["sides"]}
    assert body["half_life_seconds"] == 60.0
    for side in ("buy", "sell"):
        count = sum(v for k, v in m.items() if k.startswith(f'trades_total{{side="{side}"'))
        volume = sum(v for k, v in m.items() if k.startswith(f'volume_total{{side="{side}"'))
        assert sides[side]["windows"]["5m"]["trades"] == count == m[f'trades_rolling{{side="{side}",window="5m"}}']
        assert sides[side]["windows"]["5m"]["volume"] == pytest.approx(volume, rel=1e-12)
        assert 0 < sides[side]["ew_volume"] <= volume
        assert sides[side]["windows"]["5m"]["burstiness"] is not None  # at least 3 trades per side


def test_openapi_documents_every_endpoint(sidecar: Service) -> None:
    spec = get(sidecar, "/openapi.json").json()
    models = {"/symbols": "SymbolList", "/symbols/{symbol}": "SymbolView", "/symbols/{symbol}/history": "History",
              "/symbols/{symbol}/ohlc": "Ohlc", "/analytics/sides": "Sides"}
    for path, model in models.items():
        ok = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        # /history and /ohlc also answer for a symbol ending in /history or /ohlc (docs/api.md)
        alternatives = ok["anyOf"] if path.endswith(("/history", "/ohlc")) else [ok]
        assert alternatives[0] == {"$ref": f"#/components/schemas/{model}"}, path
        assert alternatives[1:] in ([], [{"$ref": "#/components/schemas/SymbolView"}]), path
        assert model in spec["components"]["schemas"]
    stream = spec["paths"]["/stream"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    assert {p["name"] for p in stream["parameters"]} == {"symbols", "max_rate"}
    assert "503" in stream["responses"]


def test_analytics_off(tmp_path: Path) -> None:
    with running_sidecar(tmp_path / "off", {"SIDECAR_ANALYTICS": "false"}) as service, \
            push_socket(service.zmq) as sock:
        send(sock, {"type": "tick", "symbol": "A", "price": 2.0, "ts": time.time()},
             {"type": "trade", "side": "buy", "qty": 1, "ts": time.time(), "symbol": "A", "price": 2.0})
        view = view_when(service, "A", 1, 1)
        assert (view["price"], view["analytics"], view["position"]) == (2.0, None, None)
        for path in ("/symbols/A/history", "/symbols/A/ohlc", "/stream", "/analytics/sides"):
            r = get(service, path)
            assert r.status_code == 503 and "SIDECAR_ANALYTICS=false" in r.json()["detail"][0]["message"], path
        metrics = scrape(service.http + "/metrics/")
        assert metrics['trades_total{side="buy",symbol="A"}'] == 1
        assert not [k for k in metrics if k.startswith(("symbol_", "pnl_", "trades_rolling", "market_stream"))]
