"""Symbols whose names end in ``/history`` or ``/ohlc`` (issue 18, finding 11) are
readable on a real sidecar as docs/api.md says: percent-encoded always, and
unencoded when the shorter name is not a symbol itself; the sub-resources of
such a symbol and of its prefix keep working."""

from __future__ import annotations

import json
import time

import httpx
import zmq

from telemetry_testkit.procs import Service, wait_until


def send_tick(push: zmq.Socket, symbol: str, price: float) -> None:
    push.send(json.dumps({"type": "tick", "symbol": symbol, "price": price, "volume": 1, "ts": time.time()}).encode())


def get(sidecar: Service, path: str) -> httpx.Response:
    return httpx.get(sidecar.http + path, timeout=10)


def test_symbols_ending_in_history_or_ohlc_are_readable(sidecar: Service, push: zmq.Socket) -> None:
    send_tick(push, "X/history", 11.0)
    send_tick(push, "Y/ohlc", 12.0)
    send_tick(push, "Z", 13.0)
    send_tick(push, "Z/history", 14.0)
    wait_until(lambda: {s["symbol"] for s in get(sidecar, "/symbols").json()["symbols"]}
               == {"X/history", "Y/ohlc", "Z", "Z/history"}, 10, message="four symbols")
    for path, symbol, price in [
        ("/symbols/X/history", "X/history", 11.0),  # X is not a symbol: the whole name is meant
        ("/symbols/X%2Fhistory", "X/history", 11.0),
        ("/symbols/X%2fhistory", "X/history", 11.0),
        ("/symbols/Y/ohlc", "Y/ohlc", 12.0),
        ("/symbols/Y%2Fohlc", "Y/ohlc", 12.0),
        ("/symbols/Z%2Fhistory", "Z/history", 14.0),  # Z is a symbol too: encoding says which is meant
    ]:
        r = get(sidecar, path)
        assert r.status_code == 200, (path, r.text)
        assert (r.json()["symbol"], r.json()["price"]) == (symbol, price), path
    # Unencoded, with both Z and Z/history known: Z's history (docs/api.md).
    z = get(sidecar, "/symbols/Z/history").json()
    assert (z["symbol"], [t["price"] for t in z["ticks"]]) == ("Z", [13.0])
    # The sub-resources of a symbol ending in /history or /ohlc.
    for path, symbol, price in [("/symbols/X/history/history", "X/history", 11.0),
                                ("/symbols/X%2Fhistory/history", "X/history", 11.0),
                                ("/symbols/Z/history/history", "Z/history", 14.0)]:
        body = get(sidecar, path).json()
        assert (body["symbol"], [t["price"] for t in body["ticks"]]) == (symbol, [price]), path
    bars = get(sidecar, "/symbols/Y/ohlc/ohlc").json()
    assert (bars["symbol"], [b["close"] for b in bars["bars"]]) == ("Y/ohlc", [12.0])
    # Still unknown is still 404, in the one error shape.
    r = get(sidecar, "/symbols/W%2Fhistory")
    assert r.status_code == 404 and r.json()["detail"][0]["field"] == "path.symbol"
