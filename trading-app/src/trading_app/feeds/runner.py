"""Build a feed from settings, and run one in the background of the API process
(``WEBAPP_FEED``) or in the foreground of ``trading-app-feed``."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from ..prices import LastPrices
from ..settings import AppSettings
from ..telemetry.protocol import Publisher
from .base import Feed, FeedStats, TickSink
from .binance import BinanceFeed
from .csv_replay import CsvReplayFeed, ProgressCallback, parse_speed, sample_path
from .exposition import FeedCollector
from .sim import SimFeed

log = logging.getLogger("trading_app.feeds")

SOURCES = ("sim", "csv", "binance")


def csv_paths(settings: AppSettings) -> list[Path]:
    names = [p.strip() for p in settings.feed_csv_path.split(",") if p.strip()]
    paths = [Path(n).expanduser() for n in names] or [sample_path()]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"CSV file not found: {', '.join(missing)} (WEBAPP_FEED_CSV_PATH / --file)")
    return paths


def build_feed(settings: AppSettings, publisher: Publisher, prices: LastPrices | None, source: str,
               count: int | None = None, on_progress: ProgressCallback | None = None) -> Feed:
    """A ready-to-run feed. Bad configuration (a missing file) raises here, at
    start, not later in a background thread."""
    if source not in SOURCES:
        raise ValueError(f"unknown feed source {source!r}; expected one of {', '.join(SOURCES)}")
    stats = FeedStats(source)
    if source == "sim":
        return SimFeed(TickSink(publisher, prices, stats), settings.symbol_list, settings.tps,
                       settings.feed_seed, count)
    if source == "csv":
        # A replay should deliver every row: re-send when the queue is momentarily full.
        feed = CsvReplayFeed(TickSink(publisher, prices, stats, retry_hwm=True), csv_paths(settings),
                             parse_speed(settings.feed_speed), settings.feed_max_gap_seconds,
                             settings.feed_csv_symbol or None, count, on_progress)
        feed.load()
        return feed
    return BinanceFeed(TickSink(publisher, prices, stats), settings.binance_url,
                       settings.feed_backoff_initial_seconds, settings.feed_backoff_max_seconds, count)


def wait_for_sidecar(publisher: Publisher, feed: Feed, timeout: float) -> bool:
    """Wait (interruptibly) until the sidecar is connected: the publisher drops
    messages while it is not (IMMEDIATE), and a replay should not start by
    dropping its first rows."""
    deadline = time.monotonic() + timeout
    while not publisher.connected:
        if feed.stopping or time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


class BackgroundFeed:
    """A feed running in a daemon thread; ``stop()`` ends it and waits briefly."""

    def __init__(self, feed: Feed, publisher: Publisher, connect_timeout: float = 10.0) -> None:
        self.feed = feed
        self.publisher = publisher
        self.connect_timeout = connect_timeout
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"feed-{feed.stats.source}", daemon=True)

    @property
    def stats(self) -> FeedStats:
        return self.feed.stats

    def collector(self) -> FeedCollector:
        """``feed_*`` metrics for the host process' /metrics registry."""
        return FeedCollector(self.feed.stats)

    def start(self) -> BackgroundFeed:
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            wait_for_sidecar(self.publisher, self.feed, self.connect_timeout)
            self.feed.run()
        except Exception as exc:  # a feed bug must not take the API down with it
            self.error = exc
            log.exception("feed %s stopped with an error", self.feed.stats.source)

    def stop(self, timeout: float = 5.0) -> None:
        self.feed.stop()
        self.thread.join(timeout)
        if self.thread.is_alive():
            log.warning("feed %s did not stop within %.1fs", self.feed.stats.source, timeout)


def start_background_feed(settings: AppSettings, publisher: Publisher, prices: LastPrices) -> BackgroundFeed:
    feed = build_feed(settings, publisher, prices, settings.feed)
    log.info("starting %s feed in the background", settings.feed)
    return BackgroundFeed(feed, publisher).start()
