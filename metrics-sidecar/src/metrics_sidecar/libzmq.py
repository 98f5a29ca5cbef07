"""Which drain the PULL loop uses, decided here and nowhere else: the core's
(``drains.CoreDrain``), which calls the libzmq pyzmq itself loaded, or, when that
library cannot be found or lacks a function the core calls, the Python drain
(``drains.PythonDrain``). The choice is logged.

The library is found by its mapping in this process (``/proc/self/maps``: the
file whose name starts with ``libzmq``, e.g. pyzmq's bundled
``pyzmq.libs/libzmq-*.so.5``), and the core opens that path: opening an
already-loaded library returns the same library, so the core and pyzmq call one
libzmq, and a second one is never loaded. Two different libzmq files mapped at
once would leave the choice ambiguous: the Python drain then.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import zmq  # loads pyzmq's libzmq before the maps are read

from . import _core
from .drains import CoreDrain, Drain, PythonDrain
from .intake import Intake
from .settings import Settings
from .state import TelemetryState

log = logging.getLogger("metrics_sidecar.libzmq")

MAPS = Path("/proc/self/maps")


def locate(maps: Path | None = None) -> str | None:
    """The path of the one libzmq mapped into this process, or None (none, more
    than one, or no maps to read)."""
    try:
        text = (maps or MAPS).read_text()
    except OSError:
        return None
    found = set()
    for line in text.splitlines():
        fields = line.split(maxsplit=5)  # address perms offset dev inode path
        if len(fields) == 6:
            path = fields[5]
            if os.path.basename(path).startswith("libzmq") and not path.endswith(" (deleted)"):
                found.add(path)
    return found.pop() if len(found) == 1 else None


def load(maps: Path | None = None) -> _core.LibZmq | None:
    """The core's handle on pyzmq's libzmq, or None (logged why)."""
    path = locate(maps)
    if path is None:
        log.warning("no single libzmq found mapped in this process (pyzmq %s, libzmq %s)",
                    zmq.pyzmq_version(), zmq.zmq_version())
        return None
    try:
        return _core.LibZmq(path)
    except OSError as exc:  # a function the core calls is missing, or it cannot be opened
        log.warning("libzmq at %s is unusable by the core: %s", path, exc)
        return None


def choose_drain(state: TelemetryState, intake: Intake, settings: Settings) -> Drain:
    """The PULL loop's drain (logged): with ``settings.pull_drain`` = auto, the core's
    when pyzmq's libzmq is usable, else Python's; ``python``: Python's always (an
    operator's way back should a pyzmq upgrade trouble the core's drain); ``core``:
    the core's, or a RuntimeError that names the setting (rather than run slower
    unnoticed)."""
    if settings.pull_drain == "python":
        log.info("PULL drain: Python (SIDECAR_PULL_DRAIN=python)")
        return PythonDrain(state, intake, settings)
    lib = load()
    if lib is None:
        if settings.pull_drain == "core":
            raise RuntimeError("pull_drain: 'core' was asked for (SIDECAR_PULL_DRAIN=core), but the core "
                               "cannot call pyzmq's libzmq (see the warning above); use auto or python")
        log.info("PULL drain: Python (the core cannot call pyzmq's libzmq)")
        return PythonDrain(state, intake, settings)
    log.info("PULL drain: the core's, through %s", lib.path)
    return CoreDrain(state, intake, settings, lib)
