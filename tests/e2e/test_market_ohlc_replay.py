"""OHLC bars of a real sidecar process fed through real ZeroMQ sockets, read from
GET /symbols/{id}/ohlc, against pandas ``resample`` (left-closed, left-labelled,
UTC) of the same ticks, for every timeframe and its alias:

- the shipped Stooq sample (testdata/csv/aapl.us.csv), each row sent as a tick at
  its own timestamp (read as UTC): 312 ticks over four trading days;
- the same file replayed by the real ``trading-app-feed --source csv`` process
  (event time re-based to now), checked against the ticks GET /history returns;

and the active bar is reported closed at its boundary although no later tick
arrives.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import zmq

from telemetry_testkit.procs import BIN, REPO, Service, running_sidecar, start_ready, wait_until
from telemetry_testkit.sockets import push_socket

SAMPLE = REPO / "testdata" / "csv" / "aapl.us.csv"
TIMEFRAMES = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400}
ALIASES = {"M1": "1m", "M5": "5m", "M15": "15m", "H1": "1h", "H4": "4h", "D1": "1d"}
ENV = {
    "SIDECAR_TICK_MAX_AGE_SECONDS": "1000000000",  # the sample is from May 2024
    "SIDECAR_ANALYTICS_OHLC_BARS": "1000",
    "SIDECAR_ANALYTICS_HISTORY_SIZE": "1000",
}


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_sidecar(tmp_path_factory.mktemp("ohlc-replay"), ENV) as service:
        yield service


@pytest.fixture(scope="module")
def push(sidecar: Service) -> Iterator[zmq.Socket]:
    with push_socket(sidecar.zmq) as sock:
        yield sock


def get(sidecar: Service, path: str, **params: Any) -> Any:
    r = httpx.get(sidecar.http + path, params=params, timeout=10)
    assert r.status_code == 200, (path, params, r.text)
    return r.json()


def wait_ticks(sidecar: Service, symbol: str, n: int) -> None:
    def applied() -> bool:
        r = httpx.get(f"{sidecar.http}/symbols/{symbol}", timeout=10)
        return r.status_code == 200 and r.json()["ticks"] == n

    wait_until(applied, 20, message=f"{n} ticks of {symbol} applied")


def sample_ticks() -> pd.DataFrame:
    raw = pd.read_csv(SAMPLE)
    at = pd.to_datetime(raw["Date"] + " " + raw["Time"], utc=True)
    return pd.DataFrame({"ts": (at - pd.Timestamp(0, tz="UTC")).dt.total_seconds(), "price": raw["Close"].astype(float),
                         "volume": raw["Volume"].astype(float)})


def resample(ticks: pd.DataFrame, seconds: int) -> pd.DataFrame:
    df = ticks.copy()
    df.index = pd.to_datetime((df["ts"] * 1e6).round().astype("int64"), unit="us", utc=True)
    df["turnover"] = df["price"] * df["volume"]
    bars = df.resample(f"{seconds}s", label="left", closed="left").agg(
        open=("price", "first"), high=("price", "max"), low=("price", "min"), close=("price", "last"),
        volume=("volume", "sum"), ticks=("price", "count"), turnover=("turnover", "sum"))
    bars = bars[bars["ticks"] > 0]  # pandas fills empty periods with NaN rows; the sidecar has no bar
    bars.insert(0, "start", pd.DatetimeIndex(bars.index).as_unit("us").asi8 / 1e6)
    return bars.reset_index(drop=True)


def assert_bars_equal(body: dict[str, Any], expected: pd.DataFrame, span: int, where: str) -> None:
    got = body["bars"]
    assert len(got) == len(expected), f"{where}: {len(got)} bars, pandas has {len(expected)}"
    rows: list[dict[Any, Any]] = expected.to_dict("records")
    for b, e in zip(got, rows, strict=True):
        assert (b["start"], b["end"], b["open"], b["high"], b["low"], b["close"], b["ticks"]) == (
            e["start"], e["start"] + span, e["open"], e["high"], e["low"], e["close"], e["ticks"]), (where, b)
        assert b["start"] % span == 0, (where, b)  # aligned to UTC boundaries
        assert b["volume"] == pytest.approx(e["volume"], rel=1e-12), (where, b)
        vwap = None if e["volume"] == 0 else pytest.approx(e["turnover"] / e["volume"], rel=1e-12)
        assert b["vwap"] == vwap, (where, b)
        assert b["closed"] == (b["end"] <= body["as_of"]), (where, b)


def test_sample_bars_equal_pandas_resample_for_every_timeframe(sidecar: Service, push: zmq.Socket) -> None:
    ticks = sample_ticks()
    assert len(ticks) == 312 and ticks["ts"].is_monotonic_increasing
    for ts, price, volume in zip(ticks["ts"].tolist(), ticks["price"].tolist(), ticks["volume"].tolist(),
                                 strict=True):
        push.send(json.dumps({"type": "tick", "symbol": "AAPL.US", "price": price, "volume": volume, "ts": ts,
                              "source": "csv"}).encode())
    wait_ticks(sidecar, "AAPL.US", 312)
    counts = {}
    for name, span in TIMEFRAMES.items():
        expected = resample(ticks, span)
        body = get(sidecar, "/symbols/AAPL.US/ohlc", timeframe=name, limit=1000)
        assert (body["symbol"], body["timeframe"], body["limit"]) == ("AAPL.US", name, 1000)
        assert_bars_equal(body, expected, span, name)
        assert all(b["closed"] for b in body["bars"])  # May 2024: every bar is over, no later tick needed
        counts[name] = len(body["bars"])
        alias = next(a for a, n in ALIASES.items() if n == name)
        by_alias = get(sidecar, "/symbols/AAPL.US/ohlc", timeframe=alias, limit=1000)
        assert by_alias["timeframe"] == name and by_alias["bars"] == body["bars"], alias
        tail = get(sidecar, "/symbols/AAPL.US/ohlc", timeframe=name, limit=3)["bars"]
        assert tail == body["bars"][-3:], name
    # Five-minute rows from 15:35 to 22:00 (the file's clock): one tick per 1m and 5m bar, 27 quarter
    # hours, 8 hours (15:00 to 22:00) and 3 four-hour bars (12:00, 16:00, 20:00) per day, four days.
    assert counts == {"1m": 312, "5m": 312, "15m": 108, "1h": 32, "4h": 12, "1d": 4}
    history = get(sidecar, "/symbols/AAPL.US/history", limit=1000)["ticks"]
    assert [(h["ts"], h["price"], h["volume"]) for h in history] == list(
        ticks[["ts", "price", "volume"]].itertuples(index=False, name=None))


def test_feed_replay_bars_equal_pandas_resample_of_the_received_ticks(sidecar: Service, tmp_path: Path) -> None:
    feed = start_ready("trading-app-feed", [str(BIN / "trading-app-feed"), "--source", "csv", "--file", str(SAMPLE),
                                            "--speed", "max", "--symbol", "AAPLFEED", "--no-progress"],
                       {"WEBAPP_ZMQ_ADDR": sidecar.zmq}, tmp_path / "feed")
    assert feed.popen.wait(30) == 0, feed.log()
    wait_ticks(sidecar, "AAPLFEED", 312)
    history = get(sidecar, "/symbols/AAPLFEED/history", limit=1000)["ticks"]
    ticks = pd.DataFrame(history)
    closes = pd.read_csv(SAMPLE)["Close"].astype(float).tolist()
    assert ticks["price"].tolist() == closes  # row for row, in file order
    for name, span in TIMEFRAMES.items():
        body = get(sidecar, "/symbols/AAPLFEED/ohlc", timeframe=name, limit=1000)
        assert_bars_equal(body, resample(ticks, span), span, f"feed {name}")
        assert sum(b["ticks"] for b in body["bars"]) == 312


@pytest.mark.slow  # waits for the next minute boundary (up to 60 s)
def test_active_bar_closes_at_its_boundary_without_a_new_tick(sidecar: Service, push: zmq.Socket) -> None:
    sent = time.time()
    push.send(json.dumps({"type": "tick", "symbol": "QUIETBAR", "price": 7.25, "volume": 4.0, "ts": sent}).encode())
    wait_ticks(sidecar, "QUIETBAR", 1)
    start = math.floor(sent / 60) * 60.0
    bar = {"start": start, "end": start + 60, "open": 7.25, "high": 7.25, "low": 7.25, "close": 7.25,
           "volume": 4.0, "ticks": 1, "vwap": 7.25}
    seen_open = seen_closed = 0
    deadline = start + 60 + 5
    while True:
        body = get(sidecar, "/symbols/QUIETBAR/ohlc", timeframe="1m", limit=10)
        assert len(body["bars"]) == 1, body  # no tick: no new bar, the old one stays as it was
        got = body["bars"][0]
        assert {k: got[k] for k in bar} == bar
        if body["as_of"] < bar["end"]:
            assert got["closed"] is False
            seen_open += 1
        else:
            # The first read at or after the boundary already says closed.
            assert got["closed"] is True, body
            seen_closed += 1
            break
        assert time.time() < deadline, "the wall clock did not pass the bar's end"
        time.sleep(min(0.1, max(0.0, bar["end"] - time.time())))
    assert seen_open >= 1 and seen_closed == 1
    # The higher timeframes close at their own (later) boundaries, not at the minute's.
    for name, span in TIMEFRAMES.items():
        body = get(sidecar, "/symbols/QUIETBAR/ohlc", timeframe=name)
        (got,) = body["bars"]
        assert got["start"] == math.floor(sent / span) * span and got["ticks"] == 1
        assert got["closed"] == (got["start"] + span <= body["as_of"]), name
    # The next tick opens a new bar; the closed one keeps its values.
    push.send(json.dumps({"type": "tick", "symbol": "QUIETBAR", "price": 8.0, "ts": time.time()}).encode())
    wait_ticks(sidecar, "QUIETBAR", 2)
    bars = get(sidecar, "/symbols/QUIETBAR/ohlc", timeframe="1m")["bars"]
    assert [b["start"] for b in bars] == [start, bars[1]["start"]] and bars[1]["start"] >= start + 60
    assert {k: bars[0][k] for k in bar} == bar and bars[0]["closed"] and not bars[1]["closed"]
    assert (bars[1]["open"], bars[1]["close"], bars[1]["ticks"]) == (8.0, 8.0, 1)
    assert np.isclose(bars[1]["volume"], 0.0) and bars[1]["vwap"] is None
