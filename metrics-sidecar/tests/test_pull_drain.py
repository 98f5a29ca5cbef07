"""The PULL loop's drain, the parts that need no second process (the socket tests,
with a PUSH in another process, are tests/e2e/test_pull_drain.py): the core's drain
ends on the socket's errors as pyzmq would, it opens the libzmq pyzmq loaded and no
second one, and the Python drain is chosen when no usable libzmq can be found
(libzmq.py, the one place the drain is chosen)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
import zmq

from metrics_sidecar import libzmq
from metrics_sidecar.drains import CoreDrain, PythonDrain
from metrics_sidecar.intake import Intake
from metrics_sidecar.ratelimit import RateLimitedLogger
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState
from telemetry_testkit.procs import wait_until


def test_the_cores_drain_raises_what_pyzmq_would_when_the_socket_is_gone() -> None:
    lib = libzmq.load()
    assert lib is not None
    state = TelemetryState(Settings())
    intake = Intake(state, 4096, RateLimitedLogger(logging.getLogger("test"), 10))
    drain = CoreDrain(state, intake, state.settings, lib)
    context = zmq.Context()
    sock = context.socket(zmq.PULL)
    sock.bind("tcp://127.0.0.1:*")
    drain(sock)  # nothing queued: EAGAIN ends the drain quietly
    assert state.batches == 0
    term = threading.Thread(target=context.term)  # waits for the socket's close
    term.start()
    errors: list[int | None] = []

    def terminated() -> bool:
        try:
            drain(sock)
        except zmq.ZMQError as exc:
            errors.append(exc.errno)
            return True
        return False

    wait_until(terminated, 10, message="ETERM from the core's receive")
    assert errors == [zmq.ETERM]
    sock.close(linger=0)
    term.join(10)
    with pytest.raises(zmq.ZMQError) as closed:
        drain(sock)  # a closed socket's handle is never used
    assert closed.value.errno == zmq.ENOTSOCK


def libzmq_mappings() -> list[str]:
    return [line for line in Path("/proc/self/maps").read_text().splitlines()
            if Path(line.split(maxsplit=5)[-1]).name.startswith("libzmq")]


def test_the_core_opens_the_libzmq_pyzmq_loaded_and_no_second_one(caplog: pytest.LogCaptureFixture) -> None:
    before = libzmq_mappings()
    assert len({line.split(maxsplit=5)[-1] for line in before}) == 1
    path = libzmq.locate()
    assert path is not None and path == before[0].split(maxsplit=5)[-1]
    state = TelemetryState(Settings())
    intake = Intake(state, 4096, RateLimitedLogger(logging.getLogger("test"), 10))
    with caplog.at_level(logging.INFO, logger="metrics_sidecar.libzmq"):
        drain = libzmq.choose_drain(state, intake, state.settings)
    assert isinstance(drain, CoreDrain) and drain.lib.path == path
    assert libzmq_mappings() == before  # the same mappings: nothing loaded again
    assert f"PULL drain: the core's, through {path}" in caplog.text


def maps_naming(maps: Path, *paths: str) -> Path:
    """A maps file with one mapping of each of ``paths``."""
    maps.write_text("".join(f"7f00-7f01 r--p 00000000 08:01 {i} {p}\n" for i, p in enumerate(paths, 1)))
    return maps


def test_the_python_drain_is_chosen_when_no_usable_libzmq_can_be_found(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = TelemetryState(Settings())
    intake = Intake(state, 4096, RateLimitedLogger(logging.getLogger("test"), 10))
    real = Path("/proc/self/maps").read_text().splitlines()
    without = tmp_path / "without"
    without.write_text("\n".join(line for line in real if "libzmq" not in line))
    not_elf = tmp_path / "libzmq-broken.so.5"
    not_elf.write_bytes(b"not a shared object")
    # A shared object without the functions the core calls: a copy of pyzmq's libsodium.
    sodium = next(Path(line.split(maxsplit=5)[-1]) for line in real if "/libsodium" in line)
    no_functions = tmp_path / "libzmq-without-functions.so.5"
    no_functions.write_bytes(sodium.read_bytes())
    cases = {
        "none mapped": without,
        "no maps to read": tmp_path / "absent",
        "two mapped (never guess)": maps_naming(tmp_path / "two.maps", "/a/libzmq.so.5", "/b/libzmq.so.5"),
        "not a library": maps_naming(tmp_path / "elf.maps", str(not_elf)),
        "functions missing": maps_naming(tmp_path / "fn.maps", str(no_functions)),
    }
    for case, maps in cases.items():
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="metrics_sidecar.libzmq"), pytest.MonkeyPatch.context() as patch:
            patch.setattr(libzmq, "MAPS", maps)
            assert libzmq.load() is None, case
            assert isinstance(libzmq.choose_drain(state, intake, state.settings), PythonDrain), case
        assert "PULL drain: Python (the core cannot call pyzmq's libzmq)" in caplog.text, case
    assert libzmq.locate(cases["none mapped"]) is None
    assert libzmq.locate(cases["functions missing"]) == str(no_functions)


def test_the_setting_picks_the_drain_or_refuses(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """SIDECAR_PULL_DRAIN: python always gets the Python drain (though the core's is
    usable here); core gets the core's, or refuses to start, naming the setting,
    where auto would quietly fall back; anything else is a settings error."""
    def choose(mode: str) -> object:
        settings = Settings(pull_drain=mode)  # validated by pydantic
        state = TelemetryState(settings)
        intake = Intake(state, 4096, RateLimitedLogger(logging.getLogger("test"), 10))
        return libzmq.choose_drain(state, intake, settings)

    with caplog.at_level(logging.INFO, logger="metrics_sidecar.libzmq"):
        assert isinstance(choose("python"), PythonDrain)
    assert "PULL drain: Python (SIDECAR_PULL_DRAIN=python)" in caplog.text
    assert isinstance(choose("core"), CoreDrain)
    assert isinstance(choose("auto"), CoreDrain)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(libzmq, "MAPS", tmp_path / "absent")
        with pytest.raises(RuntimeError, match="pull_drain: 'core' was asked for"):
            choose("core")
        assert isinstance(choose("auto"), PythonDrain)
    with pytest.raises(ValueError, match="pull_drain"):
        Settings(pull_drain="fast")
