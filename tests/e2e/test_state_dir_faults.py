"""SIDECAR_STATE_DIR under faults, with real sidecar processes (started, killed
with -9, restarted), real pyzmq sockets and a real full filesystem: a message
the journal cannot record, a full disk, and a damaged snapshot or journal. Each
test is named after the promise it keeps (docs/delivery.md, "Sidecar state")."""

from __future__ import annotations

import json
import random
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zmq

from telemetry_testkit.procs import wait_until
from telemetry_testkit.prom import scrape
from telemetry_testkit.reliable import RestartableSidecar, total
from telemetry_testkit.sockets import push_socket
from telemetry_testkit.state_dir import (
    FRAME,
    JOURNAL_TRADES,
    SMALL,
    SNAPSHOT_TRADES,
    TRADES,
    assert_clean_error,
    build_base,
    count,
    failed_start,
    fill,
    frames,
    only_journal,
    send_one_by_one,
    small_filesystem,
    stop_quietly,
    trade,
)
from trading_app.telemetry.reliable import ReliablePublisher


def test_a_message_the_journal_cannot_record_never_stops_ingest(tmp_path: Path) -> None:
    sidecar = RestartableSidecar(tmp_path, dict(SMALL))
    sidecar.start()
    try:
        with push_socket(sidecar.zmq) as push:
            for seq in range(1, 6):
                push.send(trade(seq))
            push.send(trade(2**64, producer="q"))  # a seq no 64-bit journal field holds
            push.send(b"[" + trade(6) + b"," + trade(2**64 + 1, producer="q") + b"," + trade(7) + b"]")
            for seq in range(8, 11):
                push.send(trade(seq))
            wait_until(lambda: count(sidecar.http) == 10, 10, message="the 10 good trades")
        # The reliable channel: a header whose ack no journal field holds, then a good batch.
        ctx = zmq.Context()
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(sidecar.reliable)
        try:
            forged = {"producer": "forger", "instance": "x", "seq": 1, "acked": 2**64}
            dealer.send_multipart([b"rel1", json.dumps(forged).encode()])
            good = {"producer": "r", "instance": "j", "seq": 1, "acked": 0}
            dealer.send_multipart([b"rel1", json.dumps(good).encode(), trade(1, producer="r")])
            acks: list[dict[str, Any]] = []
            while not any(a["producer"] == "r" for a in acks):
                assert dealer.poll(10_000), f"no ack for the good batch (acks so far: {acks})"
                kind, body = dealer.recv_multipart()
                assert kind == b"ack1"
                acks.append(json.loads(body))
            assert [a["acked"] for a in acks if a["producer"] == "r"] == [1]
        finally:
            dealer.close()
            ctx.term()
        metrics = wait_until(lambda: (m := sidecar.metrics()) and m.get(TRADES) == 11 and m, 10, message="11 trades")
        assert total(metrics, "messages_invalid_total") == 3  # each refused message counted once, by reason
        assert metrics['messages_invalid_total{reason="bad_field"}'] == 3
        health = httpx.get(sidecar.http + "/health")
        assert health.status_code == 200 and health.json()["status"] == "ok" and health.json()["reasons"] == []
        assert sidecar.stop() == 0  # SIGTERM: both loops and the final snapshot work
        sidecar.start()  # what was shown is what the state dir holds
        again = sidecar.metrics()
        assert again.get(TRADES) == 11 and total(again, "messages_invalid_total") == 3
        stop_quietly(sidecar.service)  # type: ignore[arg-type]
    finally:
        sidecar.kill9()


def _stall(sidecar: RestartableSidecar, push: zmq.Socket, filesystem: Path) -> tuple[float, int, Path]:
    """Fill the state dir's filesystem, then send one trade at a time until one
    cannot be journaled. Returns (the count /metrics/ showed, the next seq, the filler)."""
    filler = fill(filesystem)
    seq = 100
    for _ in range(500):  # the journal's last page has a few KiB of room left: a few dozen trades
        shown = count(sidecar.http)
        push.send(trade(seq))
        seq += 1

        def outcome(shown: float = shown) -> str | None:
            if httpx.get(sidecar.http + "/health", timeout=5).status_code == 503:
                return "stalled"
            try:
                if scrape(sidecar.http + "/metrics/", timeout=0.5).get(TRADES) == shown + 1:
                    return "journaled"
            except httpx.TimeoutException:
                pass  # the write just failed: /health says so on the next poll
            return None

        if wait_until(outcome, 10, message=f"trade {seq - 1} journaled or the journal stalled") == "stalled":
            return shown, seq, filler
    raise AssertionError("the journal never ran out of space")


def _assert_stall_reported(sidecar: RestartableSidecar) -> None:
    health = httpx.get(sidecar.http + "/health", timeout=5)
    assert health.status_code == 503
    body = health.json()
    assert body["status"] == "unhealthy"
    assert [r["reason"] for r in body["reasons"]] == ["journal_write_failing"]
    assert "No space left on device" in body["reasons"][0]["detail"]
    assert body["journal"]["stalls"] == 1 and body["journal"]["write_errors"] >= 1
    # Applying is paused with the stalled batch unpublished: a scrape waits instead of showing it.
    with pytest.raises(httpx.TimeoutException):
        httpx.get(sidecar.http + "/metrics/", timeout=1.0)


@pytest.fixture
def full_disk_sidecar(tmp_path: Path) -> Iterator[tuple[RestartableSidecar, Path]]:
    with small_filesystem(tmp_path / "state") as filesystem:
        # Snapshots every second: on the full disk they fail too, and must lose nothing.
        sidecar = RestartableSidecar(tmp_path, {**SMALL, "SIDECAR_SNAPSHOT_INTERVAL_SECONDS": "1"},
                                     reliable_channel=False)
        sidecar.start()
        try:
            yield sidecar, filesystem
        finally:
            if sidecar.service is not None:
                sidecar.kill9()


def test_health_says_why_while_journal_writes_fail_and_recovers_when_they_work(
        full_disk_sidecar: tuple[RestartableSidecar, Path]) -> None:
    sidecar, filesystem = full_disk_sidecar
    with push_socket(sidecar.zmq) as push:
        send_one_by_one(push, sidecar.http, range(1, 21))
        shown, seq, filler = _stall(sidecar, push, filesystem)
        for k in range(5):  # queued in ZeroMQ while applying is paused
            push.send(trade(seq + k))
        _assert_stall_reported(sidecar)
        filler.unlink()  # writes work again
        wait_until(lambda: httpx.get(sidecar.http + "/health").status_code == 200, 10, message="healthy again")
        metrics = wait_until(lambda: (m := sidecar.metrics()) and m.get(TRADES) == shown + 6 and m, 10,
                             message="the stalled trade and the 5 queued behind it applied")
    body = httpx.get(sidecar.http + "/health").json()
    assert body["status"] == "ok" and body["reasons"] == [] and body["journal"]["stalls"] == 1
    assert metrics["sidecar_journal_stalls_total"] == 1
    assert metrics["sidecar_journal_write_errors_total"] == body["journal"]["write_errors"] >= 1
    assert metrics['messages_lost_total{producer="p"}'] == 79  # seq 21..99 were never sent: nothing else lost
    sidecar.kill9()
    sidecar.start()
    assert count(sidecar.http) == shown + 6  # everything applied reached the journal


@pytest.mark.parametrize("stop", ["kill -9", "SIGTERM"])
def test_a_full_state_disk_never_makes_counters_go_backwards_after_a_restart(
        full_disk_sidecar: tuple[RestartableSidecar, Path], stop: str) -> None:
    sidecar, filesystem = full_disk_sidecar
    with push_socket(sidecar.zmq) as push:
        send_one_by_one(push, sidecar.http, range(1, 21))
        shown, seq, filler = _stall(sidecar, push, filesystem)
        for k in range(5):
            push.send(trade(seq + k))
        _assert_stall_reported(sidecar)
    if stop == "kill -9":
        sidecar.kill9()
    else:  # a clean shutdown needs the lock the stalled write holds: it exits at once, status 1
        assert sidecar.stop() == 1
        assert "exiting during a journal stall" in sidecar.service.log()  # type: ignore[union-attr]
    filler.unlink()  # the restart needs room for its fresh snapshot
    sidecar.start()
    metrics = sidecar.metrics()
    assert metrics.get(TRADES) == shown  # exactly what /metrics/ showed last: never fewer
    assert metrics['messages_received_total{type="trade"}'] == shown


# -- a damaged state dir ---------------------------------------------------------------
@pytest.fixture(scope="module")
def damaged_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_base(tmp_path_factory.mktemp("base"))


def _copy(base: Path, tmp_path: Path) -> tuple[RestartableSidecar, Path]:
    state = tmp_path / "state"
    shutil.copytree(base, state)
    return RestartableSidecar(tmp_path, dict(SMALL), reliable_channel=False), state


def _env(state: Path) -> dict[str, str]:
    return {"SIDECAR_STATE_DIR": str(state), **SMALL}


def test_damage_in_the_middle_of_the_journal_skips_that_frame_and_keeps_every_frame_after_it(
        damaged_base: Path, tmp_path: Path) -> None:
    sidecar, state = _copy(damaged_base, tmp_path)
    journal = only_journal(state)
    start, end = frames(journal)[4]
    data = bytearray(journal.read_bytes())
    data[(start + end) // 2] ^= 0x10  # one flipped bit in the fifth frame's body
    journal.write_bytes(bytes(data))
    sidecar.start()
    try:
        metrics = sidecar.metrics()
        assert metrics[TRADES] == SNAPSHOT_TRADES + JOURNAL_TRADES - 1
        assert metrics["sidecar_journal_frames_skipped_total"] == 1
        aside = list(state.glob("damaged-*/" + journal.name))
        assert len(aside) == 1 and aside[0].read_bytes() == bytes(data)  # kept, never deleted
        stop_quietly(sidecar.service)  # type: ignore[arg-type]
        sidecar.start()  # the fresh snapshot holds every intact frame
        again = sidecar.metrics()
        assert again[TRADES] == SNAPSHOT_TRADES + JOURNAL_TRADES - 1
        assert again["sidecar_journal_frames_skipped_total"] == 0
    finally:
        sidecar.kill9()


def _damage_snapshot(snapshot: Path, kind: str) -> None:
    data = bytearray(snapshot.read_bytes())
    if kind == "flipped bit":
        data[len(data) // 2] ^= 0x01
    elif kind == "truncated":
        del data[len(data) * 2 // 3:]
    elif kind == "empty":
        data.clear()
    else:
        data[:] = random.Random(7).randbytes(len(data))
    snapshot.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", ["flipped bit", "truncated", "empty", "random bytes"])
def test_a_damaged_snapshot_is_a_clear_startup_error_never_loaded(damaged_base: Path, tmp_path: Path,
                                                                  kind: str) -> None:
    _, state = _copy(damaged_base, tmp_path)
    _damage_snapshot(state / "snapshot", kind)
    assert_clean_error(failed_start(_env(state)), str(state / "snapshot"))


def test_repair_moves_a_damaged_snapshot_aside_and_keeps_the_intact_journal(damaged_base: Path,
                                                                           tmp_path: Path) -> None:
    sidecar, state = _copy(damaged_base, tmp_path)
    _damage_snapshot(state / "snapshot", "flipped bit")
    damaged = (state / "snapshot").read_bytes()
    repaired = failed_start(_env(state), ("--repair",))
    assert repaired.returncode == 0 and "Traceback" not in repaired.stderr, repaired.stderr[-2000:]
    summary = json.loads(repaired.stdout.strip().splitlines()[-1])
    assert summary["event"] == "repaired" and summary["partial"] is True
    assert summary["moved_aside"] == ["snapshot"] and summary["frames_skipped"] == 0
    assert [p.read_bytes() for p in state.glob("damaged-*/snapshot")] == [damaged]
    sidecar.start()
    try:
        assert count(sidecar.http) == JOURNAL_TRADES  # what was intact: the journal, not the snapshot's 10
    finally:
        sidecar.kill9()


def test_a_journal_frame_with_a_valid_checksum_but_a_bad_body_is_reported_and_repair_keeps_the_rest(
        damaged_base: Path, tmp_path: Path) -> None:
    sidecar, state = _copy(damaged_base, tmp_path)
    journal = only_journal(state)
    start, end = frames(journal)[2]
    body = b"\xc1" * (end - start - FRAME.size)  # 0xc1: never valid msgpack
    data = bytearray(journal.read_bytes())
    data[start:end] = FRAME.pack(b"\xffSJ2", len(body), zlib.crc32(body)) + body
    journal.write_bytes(bytes(data))
    assert_clean_error(failed_start(_env(state)), str(journal))
    repaired = failed_start(_env(state), ("--repair",))
    assert repaired.returncode == 0, repaired.stderr[-2000:]
    summary = json.loads(repaired.stdout.strip().splitlines()[-1])
    assert summary["frames_skipped"] == 1 and summary["moved_aside"] == [journal.name]
    sidecar.start()
    try:
        assert count(sidecar.http) == SNAPSHOT_TRADES + JOURNAL_TRADES - 1
    finally:
        sidecar.kill9()


def test_a_deleted_snapshot_is_reported_never_started_with_partial_counts(damaged_base: Path,
                                                                          tmp_path: Path) -> None:
    _, state = _copy(damaged_base, tmp_path)
    (state / "snapshot").unlink()
    result = failed_start(_env(state))
    assert_clean_error(result, str(state / "snapshot"))
    assert "missing" in result.stderr


def test_a_full_state_disk_costs_the_reliable_channel_nothing(tmp_path: Path) -> None:
    """Acks wait for the journal: trades sent while the disk is full stay in the
    publisher's outbox and arrive, each once, when writes work again."""
    with small_filesystem(tmp_path / "state") as filesystem:
        sidecar = RestartableSidecar(tmp_path, dict(SMALL))
        sidecar.start()
        pub = ReliablePublisher(sidecar.reliable, tmp_path / "outbox.sqlite", producer="disk", heartbeat_interval=0,
                                ack_timeout=0.5, max_backoff=1.0)
        try:
            assert all(pub.trade("buy", 1.0, symbol="S").queued for _ in range(20))
            wait_until(lambda: count(sidecar.http) == 20, 20, message="20 trades before the disk fills")
            filler = fill(filesystem)
            assert all(pub.trade("buy", 1.0, symbol="S").queued for _ in range(200))  # ~35 KB of journal
            wait_until(lambda: httpx.get(sidecar.http + "/health", timeout=5).status_code == 503, 20,
                       message="the journal stalls")
            filler.unlink()
            metrics = wait_until(lambda: (m := sidecar.metrics()) and m.get(TRADES) == 220 and m, 60,
                                 message="all 220 trades applied")
            assert metrics['messages_lost_total{producer="disk"}'] == 0
            assert metrics["sidecar_journal_stalls_total"] >= 1
            sidecar.kill9()
            sidecar.start()
            again = sidecar.metrics()
            assert again.get(TRADES) == 220 and again['messages_received_total{type="trade"}'] == 220
        finally:
            pub.close(drain_seconds=0)
            if sidecar.service is not None:
                sidecar.kill9()
