"""The one way the sidecar opens a listening ZeroMQ socket (the PULL ingest
socket and the reliable channel's ROUTER): the same limits, the same CURVE
treatment, the same bind."""

from __future__ import annotations

from collections.abc import Iterable

import zmq

from .curve import CurveServer

HANDSHAKE_IVL_MS = 5000


def open_bound_socket(context: zmq.Context, kind: int, address: str, *, rcvhwm: int, max_message_bytes: int,
                      curve: CurveServer | None = None, options: Iterable[tuple[int, int]] = ()
                      ) -> tuple[zmq.Socket, str]:
    """A socket of ``kind`` bound on ``address``; returns it with the endpoint it
    actually bound (an OS-chosen port resolved). ``options``: extra integer socket
    options, set before the bind. ``curve``: already started (its ZAP handler must
    exist before the first client connects, i.e. before the bind)."""
    sock = context.socket(kind)
    try:
        sock.setsockopt(zmq.LINGER, 0)  # never hang shutdown on a dead peer
        sock.setsockopt(zmq.RCVHWM, rcvhwm)
        # Above MAXMSGSIZE libzmq drops the frame *and the connection* before we
        # see it (messages queued behind it are lost). Frames up to twice the limit
        # therefore reach us and are counted as too_large; only grossly oversized
        # ones (a memory attack, not a bug) cost the peer its connection.
        sock.setsockopt(zmq.MAXMSGSIZE, 2 * max_message_bytes)
        # A peer that connects and never completes the ZMTP (or CURVE) handshake
        # holds a descriptor: drop it after HANDSHAKE_IVL (libzmq's default is 30 s,
        # long enough for a few hundred silent peers to exhaust the fd limit).
        sock.setsockopt(zmq.HANDSHAKE_IVL, HANDSHAKE_IVL_MS)
        for option, value in options:
            sock.setsockopt(option, value)
        if curve is not None:
            curve.secure(sock)  # encryption and the client allow-list
        if address.startswith("tcp://") and address.endswith(":0"):
            address = address[:-2] + ":*"  # the same to libzmq; ":*" is its documented spelling
        sock.bind(address)
        return sock, sock.getsockopt_string(zmq.LAST_ENDPOINT)
    except BaseException:
        sock.close(linger=0)  # a socket left open would make context.term() wait for it
        raise
