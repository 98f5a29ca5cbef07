"""Lossless mode, sidecar side: ``kill -9`` the sidecar several times while
100,000 reliable messages are sent. After the last restart every counter equals
exactly what was sent, and no scrape ever saw a counter go backwards."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import cast

from telemetry_testkit.procs import wait_until
from telemetry_testkit.reliable import RestartableSidecar, Scraper, total
from trading_app.telemetry.reliable import ReliablePublisher
from trading_app.telemetry.stats import OutboxStats

N = 100_000
KILLS = 3
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def test_kill9_sidecar_mid_stream_loses_nothing_and_never_goes_backwards(tmp_path: Path) -> None:
    # Snapshots every second: kills land before, during and after snapshots, and replay stays short.
    sidecar = RestartableSidecar(tmp_path, {"SIDECAR_SNAPSHOT_INTERVAL_SECONDS": "1"})
    sidecar.start()
    # Every counter a kill could rewind: counts, volumes, received, duplicates, histograms' counts.
    scraper = Scraper(sidecar, ("trades_total", "volume_total", "messages_received_total",
                                "messages_duplicate_total", "messages_lost_total", "trade_latency_seconds_count",
                                "hop_latency_seconds_count", "sidecar_ingest_batches_total"))
    pub = ReliablePublisher(sidecar.reliable, tmp_path / "outbox.sqlite", producer="kill9", heartbeat_interval=0,
                            ack_timeout=0.5, max_backoff=2.0)
    accepted: list[int] = []

    def publish_all() -> None:
        ok = 0
        for i in range(N):
            ok += pub.trade("buy" if i % 2 else "sell", 1.0, symbol=SYMBOLS[i % 3]).queued
        accepted.append(ok)

    publisher = threading.Thread(target=publish_all, daemon=True)
    try:
        scraper.start()
        publisher.start()
        for k in range(1, KILLS + 1):
            # Kill at a quarter, half and three quarters of the delivery: always mid-stream.
            wait_until(lambda k=k: total(sidecar.metrics(), "trades_total") >= k * N / (KILLS + 1), 60,  # type: ignore[misc]
                       message=f"{k}/{KILLS + 1} delivered")
            # Freeze first, then wait until batches sent after the freeze sit unread in the
            # kernel: the kill then provably costs in-flight messages (not only if timing is kind).
            sidecar.freeze()
            sent_at_freeze = pub.sender.stats.messages_sent
            wait_until(lambda n=sent_at_freeze + 100: pub.sender.stats.messages_sent >= n or bool(accepted), 60,  # type: ignore[misc]
                       message="the publisher sent into the frozen sidecar")
            sidecar.kill9()
            sidecar.start()
        publisher.join(60)
        assert accepted == [N]
        final = wait_until(lambda: (m := sidecar.metrics()) and total(m, "trades_total") == N and m, 60,
                           message=f"all {N} trades counted")
        scraper.stop()
        # After a graceful restart (final snapshot, nothing to replay) the numbers are the same.
        assert sidecar.stop() == 0
        sidecar.start()
        again = sidecar.metrics()
    finally:
        if sidecar.service is not None:
            sidecar.kill9()  # first: nothing below may leave a process running on the shared machine
        scraper.stop()
        pub.close(drain_seconds=0)

    assert total(final, "trades_total") == N
    assert total(final, "volume_total") == float(N)
    assert final['messages_received_total{type="trade"}'] == N
    assert final['messages_lost_total{producer="kill9"}'] == 0
    for symbol in SYMBOLS:  # every series exact, not only the sum
        expected_buy = sum(1 for i in range(N) if i % 3 == SYMBOLS.index(symbol) and i % 2)
        assert final[f'trades_total{{side="buy",symbol="{symbol}"}}'] == expected_buy
        assert final[f'trades_total{{side="sell",symbol="{symbol}"}}'] == N // 3 + (SYMBOLS.index(symbol) < N % 3) \
            - expected_buy
    assert scraper.backwards() == [], "a scrape saw a counter go backwards"
    assert len(scraper.scrapes) > 20 and scraper.failures > 0  # it really scraped across the restarts
    assert max(scraper.values("trades_total")) <= N  # never more than was sent, in any scrape
    assert cast(OutboxStats, pub.stats().outbox).resent > 0  # the kills really cost in-flight messages
    assert total(again, "trades_total") == N and again['messages_lost_total{producer="kill9"}'] == 0
    assert again["messages_duplicate_total"] == final["messages_duplicate_total"]
