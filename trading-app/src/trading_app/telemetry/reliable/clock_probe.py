"""The publisher's side of the reliable channel's round-trip clock probe.

After each heartbeat the sender thread sends a bare ``[b"clk1"]``: it answers
probes. The sidecar's ROUTER then sends ``[b"clk1", {"t1": <sidecar time>}]``; the sender
thread answers at once with ``[b"clk1", {"t1", "t2", "t3"}]``: ``t1`` echoed,
``t2`` when it read the probe and ``t3`` when it answers, both by this host's
clock. The sidecar computes this producer's clock offset and its error bound
from the four times (metrics_sidecar/clock_offset.py, docs/metrics.md "Clock
skew"). No event carries any of it.
"""

from __future__ import annotations

import json
import logging
import time

import zmq

log = logging.getLogger("trading_app.publisher")

PROBE = b"clk1"


def answer_probe(sock: zmq.Socket, body: bytes, received: float) -> None:
    """Reply to one probe read at ``received`` (``time.time()``); a malformed one
    is logged and ignored, a full send queue skips this round."""
    try:
        t1 = json.loads(body)["t1"]
        if not isinstance(t1, float | int):
            raise TypeError("t1 is not a number")
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring a malformed clock probe: %r", body[:200])
        return
    reply = json.dumps({"t1": t1, "t2": received, "t3": time.time()}).encode()
    try:
        sock.send_multipart([PROBE, reply], zmq.NOBLOCK)
    except zmq.ZMQError:
        pass  # the sidecar probes again in a second


def say_answers_probes(sock: zmq.Socket) -> None:
    """The bare ``[b"clk1"]`` after a heartbeat: the sidecar probes only
    connections that sent it."""
    try:
        sock.send(PROBE, zmq.NOBLOCK)
    except zmq.ZMQError:
        pass  # the next heartbeat says it again
