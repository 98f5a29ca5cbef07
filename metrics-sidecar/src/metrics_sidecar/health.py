"""``/health``: 200 while everything that keeps the numbers right works, else
503, with the reasons. Read without ``state.lock`` (a stalled journal write
holds it), so health answers even while scrapes wait."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from . import __version__

if TYPE_CHECKING:
    from .ingest import IngestLoop
    from .reliable import DurableServices

# The closed set of reasons (docs/api.md, docs/delivery.md).
INGEST_LOOP_DOWN = "ingest_loop_down"  # the PULL loop is not running: messages are not received
RELIABLE_LOOP_DOWN = "reliable_loop_down"  # the ROUTER loop is not running: nothing is acked
JOURNAL_WRITE_FAILING = "journal_write_failing"  # applying paused until the journal can be written


def health_report(ingest: IngestLoop, durable: DurableServices | None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body)."""
    reasons: list[dict[str, str]] = []
    if not ingest.running.is_set():
        reasons.append({"reason": INGEST_LOOP_DOWN, "detail": "the ZeroMQ PULL loop stopped; see the log"})
    loop = durable.loop if durable is not None else None
    if loop is not None and not loop.running.is_set():
        reasons.append({"reason": RELIABLE_LOOP_DOWN, "detail": "the reliable ROUTER loop stopped; see the log"})
    store = durable.durable if durable is not None else None
    if store is not None and store.stalled:
        reasons.append({"reason": JOURNAL_WRITE_FAILING,
                        "detail": f"{store.last_error}: applying is paused and the write retried"})
    body: dict[str, Any] = {
        "status": "unhealthy" if reasons else "ok",
        "reasons": reasons,
        "loop_running": ingest.running.is_set(),
        "zmq_endpoint": ingest.last_endpoint,
        "version": __version__,
        "pid": os.getpid(),  # lets a launcher tell its own process from a stranger on the port
    }
    if store is not None:
        body["journal"] = {"write_errors": store.write_errors, "stalls": store.stalls,
                           "frames_skipped_at_start": store.frames_skipped,
                           "torn_tail_bytes_at_start": store.torn_tail_bytes,
                           "records_unreadable_at_start": store.records_unreadable,
                           "records_left_out": store.unrecordable}
    return (503 if reasons else 200), body
