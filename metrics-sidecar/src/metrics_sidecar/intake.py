"""The one ingest entry: received frames -> the core (decode, apply, count), for
both socket loops (the PULL loop in ingest.py, the reliable ROUTER loop in
reliable.py), which call it under ``state.lock`` with a drained batch of frames
and their receive times. One core call per batch (``TelemetryState.ingest``,
``core/src/py_ingest.rs``): the core decodes each frame into Rust structs,
applies it, and counts every rejection by reason, in one place; a bug in the core
costs that frame (``internal_error``), never the loop. What comes back is the
rejections, logged here rate-limited.

The PULL loop's drain in the core (``drain``) receives its frames itself, through
pyzmq's libzmq, and hands them to the same batch entry inside the core.

The loops keep what belongs to their socket: multipart framing, the reliable
channel's headers, cursors and acks.
"""

from __future__ import annotations

from . import _core, reasons
from .ratelimit import RateLimitedLogger
from .state import Stamp, TelemetryState

__all__ = ["Intake", "Stamp"]


class Intake:
    __slots__ = ("_ingest", "_limit", "_log", "state")

    def __init__(self, state: TelemetryState, max_message_bytes: int, log: RateLimitedLogger) -> None:
        self.state = state
        self._ingest = state.ingest
        self._limit = max_message_bytes
        self._log = log

    def frames(self, frames: list[bytes], recv: list[float], stamps: list[Stamp | None] | None = None,
               arrays: bool = True) -> int:
        """Decode and apply a batch of received frames (``recv[i]``: frame i's receive
        time) in one core call; returns how many messages they held.

        ``arrays``: a frame starting with ``[`` is a batch (the publisher batches a
        backlog), each element judged on its own. ``stamps[i]``: the producer, instance
        and seq the reliable channel's header assigns frame i (it is what the cursor
        tracks; the payload must agree with it)."""
        try:
            count, rejected = self._ingest(frames, recv, stamps, arrays, self._limit)
        except Exception:  # noqa: BLE001 - logged (rate-limited), with traceback
            # A bug outside the core's per-frame guard: the call failed before it applied
            # anything (the core catches everything per frame once it runs). It must cost
            # the frame it is about, never its neighbours: each frame again, on its own.
            if len(frames) > 1:
                return sum(self.frames([data], [recv[i]], None if stamps is None else [stamps[i]], arrays)
                           for i, data in enumerate(frames))
            self._log.exception("ingest: unexpected error; frame counted as internal_error")
            self.reject(reasons.INTERNAL_ERROR)
            return 1
        self._logged(rejected)
        return count

    def drain(self, lib: _core.LibZmq, socket: int, first: bytes | None, first_more: bool, in_multipart: bool,
              budget: int, delay: float) -> tuple[int, bool, int]:
        """The PULL socket's drain in the core (drains.CoreDrain, under ``state.lock``):
        ``first``, then what is queued on ``socket`` (pyzmq's handle), decoded and applied
        as one batch. Returns (messages taken, in_multipart after, errno or 0)."""
        count, rejected, in_multipart, errno = self.state.drain(
            lib, socket, first, first_more, in_multipart, budget, self._limit, delay)
        self._logged(rejected)
        return count, in_multipart, errno

    def _logged(self, rejected: list[tuple[str, bytes | None]]) -> None:
        for reason, prefix in rejected:
            if prefix is None:
                self._log.warning("rejected message (%s)", reason)
            else:
                self._log.warning("rejected message (%s): %r", reason, prefix)

    def frame(self, data: bytes, recv_ts: float, stamp: Stamp | None = None, arrays: bool = True) -> int:
        """One received frame (``frames`` with one)."""
        return self.frames([data], [recv_ts], None if stamp is None else [stamp], arrays)

    def reject(self, reason: str, data: bytes | None = None) -> None:
        """Count one rejected message (call with ``state.lock`` held); ``data``: the
        frame, logged (rate-limited) with the reason."""
        self.state.reject(reason)
        if data is not None:
            self._log.warning("rejected message (%s): %r", reason, data[:120])
