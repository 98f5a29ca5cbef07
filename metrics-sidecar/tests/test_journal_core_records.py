"""The journal of the batch ingest (format 3): the core hands over binary records
once per call, never a Python object or call per event, and a restart replays
them through the core to exactly the state that was shown (apply times,
refusals, dedup, the recent events). Old formats replay; newer ones and damage
inside an intact frame are refused or skipped cleanly, and counted."""

from __future__ import annotations

import logging
import random
import threading
import time
from pathlib import Path

import pytest

from metrics_sidecar import reasons, snapshot
from metrics_sidecar.decode import decode
from metrics_sidecar.exposition import write_state
from metrics_sidecar.journal import (
    FORMAT_VERSION,
    CoreRec,
    EventRec,
    FormatRec,
    Record,
    ScanStats,
    encode_frame,
    scan,
)
from metrics_sidecar.persistence import DurableState
from metrics_sidecar.recovery import StateDirError
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import Stamp, TelemetryState
from metrics_sidecar.textformat import Writer

NOW = time.time()
MAX_BYTES = 4096


def trade(seq: int, *, symbol: str = "S", side: str = "buy", extra: str = "") -> bytes:
    return (b'{"type":"trade","side":"%s","qty":%d,"ts":%r,"symbol":"%s","producer":"p","instance":"i",'
            b'"seq":%d,"sent_ts":%r%s}' % (side.encode(), seq % 7 + 1, NOW - 0.01, symbol.encode(), seq,
                                           NOW - 0.005, extra.encode()))


def batches() -> list[tuple[list[bytes], list[Stamp | None] | None]]:
    """Drained batches covering every branch the core journals: applied trades,
    ticks (a spike, out of order, stale, an ISO ts), a seq gap, a resend, an event-id
    duplicate, a JSON-array frame, frames too large or not JSON, heartbeats with a
    producer restart, and stamped frames from the reliable channel (one whose
    payload disagrees with its stamp)."""
    out: list[tuple[list[bytes], list[Stamp | None] | None]] = []
    out.append(([b'{"type":"heartbeat","ts":%r,"producer":"q","seq":%d}' % (NOW, seq) for seq in (7, 8, 1)], None))
    for start in range(1, 120, 20):
        out.append(([trade(seq, symbol=f"S{seq % 5}", side="buy" if seq % 3 else "sell")
                     for seq in range(start, start + 20) if seq != 50], None))
    out.append(([trade(100)], None))  # a resend: dropped by seq
    ticks = [b'{"type":"tick","symbol":"BTC","price":%r,"ts":%r,"source":"sim","event_id":"t%d","bid":1,"ask":2}'
             % (price, NOW - 1 + k * 0.1, k) for k, price in enumerate((100.0, 101.0, 150.0, 99.0))]
    ticks.append(b'{"type":"tick","symbol":"BTC","price":100,"ts":%r,"event_id":"t1"}' % NOW)  # id duplicate
    ticks.append(b'{"type":"tick","symbol":"BTC","price":100,"ts":%r}' % (NOW - 5))  # out of order
    ticks.append(b'{"type":"tick","symbol":"BTC","price":100,"ts":%r}' % (NOW - 3600))  # stale
    ticks.append(b'{"type":"tick","symbol":"ETH","price":3,"ts":"%s"}'
                 % time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW)).encode())
    out.append((ticks, None))
    array = b"[" + b",".join([trade(121), b'{"type":"nope"}', trade(122, symbol="A")]) + b"]"
    out.append(([array, b"not json", b"x" * (MAX_BYTES + 1), b"[]", b'{"type":"trade"}'], None))
    stamped = [trade(1, symbol="R"), trade(2, symbol="R"), trade(3, symbol="R")]
    out.append((stamped, [("r", "i1", 1), ("r", "i1", 2), ("r", "i1", 3)]))
    out.append(([b'{"type":"heartbeat","ts":%r,"producer":"p"}' % NOW], None))
    return out


def ingest(state: TelemetryState, drained: list[tuple[list[bytes], list[Stamp | None] | None]]) -> None:
    for frames, stamps in drained:
        with state.lock:  # one drain per lock, like the ingest loops
            state.ingest(frames, [NOW] * len(frames), stamps, True, MAX_BYTES)
            state.batches += 1
            state.end_batch()


def exposition(state: TelemetryState) -> str:
    out = Writer()
    write_state(state, out, NOW)
    return "\n".join(x for x in out.text().splitlines() if not x.startswith(("sidecar_start_time", "producer_up")))


def durable(tmp_path: Path, *, repair: bool = False) -> tuple[TelemetryState, DurableState]:
    settings = Settings(state_dir=str(tmp_path))
    state = TelemetryState(settings)
    store = DurableState(settings, state)
    store.recover(repair=repair)
    return state, store


def crash(store: DurableState) -> None:
    """What kill -9 leaves: files as they are, no final snapshot; only the lock goes."""
    store._stop.set()
    store._dir_lock.close()


def journal_frames(tmp_path: Path) -> tuple[Path, list[list[Record]]]:
    path = max(tmp_path.glob("journal-*"), key=lambda p: int(p.name.split("-")[1]))
    return path, list(scan(path.read_bytes(), ScanStats()))


@pytest.mark.parametrize("snapshot_midway", [False, True])
def test_the_batch_ingest_journals_once_per_call_and_a_restart_replays_it_exactly(
        tmp_path: Path, snapshot_midway: bool) -> None:
    state, store = durable(tmp_path)
    handed: list[int] = []
    original = store.core_records

    def counted(records: bytes) -> None:
        handed.append(len(records))
        original(records)

    store.core_records = counted  # type: ignore[method-assign]

    def no_event_objects(event: object) -> None:
        raise AssertionError("the batch ingest built an event object for the journal")

    store.event = no_event_objects  # type: ignore[method-assign]
    drained = batches()
    ingest(state, drained[:5])
    if snapshot_midway:
        store.snapshot_now()  # the rest lives only in the journal
    ingest(state, drained[5:])
    assert len(handed) == len(drained)  # one hand-over per core call, whatever the batch held
    before = exposition(state)
    assert state.producers.stats["p"].lost == 1 and state.producers.stats["q"].restarts == 1
    assert state.duplicates == 2 and state.invalid[reasons.STALE] == 1
    assert state.invalid[reasons.TOO_LARGE] == 1 and state.invalid[reasons.BAD_JSON] == 1
    assert state.received["trade"] > 100 and state.received["tick"] == 6
    _, frames = journal_frames(tmp_path)
    records = [rec for frame in frames for rec in frame]
    assert records[0] == FormatRec(FORMAT_VERSION)
    assert not any(isinstance(rec, EventRec) for rec in records) and any(isinstance(rec, CoreRec) for rec in records)
    crash(store)

    restored, store2 = durable(tmp_path)
    assert exposition(restored) == before  # counters, histograms (apply-time sums too), gauges: identical
    assert list(restored.recent_events) == list(state.recent_events)
    assert len(restored._dedup) == len(state._dedup)
    assert store2.records_unreadable == 0 and store2.torn_tail_bytes == 0
    ingest(restored, [([trade(110)], None), ([b'{"type":"tick","symbol":"BTC","price":1,"ts":%r,"event_id":"t2"}'
                                              % NOW], None)])
    assert restored.duplicates == state.duplicates + 2  # dedup (seq and event id) continues across the restart
    store2.close()


def test_a_torn_last_frame_after_kill_9_is_dropped_counted_and_the_rest_replayed(tmp_path: Path) -> None:
    state, store = durable(tmp_path)
    drained = batches()
    ingest(state, drained[:-1])
    before = exposition(state)
    ingest(state, [([trade(300), trade(301)], None)])
    crash(store)
    path = journal_frames(tmp_path)[0]
    data = path.read_bytes()
    path.write_bytes(data[:-7])  # the last write cut short inside its core records
    restored, store2 = durable(tmp_path)
    assert exposition(restored) == before
    assert store2.torn_tail_bytes > 0 and store2.records_unreadable == 0
    store2.close()


def _rewrite_last_frame(path: Path, frames: list[list[Record]], last: list[Record]) -> None:
    path.write_bytes(b"".join(encode_frame(records) for records in [*frames[:-1], last]))


def test_a_torn_core_record_inside_an_intact_frame_is_skipped_and_counted(tmp_path: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    state, store = durable(tmp_path)
    ingest(state, batches())
    ingest(state, [([trade(300, symbol="T"), trade(301, symbol="T")], None)])  # the last frame: two trade records
    shown = state.trades[("buy", "T")][0] + state.trades.get(("sell", "T"), [0])[0]
    crash(store)
    path, frames = journal_frames(tmp_path)
    last = [CoreRec(rec.version, rec.records[:-3]) if isinstance(rec, CoreRec) else rec for rec in frames[-1]]
    _rewrite_last_frame(path, frames, last)
    with caplog.at_level(logging.ERROR, "metrics_sidecar.recovery"):
        restored, store2 = durable(tmp_path)
    assert sum(restored.trades.get((side, "T"), [0])[0] for side in ("buy", "sell")) == shown - 1
    assert restored.received["trade"] == state.received["trade"] - 1
    assert store2.records_unreadable == 1
    assert "could not be replayed" in caplog.text
    assert [p.name for p in tmp_path.glob("damaged-*/journal-*")] == [path.name]  # kept, never deleted
    store2.close()


def test_a_journal_in_format_2_is_replayed_logged_and_counted(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """Format 2 (before the core records): event objects (EventRec), no FormatRec."""
    state, store = durable(tmp_path)
    with state.lock:
        for raw in [trade(seq) for seq in range(1, 30)] + [b'{"type":"tick","symbol":"S","price":2,"ts":%r}' % NOW]:
            event = decode(raw)
            assert not isinstance(event, str)
            event.recv_ts = NOW
            state.apply(event)
        state.reject(reasons.BAD_JSON)
    before = exposition(state)
    crash(store)
    path, frames = journal_frames(tmp_path)
    assert any(isinstance(rec, EventRec) for frame in frames for rec in frame)
    path.write_bytes(b"".join(encode_frame([rec for rec in records if not isinstance(rec, FormatRec)])
                              for records in frames))
    with caplog.at_level(logging.WARNING, "metrics_sidecar.recovery"):
        restored, store2 = durable(tmp_path)
    assert exposition(restored) == before
    assert f"journal {path.name} is in format 2" in caplog.text
    store2.close()


def test_a_journal_of_a_newer_format_is_refused_cleanly_and_repair_sets_it_aside(tmp_path: Path) -> None:
    state, store = durable(tmp_path)
    ingest(state, batches()[:3])
    crash(store)
    path, frames = journal_frames(tmp_path)
    newer = [[FormatRec(FORMAT_VERSION + 1) if isinstance(rec, FormatRec) else rec for rec in frames[0]],
             *frames[1:]]
    path.write_bytes(b"".join(encode_frame(records) for records in newer))
    with pytest.raises(StateDirError, match=f"{path.name}: format {FORMAT_VERSION + 1} .*newer sidecar"):
        durable(tmp_path)
    restored, store2 = durable(tmp_path, repair=True)
    assert restored.received["trade"] == 0  # nothing of that file is guessed at
    assert [p.name for p in tmp_path.glob("damaged-*/journal-*")] == [path.name]
    store2.close()


def test_core_records_of_a_newer_layout_are_refused_cleanly(tmp_path: Path) -> None:
    state, store = durable(tmp_path)
    ingest(state, batches()[:3])
    crash(store)
    path, frames = journal_frames(tmp_path)
    last = [CoreRec(rec.version + 1, rec.records) if isinstance(rec, CoreRec) else rec for rec in frames[-1]]
    _rewrite_last_frame(path, frames, last)
    with pytest.raises(StateDirError, match="core records of layout 2"):
        durable(tmp_path)


def test_replaying_random_bytes_never_raises_and_counts_what_it_could_not_read(state: TelemetryState) -> None:
    rng = random.Random(13)
    settings = Settings()
    source = TelemetryState(settings)
    records: list[bytes] = []

    class Collect:
        def core_records(self, data: bytes) -> None:
            records.append(data)

    source.journal = Collect()  # type: ignore[assignment]
    ingest(source, batches())
    blob = b"".join(records)
    for _ in range(300):
        damaged = bytearray(blob)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        cut = rng.randrange(len(damaged) + 1)
        replayed, unreadable, torn = state.core.replay(bytes(damaged[:cut]))
        assert replayed >= 0 and unreadable >= 0 and 0 <= torn <= cut
    assert state.core.replay(b"") == (0, 0, 0)
    assert state.core.replay(b"\x01\xff\xff\xff\xff") == (0, 0, 5)  # a header promising 4 GiB: torn
    fresh = TelemetryState(settings)
    assert fresh.core.replay(blob)[1:] == (0, 0)
    fresh.batches = source.batches  # (journaled apart: BatchesRec)
    assert exposition(fresh) == exposition(source)


def test_the_snapshot_image_is_the_state_the_journal_switch_saw(tmp_path: Path) -> None:
    state, store = durable(tmp_path)
    ingest(state, batches())
    store.snapshot_now()
    image = snapshot.decode((tmp_path / "snapshot").read_bytes())
    assert image.generation == store.generation
    assert sum(image.received.values()) == sum(state.received.values())
    store.close()


def persisted(text: str) -> list[str]:
    """The exposition less the sliding windows a snapshot leaves out (snapshot.py
    NOT_PERSISTED: the hop maxima, the producers' clock offsets)."""
    return [line for line in text.splitlines() if "hop_latency_max" not in line and "clock_offset" not in line]


def test_snapshots_taken_while_batches_are_applied_lose_and_double_nothing(tmp_path: Path) -> None:
    """The read model copies the image in the same lock hold as the journal switch:
    with snapshots racing the ingest, every batch is in exactly one of (the image,
    the journals after it), so a crash at the end restores the exact state."""
    state, store = durable(tmp_path)

    def snapshot_loop() -> None:
        for _ in range(5):
            store.snapshot_now()

    thread = threading.Thread(target=snapshot_loop)
    thread.start()
    seq, deadline = 0, time.monotonic() + 60
    while thread.is_alive() or seq < 200:  # batches before, during and after every snapshot
        assert time.monotonic() < deadline, "five snapshots did not get through in 60 s"
        seq += 1
        ingest(state, [([trade(seq, symbol=f"S{seq % 3}")], None)])
    thread.join()
    before = persisted(exposition(state))
    crash(store)
    restored, store2 = durable(tmp_path)
    assert persisted(exposition(restored)) == before
    assert restored.received["trade"] == seq
    store2.close()
