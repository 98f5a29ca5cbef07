"""Simulated market: one geometric Brownian motion per symbol.

``S(t+dt) = S(t) * exp((mu - sigma^2 / 2) dt + sigma sqrt(dt) Z)``, Z ~ N(0, 1),
with mu and sigma per year. The exact solution (not an Euler step) keeps prices
positive for any dt, and log returns are exactly normal: the unit tests check
their mean and variance for a seed.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

from .base import Feed, TickSink

SECONDS_PER_YEAR = 365.0 * 24 * 3600  # crypto trades around the clock
DEFAULT_SIGMA = 0.8  # annual volatility of a typical crypto pair
DEFAULT_MU = 0.0
# Realistic starting levels so dashboards look familiar; unknown symbols start at 100.
START_PRICES = {"BTCUSDT": 65_000.0, "ETHUSDT": 3_200.0, "SOLUSDT": 150.0, "BNBUSDT": 580.0,
                "XRPUSDT": 0.52, "AAPL.US": 190.0, "MSFT.US": 420.0}


@dataclass
class GbmWalk:
    """One symbol's price path. ``rng`` is shared so one seed fixes every symbol."""

    price: float
    rng: random.Random
    mu: float = DEFAULT_MU
    sigma: float = DEFAULT_SIGMA

    def step(self, dt_seconds: float) -> float:
        dt = dt_seconds / SECONDS_PER_YEAR
        z = self.rng.gauss(0.0, 1.0)
        self.price *= math.exp((self.mu - 0.5 * self.sigma**2) * dt + self.sigma * math.sqrt(dt) * z)
        return self.price


def walks_for(symbols: list[str], seed: int | None, sigma: float = DEFAULT_SIGMA) -> dict[str, GbmWalk]:
    rng = random.Random(seed)
    return {s: GbmWalk(START_PRICES.get(s.upper(), 100.0), rng, sigma=sigma) for s in symbols}


class SimFeed(Feed):
    """``tps`` ticks per second per symbol, paced against a monotonic schedule
    (no drift: a slow round is followed by an immediate one, not a late one)."""

    source = "sim"

    def __init__(self, sink: TickSink, symbols: list[str], tps: float, seed: int | None = None,
                 count: int | None = None) -> None:
        super().__init__(sink, count)
        if not symbols:
            raise ValueError("the sim feed needs at least one symbol")
        if tps <= 0:
            raise ValueError("tps must be > 0")
        self.symbols = symbols
        self.tps = tps
        self.walks = walks_for(symbols, seed)
        self._volume_rng = random.Random(None if seed is None else seed + 1)

    def run(self) -> None:
        interval = 1.0 / self.tps
        started = time.monotonic()
        rounds = 0
        while not self.done():
            for symbol in self.symbols:
                if self.done():
                    return
                price = self.walks[symbol].step(interval)
                volume = round(self._volume_rng.expovariate(1.0), 6)
                self.sink.emit(symbol, price, volume)
            rounds += 1
            delay = started + rounds * interval - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
