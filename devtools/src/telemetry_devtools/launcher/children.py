"""The processes the launcher starts and owns: each step is started, waited for
until the process *it started* answers on its port, reported when it dies (with
the tail of its log), restarted when asked, and stopped with all the others."""

from __future__ import annotations

import ctypes
import json
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telemetry_devtools.launcher.options import LaunchError
from telemetry_devtools.launcher.ports import is_same_or_descendant, listener_pids

PR_SET_PDEATHSIG = 1
TAIL_LINES = 15


class StepFailed(LaunchError):
    """A step failed after something was started: everything started is stopped."""


@dataclass(frozen=True)
class Step:
    name: str
    cmd: list[str]
    port: int
    ready_url: str
    timeout: float


@dataclass
class Child:
    step: Step
    proc: subprocess.Popen[bytes]
    log: Path
    reported: bool = False

    @property
    def name(self) -> str:
        return self.step.name


def _die_with_launcher() -> None:
    """In the child before exec: SIGTERM it if the launcher itself dies (even kill -9),
    so a crashed launcher cannot leave orphans serving stale answers."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def exit_words(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "    (no log)"
    return "\n".join(f"    {line}" for line in text) or "    (log is empty)"


class Supervisor:
    def __init__(self, run_dir: Path, env: dict[str, str], cwd: Path, say: Callable[[str], None]) -> None:
        self.run_dir, self.env, self.cwd, self.say = run_dir, env, cwd, say
        self.children: list[Child] = []

    def event(self, **fields: Any) -> None:
        """One JSON line for programs (tests): started / exited / restarted."""
        self.say(json.dumps(fields))

    def start(self, step: Step, append: bool = False) -> Child:
        log = self.run_dir / f"{step.name}.log"
        with open(log, "ab" if append else "wb") as out:  # the child keeps its own descriptor
            if append:
                out.write(b"\n--- restarted by launch.py ---\n")
                out.flush()
            proc = subprocess.Popen(step.cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=self.cwd,
                                    stdin=subprocess.DEVNULL, preexec_fn=_die_with_launcher)
        child = Child(step, proc, log)
        self.children.append(child)
        self.event(event="started", name=step.name, pid=proc.pid, port=step.port, log=str(log))
        self.wait_ready(child)
        return child

    def _failure(self, child: Child, what: str) -> StepFailed:
        return StepFailed(f"step {child.name!r} failed: {what} (port {child.step.port}, log {child.log})\n"
                          f"  last lines of {child.log}:\n{tail(child.log)}")

    def _answered_pid(self, child: Child) -> int | None:
        """The PID behind the answer: /health's "pid" when it has one, else the
        process listening on the port."""
        try:
            with urllib.request.urlopen(child.step.ready_url, timeout=1) as response:
                if response.status >= 500:
                    return None
                body = response.read()
        except Exception:  # noqa: BLE001 - not up yet
            return None
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if isinstance(answer, dict) and isinstance(answer.get("pid"), int):
            return int(answer["pid"])
        owners = [pid for pid in listener_pids(child.step.port) if is_same_or_descendant(pid, child.proc.pid)]
        return owners[0] if owners else (listener_pids(child.step.port) or [-1])[0]

    def wait_ready(self, child: Child) -> None:
        deadline = time.monotonic() + child.step.timeout
        stranger: int | None = None
        while time.monotonic() < deadline:
            if child.proc.poll() is not None:
                words = exit_words(child.proc.returncode)
                raise self._failure(child, f"{words} before answering on port {child.step.port}")
            pid = self._answered_pid(child)
            if pid is not None and is_same_or_descendant(pid, child.proc.pid):
                return
            stranger = pid if pid is not None else stranger
            time.sleep(0.1)
        extra = f"; pid {stranger}, not the one started, answers there" if stranger else ""
        raise self._failure(child, f"no answer from {child.step.ready_url} within {child.step.timeout:g} s{extra}")

    def newly_dead(self) -> list[Child]:
        dead = [c for c in self.children if not c.reported and c.proc.poll() is not None]
        for child in dead:
            child.reported = True
            self.event(event="exited", name=child.name, pid=child.proc.pid, returncode=child.proc.returncode)
            self.say(f"launch: {child.name} (pid {child.proc.pid}) {exit_words(child.proc.returncode)}; "
                     f"last lines of {child.log}:\n{tail(child.log)}")
        return dead

    def restart(self, child: Child) -> Child:
        self.children.remove(child)
        new = self.start(child.step, append=True)
        self.event(event="restarted", name=new.name, pid=new.proc.pid)
        return new

    def stop_all(self, timeout: float = 10.0) -> None:
        """Reverse start order: SIGTERM, wait, SIGKILL what is still there."""
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.proc.terminate()
        for child in reversed(self.children):
            try:
                child.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
