"""Keep HTTP answering when peers hold many file descriptors (issue 18, finding 6).

Silent TCP peers on the ZeroMQ port each cost libzmq a descriptor until its
handshake times out (``ZMQ_HANDSHAKE_IVL``, sockets.py). With a 1,024 soft
limit a few hundred of them left uvicorn's ``accept()`` failing with EMFILE, and
asyncio logged every failure. Here: the soft ``RLIMIT_NOFILE`` is raised to the
hard limit at start, and asyncio's "out of system resource" errors are logged
at most once per ``LOG_EVERY_SECONDS`` with a count of the ones left out.

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


class ResourceErrorLimiter:
    """A loop exception handler: resource-exhaustion errors (EMFILE and friends
    on accept) are logged once per ``every`` seconds, with how many were left out;
    everything else goes to the loop's default handler unchanged."""

    def __init__(self, every: float = LOG_EVERY_SECONDS) -> None:
        self.every = every
        self._last = -float("inf")
        self.suppressed = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if "out of system resource" not in str(context.get("message", "")):
            loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if now - self._last < self.every:
            self.suppressed += 1
            return
        self._last = now
        left_out, self.suppressed = self.suppressed, 0
        log.error("%s: %s (logged at most every %.0f s; %d left out since the last one)",
                  context["message"], context.get("exception"), self.every, left_out)


def serve(server: uvicorn.Server, sockets: list[socket.socket]) -> None:
    """``server.run(sockets)``, with the rate-limited handler on its event loop."""
    async def guarded() -> None:
        asyncio.get_running_loop().set_exception_handler(ResourceErrorLimiter())
        await server.serve(sockets=sockets)

    factory = getattr(server.config, "get_loop_factory", lambda: None)()  # uvicorn's loop choice
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(guarded())
