"""Shared pieces of the state-dir fault tests: a small real filesystem that can
be filled, the journal's documented frame layout (docs/delivery.md) read from
the bytes, and a sidecar start that is expected to fail."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import zmq

from telemetry_testkit.procs import BIN, Service, wait_until
from telemetry_testkit.prom import scrape
from telemetry_testkit.reliable import RestartableSidecar
from telemetry_testkit.sockets import push_socket

MAGIC = b"\xffSJ2"  # docs/delivery.md, "On-disk format"
FRAME = struct.Struct("<4sII")
TRADES = 'trades_total{side="buy",symbol="S"}'
SMALL = {"SIDECAR_LATENCY_SAMPLES": "16"}  # a small snapshot: the full-disk tests use a 2 MiB filesystem
SNAPSHOT_TRADES = 10  # build_base: held by the snapshot (written at a SIGTERM)
JOURNAL_TRADES = 20  # build_base: one frame each in the journal (written before a kill -9)


@contextmanager
def small_filesystem(path: Path, size: str = "2m") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (root only), unmounted on the way out."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(filesystem: Path) -> Path:
    """Write a filler file until not one more byte fits."""
    filler = filesystem / "filler"
    with open(filler, "wb", buffering=0) as f:
        for chunk in (65_536, 4_096, 512, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                continue
    return filler


def trade(seq: int, *, qty: float = 1.0, producer: str = "p") -> bytes:
    return json.dumps({"type": "trade", "side": "buy", "qty": qty, "symbol": "S", "ts": time.time(),
                       "producer": producer, "instance": "i", "seq": seq}).encode()


def count(http: str) -> float:
    return scrape(http + "/metrics/").get(TRADES, 0.0)


def send_one_by_one(push: zmq.Socket, http: str, seqs: range) -> None:
    """One trade per batch, so one journal frame per trade: each waits until it shows."""
    for seq in seqs:
        before = count(http)
        push.send(trade(seq))
        wait_until(lambda before=before: count(http) == before + 1, 10, message=f"trade {seq} counted")  # type: ignore[misc]


def frames(journal: Path) -> list[tuple[int, int]]:
    """(start, end) of every frame, read by the documented layout."""
    data = journal.read_bytes()
    out, offset = [], 0
    while offset < len(data):
        magic, length, _ = FRAME.unpack_from(data, offset)
        assert magic == MAGIC, f"no frame at byte {offset} of {journal.name}"
        out.append((offset, offset + FRAME.size + length))
        offset += FRAME.size + length
    return out


def only_journal(state: Path) -> Path:
    journals = sorted(state.glob("journal-*"), key=lambda p: int(p.name.split("-")[1]))
    return journals[-1]


def failed_start(env: dict[str, str], args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run the sidecar when it must refuse to start (or ``--repair``): it must exit by itself."""
    base = {"SIDECAR_PORT": "0", "SIDECAR_ZMQ_BIND": "tcp://127.0.0.1:0", "SIDECAR_HOST": "127.0.0.1"}
    return subprocess.run([str(BIN / "metrics-sidecar"), *args], env={**os.environ, **base, **env},
                          capture_output=True, text=True, timeout=60)


def assert_clean_error(result: subprocess.CompletedProcess[str], file: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("metrics-sidecar: cannot use the state directory:"), last
    assert file in last and "--repair" in last and "docs/delivery.md" in last, last


def stop_quietly(service: Service) -> None:
    assert service.stop() == 0
    assert "Traceback" not in service.log()


def build_base(root: Path) -> Path:
    """A state dir whose snapshot holds SNAPSHOT_TRADES trades and whose journal
    holds JOURNAL_TRADES one-trade frames, as real sidecars leave it."""
    sidecar = RestartableSidecar(root, dict(SMALL), reliable_channel=False)
    sidecar.start()
    try:
        with push_socket(sidecar.zmq) as push:
            send_one_by_one(push, sidecar.http, range(1, SNAPSHOT_TRADES + 1))
        assert sidecar.stop() == 0
        sidecar.start()
        with push_socket(sidecar.zmq) as push:
            send_one_by_one(push, sidecar.http, range(SNAPSHOT_TRADES + 1, SNAPSHOT_TRADES + JOURNAL_TRADES + 1))
    finally:
        sidecar.kill9()
    assert len(frames(only_journal(root / "state"))) == JOURNAL_TRADES
    return root / "state"
