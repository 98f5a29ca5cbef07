"""State-dir fuzz: truncations, bit flips and random bytes at many offsets of the
snapshot and of the journal that real sidecars left behind. Every case gives a
clean start with the exact counts of what is intact, or a clean error naming
the damaged file (exit 2, no traceback). Bounded: a fixed seed, a fixed number
of cases (about 20 s here).

Most cases run the recovery in this process (the very code the sidecar runs at
start, ~20 ms a case) and may only end in a count or a ``StateDirError``; one
case of each kind also runs a real sidecar process."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from metrics_sidecar.persistence import DurableState
from metrics_sidecar.recovery import StateDirError
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState
from telemetry_testkit.reliable import RestartableSidecar
from telemetry_testkit.state_dir import (
    JOURNAL_TRADES,
    SMALL,
    SNAPSHOT_TRADES,
    TRADES,
    assert_clean_error,
    build_base,
    failed_start,
    frames,
    only_journal,
)

SEED = 18
CASES_PER_KIND = 60  # x 6 kinds (3 damages x 2 files)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_base(tmp_path_factory.mktemp("fuzzbase"))


def _mutate(data: bytes, kind: str, rng: random.Random) -> bytes:
    out = bytearray(data)
    if kind == "truncate":
        del out[rng.randrange(len(out)):]
    elif kind == "flip":
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    else:
        at, n = rng.randrange(len(out)), rng.randint(1, 64)
        out[at:at + n] = rng.randbytes(n)[:len(out) - at]  # overwritten in place: same length
    return bytes(out)


def _expected_journal(original: bytes, damaged: bytes, spans: list[tuple[int, int]]) -> tuple[int, bool]:
    """(trades intact, whether an intact frame follows the damage)."""
    if len(damaged) < len(original):  # truncated: frames wholly before the cut survive
        return sum(1 for _, end in spans if end <= len(damaged)), False
    changed = [i for i in range(len(original)) if original[i] != damaged[i]]
    hit = [any(start <= i < end for i in changed) for start, end in spans]
    intact_after = any(not h for h, (start, _) in zip(hit, spans, strict=True) if changed and start > changed[0])
    return hit.count(False), intact_after


def _recover_here(state: Path) -> tuple[float, int] | StateDirError:
    settings = Settings(state_dir=str(state), latency_samples=16)
    store = DurableState(settings, TelemetryState(settings))
    try:
        store.recover()
    except StateDirError as exc:
        return exc
    finally:
        store._dir_lock.close()
    return store.state.trades[("buy", "S")][0], store.frames_skipped


def _real_start(state: Path, root: Path, target: str) -> tuple[float, int] | None:
    """A real sidecar on the damaged dir: a damaged snapshot must make it exit
    with a clean error (None); a damaged journal must not stop it: (trades, skipped)."""
    if target == "snapshot":
        assert_clean_error(failed_start({"SIDECAR_STATE_DIR": str(state), **SMALL}), str(state / "snapshot"))
        return None
    sidecar = RestartableSidecar(root, {**SMALL, "SIDECAR_STATE_DIR": str(state)}, reliable_channel=False)
    sidecar.start()
    try:
        metrics = sidecar.metrics()
        assert "Traceback" not in sidecar.service.log()  # type: ignore[union-attr]
        return metrics.get(TRADES, 0.0), int(metrics["sidecar_journal_frames_skipped_total"])
    finally:
        sidecar.kill9()


@pytest.mark.parametrize("target", ["snapshot", "journal"])
def test_every_damage_to_the_state_dir_gives_a_clean_start_or_a_clean_error(base: Path, tmp_path: Path,
                                                                            target: str) -> None:
    rng = random.Random(f"{SEED}-{target}")
    journal_name = only_journal(base).name
    original = (base / (target if target == "snapshot" else journal_name)).read_bytes()
    spans = frames(base / journal_name)
    outcomes = {"start": 0, "error": 0}
    for case in range(3 * CASES_PER_KIND):
        kind = ("truncate", "flip", "random")[case % 3]
        damaged = _mutate(original, kind, rng)
        if damaged == original:
            continue  # random bytes equal to what was there: no damage
        state = tmp_path / f"case{case}"
        shutil.copytree(base, state)
        (state / (target if target == "snapshot" else journal_name)).write_bytes(damaged)
        real = case < 3  # one real process per kind of damage
        got = _real_start(state, tmp_path / f"run{case}", target) if real else _recover_here(state)
        if target == "snapshot":  # a checksummed file: any damage is refused, never loaded
            if real:
                assert got is None
            else:
                assert isinstance(got, StateDirError) and str(state / "snapshot") in str(got), (kind, got)
            outcomes["error"] += 1
            continue
        intact, intact_after = _expected_journal(original, damaged, spans)
        assert isinstance(got, tuple), (kind, case, got)
        trades, skipped = got
        assert trades == SNAPSHOT_TRADES + intact, (kind, case, trades, intact)
        if intact_after:  # mid-journal damage: skipped and counted, the frames after it replayed
            assert 1 <= skipped <= JOURNAL_TRADES - intact, (kind, case, skipped)
        else:  # damage at the end is a torn tail
            assert skipped == 0, (kind, case, skipped)
        outcomes["start"] += 1
        shutil.rmtree(state)
    expected = "error" if target == "snapshot" else "start"
    assert outcomes[expected] >= 3 * CASES_PER_KIND - 5  # (a few random-byte cases may change nothing)
