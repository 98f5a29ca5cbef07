"""Last known price per symbol, fed by the market feeds, so a trade without an
explicit price is marked at the market."""

from __future__ import annotations

import threading


class LastPrices:
    def __init__(self) -> None:
        self._prices: dict[str, float] = {}
        self._lock = threading.Lock()

    def update(self, symbol: str, price: float) -> None:
        with self._lock:
            self._prices[symbol] = price

    def get(self, symbol: str | None) -> float | None:
        if symbol is None:
            return None
        with self._lock:
            return self._prices.get(symbol)

    def all(self) -> dict[str, float]:
        with self._lock:
            return dict(self._prices)
