"""OHLC bars replayed from a CSV of ticks equal the bars pandas ``resample``
computes from the same CSV (label and closed on the left, UTC), for every
timeframe; the ring keeps only the newest bars; aliases name the same bars."""

from __future__ import annotations

import csv
import math
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metrics_sidecar.analytics.engine import AnalyticsEngine
from metrics_sidecar.analytics.ohlc import ALIASES, TIMEFRAMES
from metrics_sidecar.decode import Tick
from metrics_sidecar.settings import Settings

START = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC: not on any bar boundary


class Table:
    def __init__(self) -> None:
        self.symbols: dict[str, object] = {}
        self.trades: dict[tuple[str, str], list[float]] = {}


def write_csv(path: Path, seed: int, days: float) -> None:
    """A random walk with quiet stretches (hours with no tick) and bursts, ms timestamps."""
    rng = random.Random(seed)
    t, price = START, 100.0
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["ts", "price", "volume"])
        while t < START + days * 86400:
            gap = rng.uniform(0, 7200) if rng.random() < 0.005 else rng.expovariate(1 / rng.choice([2, 30]))
            t = round(t + gap, 3)
            price = round(price * math.exp(rng.gauss(0, 0.002)), 4)
            # Land exactly on boundaries now and then: a boundary tick opens the next bar.
            if rng.random() < 0.02:
                t = float(math.ceil(t / 60) * 60)
            out.writerow([repr(t), repr(price), repr(round(rng.uniform(0, 5), 3))])


def replay(path: Path, bars: int) -> AnalyticsEngine:
    table = Table()
    table.symbols["BTCUSDT"] = object()
    engine = AnalyticsEngine(Settings(analytics_ohlc_bars=bars), table)
    with path.open() as f:
        for row in csv.DictReader(f):
            tick = Tick(symbol="BTCUSDT", price=float(row["price"]), volume=float(row["volume"]), ts=float(row["ts"]))
            tick.ts_s = float(row["ts"])
            engine.inbox.append(tick)  # what TelemetryState.apply does
    return engine


def pandas_bars(path: Path, seconds: int) -> pd.DataFrame:
    df = pd.read_csv(path)
    df.index = pd.to_datetime((df["ts"] * 1000).round().astype("int64"), unit="ms", utc=True)
    df["turnover"] = df["price"] * df["volume"]
    bars = df.resample(f"{seconds}s", label="left", closed="left").agg(
        open=("price", "first"), high=("price", "max"), low=("price", "min"), close=("price", "last"),
        volume=("volume", "sum"), ticks=("price", "count"), turnover=("turnover", "sum"))
    bars = bars[bars["ticks"] > 0]  # empty periods: pandas gives NaN rows, the book gives no bar
    bars.insert(0, "start", bars.index.as_unit("s").asi8)  # type: ignore[attr-defined]
    return bars.reset_index(drop=True)


@pytest.fixture(scope="module")
def ticks_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ohlc") / "ticks.csv"
    write_csv(path, seed=5, days=3.5)
    return path


@pytest.mark.parametrize("name", list(TIMEFRAMES))
def test_bars_equal_pandas_resample(ticks_csv: Path, name: str) -> None:
    span = TIMEFRAMES[name]
    engine = replay(ticks_csv, bars=10_000)
    got = np.array(engine.bars("BTCUSDT", span, 10_000))
    expected = pandas_bars(ticks_csv, span)
    assert len(expected) > 3, "the stream must span several bars of every timeframe"
    assert got.shape == (len(expected), 8)
    cols = ["start", "open", "high", "low", "close", "volume", "ticks", "turnover"]
    for i, col in enumerate(cols):
        np.testing.assert_allclose(got[:, i], expected[col].to_numpy(dtype=float), rtol=1e-12, atol=1e-9,
                                   err_msg=f"{name} {col}")
    # UTC alignment: every start is a multiple of the timeframe.
    assert all(start % span == 0 for start in got[:, 0])


def test_ring_keeps_the_newest_bars_and_limit_takes_the_tail(ticks_csv: Path) -> None:
    engine = replay(ticks_csv, bars=25)
    expected = pandas_bars(ticks_csv, 60)
    got = engine.bars("BTCUSDT", 60, 1000)
    assert got is not None
    # 25 closed bars in the ring plus the one still being built.
    assert [row[0] for row in got] == expected["start"].tolist()[-26:]
    assert engine.bars("BTCUSDT", 60, 3) == got[-3:]
    assert engine.bars("BTCUSDT", 60, 0) == []
    assert engine.bars("NOPE", 60, 3) is None


def test_aliases_name_the_same_timeframes() -> None:
    assert {alias: TIMEFRAMES[name] for alias, name in ALIASES.items()} == {
        "M1": 60, "M5": 300, "M15": 900, "H1": 3600, "H4": 14400, "D1": 86400}


def test_single_tick_and_boundary(tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    path.write_text(f"ts,price,volume\n{START + 39.999!r},10.0,1.0\n{START + 40.0!r},11.0,2.0\n")
    (tmp_path / "none.csv").write_text("ts,price,volume\n")
    assert replay(tmp_path / "none.csv", bars=10).bars("BTCUSDT", 60, 5) is None  # no tick yet
    # 22:13:59.999, then 22:14:00.000 exactly: a new minute.
    engine = replay(path, bars=10)
    m1 = engine.bars("BTCUSDT", 60, 5)
    assert m1 is not None
    assert [(b[0], b[1], b[4], b[6]) for b in m1] == [(START - 20, 10.0, 10.0, 1.0), (START + 40, 11.0, 11.0, 1.0)]
    assert engine.bars("BTCUSDT", 300, 5) == [[START - 200, 10.0, 11.0, 10.0, 11.0, 3.0, 2.0, 32.0]]  # 22:10
    assert engine.bars("BTCUSDT", 86400, 1) == [[START - START % 86400, 10.0, 11.0, 10.0, 11.0, 3.0, 2.0, 32.0]]
