"""Several sidecars: ``WEBAPP_ZMQ_ADDR`` lists two endpoints, the publisher shards
by crc32(symbol) with a seq per endpoint. Two real sidecar processes: totals
across both equal what was sent, each symbol lives on exactly one, and stopping
one shows up as drops and loss for its shard only."""

from __future__ import annotations

import threading
import zlib
from pathlib import Path

from telemetry_testkit.procs import wait_until
from telemetry_testkit.reliable import RestartableSidecar, total
from trading_app.telemetry.protocol import Published
from trading_app.telemetry.push import PushPublisher as Publisher
from trading_app.telemetry.reliable import ReliablePublisher

SYMBOLS = [f"SYM{i}" for i in range(24)]


def shard_of(symbol: str) -> int:
    """The documented mapping: crc32 of the symbol modulo the number of endpoints."""
    return zlib.crc32(symbol.encode()) % 2


def publish_rounds(pub: Publisher | ReliablePublisher, rounds: int) -> list[Published]:
    return [pub.trade("buy", 1.0, symbol=symbol) for _ in range(rounds) for symbol in SYMBOLS]


def per_symbol(metrics: dict[str, float]) -> dict[str, float]:
    return {s: metrics[key] for s in SYMBOLS if (key := f'trades_total{{side="buy",symbol="{s}"}}') in metrics}


def test_fire_and_forget_shards_by_symbol_and_a_stopped_sidecar_costs_only_its_shard(tmp_path: Path) -> None:
    assert {shard_of(s) for s in SYMBOLS} == {0, 1}
    sidecars = [RestartableSidecar(tmp_path / name, reliable_channel=False) for name in ("a", "b")]
    for sidecar in sidecars:
        sidecar.start()
    a, b = sidecars
    pub = Publisher(f"{a.zmq},{b.zmq}", producer="shard", heartbeat_interval=0)
    try:
        wait_until(lambda: pub.connected, 10, message="both sidecars connected")
        phase1 = publish_rounds(pub, 50)
        assert all(r.queued for r in phase1)
        wait_until(lambda: total(a.metrics(), "trades_total") + total(b.metrics(), "trades_total") == len(phase1),
                   20, message="phase 1 counted")
        on_a, on_b = per_symbol(a.metrics()), per_symbol(b.metrics())
        assert on_a == {s: 50 for s in SYMBOLS if shard_of(s) == 0}  # each symbol on exactly one sidecar
        assert on_b == {s: 50 for s in SYMBOLS if shard_of(s) == 1}

        assert b.stop() == 0  # graceful: B's state is snapshotted
        wait_until(lambda: not pub.endpoint_status()[b.zmq], 10, message="B seen disconnected")
        phase2 = publish_rounds(pub, 50)
        dropped = [r for r in phase2 if not r.queued]
        assert len(dropped) == sum(1 for r in phase2 if shard_of(r.message["symbol"]) == 1)  # all of B's shard
        assert {r.reason for r in dropped} == {"no_peer"}
        assert all(r.queued for r in phase2 if shard_of(r.message["symbol"]) == 0)  # A's shard untouched
        assert pub.stats().dropped == {("trade", "no_peer"): len(dropped)}

        b.start()  # same ports, same state: its counters and per-instance seq continue
        wait_until(lambda: pub.endpoint_status()[b.zmq], 10, message="B reconnected")
        phase3 = publish_rounds(pub, 50)
        assert all(r.queued for r in phase3)
        sent_a = sum(1 for r in phase1 + phase2 + phase3 if r.queued and shard_of(r.message["symbol"]) == 0)
        sent_b = sum(1 for r in phase1 + phase2 + phase3 if r.queued and shard_of(r.message["symbol"]) == 1)
        ma = wait_until(lambda: (m := a.metrics()) and total(m, "trades_total") == sent_a and m, 20,
                        message="A counted its shard")
        mb = wait_until(lambda: (m := b.metrics()) and total(m, "trades_total") == sent_b and m, 20,
                        message="B counted its shard")
    finally:
        for sidecar in sidecars:
            sidecar.kill9()
        pub.close()

    assert total(ma, "trades_total") + total(mb, "trades_total") == len(phase1 + phase2 + phase3) - len(dropped)
    assert ma['messages_lost_total{producer="shard"}'] == 0
    # B's seq gap is exactly what the publisher dropped for its shard while it was down.
    assert mb['messages_lost_total{producer="shard"}'] == len(dropped)
    assert set(per_symbol(ma)) == {s for s in SYMBOLS if shard_of(s) == 0}
    assert set(per_symbol(mb)) == {s for s in SYMBOLS if shard_of(s) == 1}


def test_reliable_two_sidecars_one_killed_every_shard_exact(tmp_path: Path) -> None:
    sidecars = [RestartableSidecar(tmp_path / name) for name in ("a", "b")]
    for sidecar in sidecars:
        sidecar.start()
    a, b = sidecars
    pub = ReliablePublisher(f"{a.reliable},{b.reliable}", tmp_path / "outbox.sqlite", producer="rshard",
                            heartbeat_interval=0, ack_timeout=0.5)
    rounds = 800  # 19,200 messages
    results: list[Published] = []
    publisher = threading.Thread(target=lambda: results.extend(publish_rounds(pub, rounds)), daemon=True)
    try:
        publisher.start()
        wait_until(lambda: total(b.metrics(), "trades_total") >= 2_000, 30, message="B under way")
        b.kill9()
        b.start()
        publisher.join(60)
        assert len(results) == rounds * len(SYMBOLS) and all(r.queued for r in results)
        ma = wait_until(lambda: (m := a.metrics()) and total(m, "trades_total") == rounds * 12 and m, 30,
                        message="A's shard complete")
        mb = wait_until(lambda: (m := b.metrics()) and total(m, "trades_total") == rounds * 12 and m, 30,
                        message="B's shard complete")
    finally:
        for sidecar in sidecars:
            sidecar.kill9()
        pub.close(drain_seconds=0)

    assert sum(shard_of(s) for s in SYMBOLS) == 12  # 12 symbols per shard
    assert per_symbol(ma) == {s: rounds for s in SYMBOLS if shard_of(s) == 0}
    assert per_symbol(mb) == {s: rounds for s in SYMBOLS if shard_of(s) == 1}
    assert ma['messages_lost_total{producer="rshard"}'] == mb['messages_lost_total{producer="rshard"}'] == 0
