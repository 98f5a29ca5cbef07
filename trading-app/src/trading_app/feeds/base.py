"""What every feed shares: where its ticks go (publisher + last prices), the
counters it keeps, and how it is stopped from another thread or a signal."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..prices import LastPrices
from ..telemetry.protocol import Publisher

# A replay at max speed can outrun the publisher's queue (queue_full; reliable:
# nothing to retry). A dropped tick consumes a seq (the sidecar counts it as lost,
# honestly), then is re-sent a few times with a short pause, so a replay still
# delivers every row it can.
RETRY_REASONS = ("queue_full", "hwm")
HWM_RETRIES = 50
HWM_RETRY_PAUSE_SECONDS = 0.002


@dataclass
class FeedStats:
    """Counters a feed keeps; read by the CLI summary and the API's /metrics."""

    source: str
    ticks_sent: int = 0  # queued to ZeroMQ
    ticks_dropped: int = 0  # publish() gave up (no sidecar, queue full, closed)
    skipped: dict[str, int] = field(default_factory=dict)  # bad input by reason
    reconnects: int = 0  # binance: connections after the first one
    disconnects: int = 0  # binance: established connections that were lost
    connect_failures: int = 0  # binance: connection attempts that failed
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def skip(self, reason: str) -> None:
        with self._lock:
            self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"source": self.source, "ticks_sent": self.ticks_sent, "ticks_dropped": self.ticks_dropped,
                    "skipped": dict(self.skipped), "reconnects": self.reconnects,
                    "disconnects": self.disconnects, "connect_failures": self.connect_failures}


class TickSink:
    """Publishes one tick and records it as the symbol's last price."""

    def __init__(self, publisher: Publisher, prices: LastPrices | None, stats: FeedStats,
                 retry_hwm: bool = False) -> None:
        self.publisher = publisher
        self.prices = prices
        self.stats = stats
        self.retry_hwm = retry_hwm

    def emit(self, symbol: str, price: float, volume: float, ts: float | None = None,
             event_id: str | None = None, stop: threading.Event | None = None) -> bool:
        """True when the tick was queued. ``ts`` None means now."""
        if self.prices is not None:
            self.prices.update(symbol, price)
        source = self.stats.source
        result = self.publisher.tick(symbol, price, volume, source=source, ts=ts, event_id=event_id)
        retries = HWM_RETRIES if self.retry_hwm else 0
        while not result.queued and result.reason in RETRY_REASONS and retries > 0:
            if stop is not None and stop.is_set():
                break
            retries -= 1
            time.sleep(HWM_RETRY_PAUSE_SECONDS)
            result = self.publisher.tick(symbol, price, volume, source=source, ts=ts, event_id=event_id)
        if result.queued:
            self.stats.ticks_sent += 1
        else:
            self.stats.ticks_dropped += 1
        return result.queued


class Feed:
    """Base: ``run()`` blocks in the calling thread until the feed ends, ``count``
    ticks were emitted, or ``stop()`` is called (from any thread or a signal)."""

    source = "unknown"

    def __init__(self, sink: TickSink, count: int | None = None) -> None:
        self.sink = sink
        self.stats = sink.stats
        self.count = count
        self._stop = threading.Event()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    def done(self) -> bool:
        """Stop requested, or the requested number of ticks is out."""
        return self._stop.is_set() or (self.count is not None and self.emitted >= self.count)

    @property
    def emitted(self) -> int:
        return self.stats.ticks_sent + self.stats.ticks_dropped

    def run(self) -> None:
        raise NotImplementedError
