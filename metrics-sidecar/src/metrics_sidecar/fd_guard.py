"""Keep HTTP answering, and its log small, whatever peers do (issue 18, finding 6).

Silent TCP peers on the ZeroMQ port each cost libzmq a descriptor until its
handshake times out (``ZMQ_HANDSHAKE_IVL``, sockets.py). With a 1,024 soft
limit a few hundred of them left uvicorn's ``accept()`` failing with EMFILE, and
asyncio logged every failure. Here: the soft ``RLIMIT_NOFILE`` is raised to the
hard limit at start, and asyncio's "out of system resource" errors are logged
at most once per ``LOG_EVERY_SECONDS`` with a count of the ones left out. The
same holds for the warnings and errors uvicorn logs about what a client sent
("Invalid HTTP request received.", unsupported upgrades, an aborted response):
the first of each kind per window is logged, the rest counted.

The trading app's ``fd_guard.py`` is a symlink to this file: no package imports.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import time
from typing import Any

import uvicorn

log = logging.getLogger("fd_guard")
LOG_EVERY_SECONDS = 10.0
NR_OPEN = "/proc/sys/fs/nr_open"  # the kernel's cap when the hard limit is "unlimited"


def raise_open_file_limit() -> int:
    """Soft RLIMIT_NOFILE := hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:
        try:
            with open(NR_OPEN) as f:
                target = int(f.read())
        except (OSError, ValueError):
            target = 1 << 20
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:  # a sandbox may refuse: keep serving with what we have
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, exc)
            return soft
        return target
    return soft


class EveryFewSeconds:
    """Per kind of line: the first in each ``every``-second window passes, the rest are counted."""

    def __init__(self, every: float = LOG_EVERY_SECONDS) -> None:
        self.every = every
        self._last: dict[object, float] = {}
        self._left_out: dict[object, int] = {}

    def allow(self, kind: object) -> int | None:
        """None: leave this one out. Else: how many of ``kind`` were left out since the last one."""
        now = time.monotonic()
        if now - self._last.get(kind, -float("inf")) < self.every:
            self._left_out[kind] = self._left_out.get(kind, 0) + 1
            return None
        if len(self._last) > 1000:  # kinds are message templates: a handful; never let them grow
            self._last.clear()
        self._last[kind] = now
        return self._left_out.pop(kind, 0)


class ResourceErrorLimiter:
    """A loop exception handler: resource-exhaustion errors (EMFILE and friends
    on accept) are logged once per ``every`` seconds, with how many were left out;
    everything else goes to the loop's default handler unchanged."""

    def __init__(self, every: float = LOG_EVERY_SECONDS) -> None:
        self.window = EveryFewSeconds(every)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if "out of system resource" not in str(context.get("message", "")):
            loop.default_exception_handler(context)
            return
        left_out = self.window.allow("accept")
        if left_out is not None:
            log.error("%s: %s (logged at most every %.0f s; %d left out since the last one)",
                      context["message"], context.get("exception"), self.window.every, left_out)


class ServerLogLimiter(logging.Filter):
    """On uvicorn's error logger: WARNING and above, once per message template per window."""

    def __init__(self, every: float = LOG_EVERY_SECONDS) -> None:
        super().__init__()
        self.window = EveryFewSeconds(every)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        left_out = self.window.allow(str(record.msg))
        if left_out:
            record.msg = f"{record.msg} [{left_out} more like it not logged in the last {self.window.every:.0f} s]"
        return left_out is not None


def serve(server: uvicorn.Server, sockets: list[socket.socket]) -> None:
    """``server.run(sockets)``, with the rate-limited handler on its event loop
    and uvicorn's client-triggered log lines rate-limited."""
    logging.getLogger("uvicorn.error").addFilter(ServerLogLimiter())

    async def guarded() -> None:
        asyncio.get_running_loop().set_exception_handler(ResourceErrorLimiter())
        await server.serve(sockets=sockets)

    factory = getattr(server.config, "get_loop_factory", lambda: None)()  # uvicorn's loop choice
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(guarded())
