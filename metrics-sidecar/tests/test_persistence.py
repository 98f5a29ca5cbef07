"""Durable state: snapshot + journal restore exactly what was there (every metric
the collector renders, latencies included), a torn journal tail is dropped, and
no state attribute is silently left out of the snapshot."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import zmq

from metrics_sidecar import reasons, snapshot
from metrics_sidecar.decode import decode
from metrics_sidecar.exposition import write_state
from metrics_sidecar.health import health_report
from metrics_sidecar.histogram import HOPS, MESSAGE_TYPES
from metrics_sidecar.ingest import IngestLoop
from metrics_sidecar.journal import CursorRec, RejectRec, UnrecordableError
from metrics_sidecar.persistence import DurableState
from metrics_sidecar.reliable import DurableServices
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState
from metrics_sidecar.textformat import Writer

NOW = time.time()


def messages() -> list[bytes]:
    """Trades, ticks (one stale, one out of order, one spike), heartbeats, a seq gap,
    a resend, an event-id duplicate and invalid frames: every branch of apply()."""
    out = [b'{"type":"heartbeat","ts":%r,"producer":"q","seq":%d}' % (NOW, seq) for seq in (7, 8, 1)]  # a restart
    for seq in range(1, 201):
        if seq == 50:
            continue  # a gap: counted as lost
        side = "buy" if seq % 3 else "sell"
        out.append(b'{"type":"trade","side":"%s","qty":%d,"ts":%r,"symbol":"S%d","producer":"p","instance":"i",'
                   b'"seq":%d,"sent_ts":%r}' % (side.encode(), seq % 7, NOW - 0.01, seq % 5, seq, NOW - 0.005))
    out.append(b'{"type":"trade","side":"buy","qty":1,"ts":1,"producer":"p","instance":"i","seq":100}')  # resend
    for k, price in enumerate((100.0, 101.0, 150.0, 99.0)):
        out.append(b'{"type":"tick","symbol":"BTC","price":%r,"ts":%r,"source":"sim","event_id":"t%d"}'
                   % (price, NOW - 1 + k * 0.1, k))
    out.append(b'{"type":"tick","symbol":"BTC","price":100,"ts":%r,"event_id":"t1"}' % NOW)  # event-id duplicate
    out.append(b'{"type":"tick","symbol":"BTC","price":100,"ts":%r,"event_id":"old"}' % (NOW - 5))  # out of order
    out.append(b'{"type":"tick","symbol":"BTC","price":100,"ts":%r}' % (NOW - 3600))  # stale
    out.append(b'{"type":"heartbeat","ts":%r,"producer":"p"}' % NOW)
    out.extend([b"not json", b"[]", b'{"type":"trade"}', b'{"type":"nope"}'])
    return out


def feed(state: TelemetryState, frames: list[bytes]) -> None:
    for start in range(0, len(frames), 16):
        with state.lock:  # one batch per lock, like the ingest loop
            state.batches += 1
            for raw in frames[start:start + 16]:
                event = decode(raw)
                if isinstance(event, str):
                    state.reject(event)
                    continue
                event.recv_ts = NOW
                state.apply(event)


def exposition(state: TelemetryState) -> str:
    out = Writer()
    write_state(state, out, NOW)
    lines = out.text().splitlines()
    # Wall-clock views that legitimately differ between two processes.
    return "\n".join(x for x in lines if not x.startswith(("sidecar_start_time", "producer_up")))


def durable(tmp_path: Path, **overrides: object) -> tuple[TelemetryState, DurableState]:
    settings = Settings(state_dir=str(tmp_path), **overrides)  # type: ignore[arg-type]
    state = TelemetryState(settings)
    store = DurableState(settings, state)
    store.recover()
    return state, store


def crash(store: DurableState) -> None:
    """What kill -9 leaves: files as they are, no final snapshot; only the lock goes."""
    store._stop.set()
    store._dir_lock.close()


@pytest.mark.parametrize("snapshot_midway", [False, True])
def test_restart_restores_every_metric_exactly(tmp_path: Path, snapshot_midway: bool) -> None:
    frames = messages()
    state, store = durable(tmp_path)
    feed(state, frames[:120])
    if snapshot_midway:
        store.snapshot_now()  # the rest lives only in the journal
    feed(state, frames[120:])
    before = exposition(state)
    assert state.producers.stats["p"].lost == 1 and state.duplicates == 2 and state.invalid[reasons.STALE] == 1
    assert state.producers.stats["q"].restarts == 1
    crash(store)

    restored, store2 = durable(tmp_path)
    assert exposition(restored) == before  # counters, histograms (sums too), gauges: identical
    assert list(restored.recent_events) == list(state.recent_events)
    assert len(restored._dedup) == len(state._dedup)
    # Dedup continues across the restart: a resend is still a duplicate.
    feed(restored, [b'{"type":"trade","side":"buy","qty":1,"ts":1,"producer":"p","instance":"i","seq":150}'])
    assert restored.duplicates == state.duplicates + 1
    store2.close()


def test_a_torn_journal_tail_is_dropped_and_the_rest_restored(tmp_path: Path) -> None:
    state, store = durable(tmp_path)
    feed(state, messages())
    before = exposition(state)
    crash(store)
    journal = max(tmp_path.glob("journal-*"))
    with open(journal, "ab") as f:
        f.write(b"\x40\x00\x00\x00\x01\x02\x03\x04half a frame")  # a write cut short by the crash
    restored, store2 = durable(tmp_path)
    assert exposition(restored) == before
    store2.close()


def test_a_second_sidecar_on_the_same_state_dir_is_refused(tmp_path: Path) -> None:
    _, store = durable(tmp_path)
    with pytest.raises(RuntimeError, match="in use by another sidecar"):
        DurableState(Settings(state_dir=str(tmp_path)), TelemetryState(Settings()))
    store.close()


def test_snapshots_start_new_journal_generations_and_delete_old_ones(tmp_path: Path) -> None:
    state, store = durable(tmp_path)
    for _ in range(3):
        feed(state, messages()[:10])
        store.snapshot_now()
    assert [p.name for p in tmp_path.glob("journal-*")] == [f"journal-{store.generation}"]
    assert snapshot.decode((tmp_path / "snapshot").read_bytes()).generation == store.generation
    store.close()


def test_every_state_attribute_is_either_persisted_or_declared_not_to_be(state: TelemetryState) -> None:
    unknown = set(vars(state)) - snapshot.PERSISTED - snapshot.NOT_PERSISTED
    assert not unknown, (f"TelemetryState grew {sorted(unknown)}: persist it in snapshot.py (capture/restore) "
                         "or list it in NOT_PERSISTED with the reason")
    assert not (snapshot.PERSISTED | snapshot.NOT_PERSISTED) - set(vars(state))


def test_an_event_the_journal_cannot_record_is_refused_before_the_state_changes(tmp_path: Path) -> None:
    """Whatever the decoder lets through, the journal refuses what it cannot hold
    before apply() changes anything: nothing stays queued, nothing is half-applied."""
    state, store = durable(tmp_path)
    good, bad = (decode(b'{"type":"trade","side":"buy","qty":1,"ts":%r,"producer":"p","instance":"i","seq":%d}'
                        % (NOW, seq)) for seq in (1, 2))
    assert not isinstance(good, str) and not isinstance(bad, str)
    bad.seq = 2**64  # beyond any 64-bit field
    good.recv_ts = bad.recv_ts = NOW
    with state.lock:
        with pytest.raises(UnrecordableError):
            state.apply(bad)
        assert state.received["trade"] == 0 and state.producers.stats == {}
        state.apply(good)
    assert store.clean and state.received["trade"] == 1
    crash(store)
    restored, store2 = durable(tmp_path)
    assert restored.received["trade"] == 1 and restored.producers.stats["p"].lost == 0
    store2.close()


def test_health_names_every_dead_loop_and_a_stalled_journal(tmp_path: Path) -> None:
    settings = Settings(state_dir=str(tmp_path), reliable_bind="tcp://127.0.0.1:0")
    state = TelemetryState(settings)
    services = DurableServices(settings, state, zmq.Context.instance())
    ingest = IngestLoop(settings, state)  # neither loop started: both count as dead
    status, body = health_report(ingest, services)
    assert status == 503 and body["status"] == "unhealthy"
    assert [r["reason"] for r in body["reasons"]] == ["ingest_loop_down", "reliable_loop_down"]
    ingest.running.set()
    assert services.loop is not None and services.durable is not None
    services.loop.running.set()
    assert health_report(ingest, services)[0] == 200
    services.durable.stalled, services.durable.last_error = True, "No space left on device (/x)"
    status, body = health_report(ingest, services)
    assert status == 503 and body["reasons"] == [
        {"reason": "journal_write_failing", "detail": "No space left on device (/x): applying is paused and the "
                                                      "write retried"}]
    services.durable._dir_lock.close()


def test_a_batch_with_a_record_that_cannot_be_encoded_still_journals_every_other_record(tmp_path: Path) -> None:
    """The last line of defence (no wire input reaches it): the bad record is left
    out, counted, never kept queued; the rest of its batch is written."""
    state, store = durable(tmp_path)
    with state.lock:
        store.reject(reasons.BAD_JSON)
        state.invalid[reasons.BAD_JSON] += 1
        store._records.append(CursorRec("p", "i", 2**64))  # what check_recordable keeps out
        store.reject(reasons.BAD_JSON)
        state.invalid[reasons.BAD_JSON] += 1
    assert store.clean and store.unrecordable == 1
    crash(store)
    restored, store2 = durable(tmp_path)
    assert restored.invalid[reasons.BAD_JSON] == 2
    store2.close()


def test_a_state_dir_written_before_checksums_and_markers_is_still_restored(tmp_path: Path) -> None:
    """Upgrade: a format-1 snapshot (bare msgpack) and format-1 journal frames
    (``<u32 length><u32 crc32><body>``, no marker) load, and are rewritten in format 2."""
    import struct
    import zlib

    import msgspec

    state, store = durable(tmp_path)
    feed(state, messages()[:60])
    image = snapshot.capture(state, 7, [])
    image.version = 1
    crash(store)
    for old in tmp_path.glob("journal-*"):
        old.unlink()
    (tmp_path / "snapshot").write_bytes(msgspec.msgpack.encode(image))
    body = msgspec.msgpack.encode([RejectRec(reasons.BAD_JSON), RejectRec(reasons.BAD_JSON)])
    (tmp_path / "journal-7").write_bytes(struct.pack("<II", len(body), zlib.crc32(body)) + body)
    restored, store2 = durable(tmp_path)
    assert restored.trades == state.trades
    assert restored.invalid[reasons.BAD_JSON] == state.invalid[reasons.BAD_JSON] + 2
    assert (tmp_path / "snapshot").read_bytes().startswith(snapshot.MAGIC)
    store2.close()


def test_native_histogram_buckets_survive_a_restart(tmp_path: Path) -> None:
    """The native (schema 3) buckets are in the snapshot: after a restart they hold what
    they held, and their count (the protobuf exposition's) is the classic count, not zero."""
    state, store = durable(tmp_path)
    feed(state, messages())
    store.snapshot_now()  # the whole state in the snapshot; the journal after it is empty
    keys = [(hop, kind) for hop in HOPS for kind in MESSAGE_TYPES]
    before = {key: state.latency.native(*key) for key in keys}
    assert before["send_to_receive", "trade"] == (0, {-61: 199})  # 5 ms: 2**(-61/8) = 5.1 ms
    crash(store)
    restored, store2 = durable(tmp_path)
    assert {key: restored.latency.native(*key) for key in keys} == before
    for key in keys:  # the native count (what the protobuf exposition serves) matches the classic count
        zero, buckets = restored.latency.native(*key)
        assert zero + sum(buckets.values()) == restored.latency.histogram(*key).count
    store2.close()


def test_a_snapshot_without_native_buckets_restores_them_empty(tmp_path: Path) -> None:
    """Written before the native buckets were persisted: classic buckets restored, native empty."""
    import struct
    import zlib

    import msgspec

    state, store = durable(tmp_path)
    feed(state, messages())
    store.snapshot_now()
    crash(store)
    image = msgspec.msgpack.decode((tmp_path / "snapshot").read_bytes()[16:])
    image["hops"] = [[hop, kind, h[:4]] for hop, kind, h in image["hops"]]  # bounds, counts, sum, count
    image["trade_latency"] = image["trade_latency"][:4]
    body = msgspec.msgpack.encode(image)
    (tmp_path / "snapshot").write_bytes(struct.pack("<4sIQ", snapshot.MAGIC, zlib.crc32(body), len(body)) + body)
    restored, store2 = durable(tmp_path)
    assert restored.latency.histogram("send_to_receive", "trade") == state.latency.histogram("send_to_receive", "trade")
    assert restored.latency.native("send_to_receive", "trade") == (0, {})
    store2.close()
