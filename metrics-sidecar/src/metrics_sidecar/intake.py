"""The one ingest entry: received frame bytes -> decoded events -> state.apply,
for both socket loops (the PULL loop in ingest.py, the reliable ROUTER loop in
reliable.py), which call it under ``state.lock`` with each frame and its receive
time. Every rejection of a received message is counted here (``reject``), by
reason, and logged rate-limited; a bug in decode or apply costs that message
(``internal_error``), never the loop.

The loops keep what belongs to their socket: multipart framing, the reliable
channel's headers, cursors and acks. The refusals ``state.apply`` itself decides
(future_timestamp, stale, overflow) it also counts, because the journal replays
them from the event's own record, not from a reject record.
"""

from __future__ import annotations

from . import reasons
from .decode import DecodeResult, decode, decode_batch
from .journal import UnrecordableError
from .ratelimit import RateLimitedLogger
from .state import TelemetryState

Stamp = tuple[str, str, int]  # (producer, instance, seq) a reliable batch header gives its payload


class Intake:
    __slots__ = ("_apply", "_limit", "_log", "state")

    def __init__(self, state: TelemetryState, max_message_bytes: int, log: RateLimitedLogger) -> None:
        self.state = state
        self._apply = state.apply
        self._limit = max_message_bytes
        self._log = log

    def frame(self, data: bytes, recv_ts: float, stamp: Stamp | None = None, arrays: bool = True) -> int:
        """Decode and apply one received frame; returns how many messages it held.

        ``arrays``: a frame starting with ``[`` is a batch (the publisher batches a
        backlog), each element judged on its own. ``stamp``: the producer, instance
        and seq the reliable channel's header assigns (it is what the cursor tracks;
        the payload must agree with it)."""
        if len(data) > self._limit:
            self.reject(reasons.TOO_LARGE, data)
            return 1
        if arrays and data[:1] == b"[":
            results = decode_batch(data)
            for result in results:
                self._one(result, data, recv_ts, None)
            return len(results)
        self._one(decode(data), data, recv_ts, stamp)
        return 1

    def _one(self, result: DecodeResult, data: bytes, recv_ts: float, stamp: Stamp | None) -> None:
        if type(result) is str:
            self.reject(result, data)
            return
        event = result
        assert not isinstance(event, str)  # narrows the type for mypy: the check above decides
        if stamp is not None:
            event.producer, event.instance, event.seq = stamp
        event.recv_ts = recv_ts
        try:
            reason = self._apply(event)
        except UnrecordableError:  # beyond what the journal holds: refused before any change
            self.reject(reasons.BAD_FIELD, data)
            return
        except Exception:  # noqa: BLE001 - logged (rate-limited), with traceback
            # A bug must cost one message, never the loop.
            self._log.exception("failed to apply %r", event)
            self.reject(reasons.INTERNAL_ERROR)
            return
        if reason is not None:
            self._log.warning("rejected message (%s)", reason)

    def reject(self, reason: str, data: bytes | None = None) -> None:
        """Count one rejected message (call with ``state.lock`` held); ``data``: the
        frame, logged (rate-limited) with the reason."""
        self.state.reject(reason)
        if data is not None:
            self._log.warning("rejected message (%s): %r", reason, data[:120])
