"""Round-trip clock probes on the reliable channel (the sidecar's side).

A publisher that answers probes says so with a bare ``[b"clk1"]`` after each of
its heartbeats. Every ``PROBE_INTERVAL`` s the ROUTER sends each such
connection it has heard from in the last ``PEER_TTL`` s (a batch or a heartbeat
names its producer) ``[identity, b"clk1", {"t1": <sidecar time>}]``; a
connection that never said so (an older publisher, a hand-made client) gets
none. A publisher answers at once
with ``[b"clk1", {"t1": <echoed>, "t2": <its receipt>, "t3": <its reply>}]``
(its own clock); the reply's receipt is ``t4``. ``clock_offset.py`` turns the
four times into an offset and a round trip (NTP's on-wire exchange).

Nothing of this is in the event schema: the probe and its reply are frames of
the reliable channel, like its batch headers and acks. A publisher that does
not answer (an older one) simply keeps the one-way estimate.

A reply is trusted only as far as it can be checked: its ``t1`` must be the one
this sidecar sent that connection last (else it is late or forged: ignored),
and its times must give a round trip at least 0 with ``t3 >= t2``. A reply that
is not such JSON is counted as ``bad_field``.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

import msgspec
import zmq

from . import read_model, reasons
from .ratelimit import RateLimitedLogger
from .textformat import Writer, labels

if TYPE_CHECKING:
    from .state import TelemetryState

log = logging.getLogger("metrics_sidecar.clock_probe")

PROBE = b"clk1"
PROBE_INTERVAL = 1.0
PEER_TTL = 10.0  # a connection not heard from for this long gets no more probes
MAX_PEERS = 1024  # connections probed at once; the least recently heard from goes first


class _Probe(msgspec.Struct):
    t1: float


class _Reply(msgspec.Struct, forbid_unknown_fields=True):
    t1: float
    t2: float
    t3: float


class _Named(msgspec.Struct):
    producer: str


_encode = msgspec.json.Encoder().encode
_decode_reply = msgspec.json.Decoder(_Reply).decode
_decode_named = msgspec.json.Decoder(_Named).decode


class _Peer:
    __slots__ = ("answers", "heard", "producer", "t1")

    def __init__(self, producer: str, heard: float) -> None:
        self.producer = producer  # "" until a batch or heartbeat names it
        self.heard = heard
        self.answers = False  # it said it answers probes
        self.t1: float | None = None  # the outstanding probe's send time


class ClockProbes:
    """Which connections to probe, the probes, and the replies. Used by the
    reliable loop's thread only; replies are handled under ``state.lock``."""

    def __init__(self, state: TelemetryState, log_per_second: float) -> None:
        self.state = state
        self.peers: OrderedDict[bytes, _Peer] = OrderedDict()
        self.probes_sent = 0
        self._next_round = 0.0
        self._log = RateLimitedLogger(log, log_per_second)

    def heard(self, identity: bytes, producer: str, now: float) -> _Peer:
        """A batch header named ``producer`` on this connection ("": a hello)."""
        peer = self.peers.get(identity)
        if peer is None:
            peer = self.peers[identity] = _Peer(producer, now)
            if len(self.peers) > MAX_PEERS:
                self.peers.popitem(last=False)
        else:
            peer.producer, peer.heard = producer or peer.producer, now
            self.peers.move_to_end(identity)
        return peer

    def frame(self, identity: bytes, frames: list[bytes], now: float) -> None:
        """A ``clk1`` frame's body: none is a hello, one is a reply. Hold ``state.lock``."""
        if frames:
            self.reply(identity, frames, now)
        else:
            self.heard(identity, "", now).answers = True

    def heard_heartbeat(self, identity: bytes, payload: bytes, now: float) -> None:
        """A heartbeat's producer (what the apply path then decodes in full)."""
        try:
            self.heard(identity, _decode_named(payload).producer, now)
        except msgspec.MsgspecError:
            pass  # the apply path counts the bad heartbeat

    def send_due(self, sock: zmq.Socket, now: float) -> None:
        """One probe per live connection every ``PROBE_INTERVAL`` s."""
        if now < self._next_round:
            return
        self._next_round = now + PROBE_INTERVAL
        for identity in [i for i, p in self.peers.items() if now - p.heard > PEER_TTL]:
            del self.peers[identity]
        for identity, peer in self.peers.items():
            if not (peer.answers and peer.producer):
                continue
            t1 = time.time()
            try:
                sock.send_multipart([identity, PROBE, _encode(_Probe(t1))], zmq.NOBLOCK)
            except zmq.ZMQError:
                continue  # gone or full: the next round tries again
            peer.t1 = t1
            self.probes_sent += 1

    def reply(self, identity: bytes, frames: list[bytes], t4: float) -> None:
        """A reply received at ``t4``. Hold ``state.lock``."""
        try:
            if len(frames) != 1:
                raise ValueError("one JSON body expected")
            answer = _decode_reply(frames[0])
            if not all(math.isfinite(t) for t in (answer.t1, answer.t2, answer.t3)):
                raise ValueError("non-finite time")
        except (msgspec.MsgspecError, ValueError) as error:
            self.state.reject(reasons.BAD_FIELD)
            self._log.warning("reliable: bad clock probe reply (%s): %r", error, frames[:1])
            return
        peer = self.peers.get(identity)
        if peer is None or peer.t1 is None or answer.t1 != peer.t1:
            self._log.warning("reliable: clock probe reply for no outstanding probe (late or forged): ignored")
            return
        peer.t1 = None
        round_trip = (t4 - answer.t1) - (answer.t3 - answer.t2)
        if round_trip < 0 or answer.t3 < answer.t2:
            self.state.reject(reasons.BAD_FIELD)
            self._log.warning("reliable: clock probe reply with impossible times: ignored")
            return
        offset = ((answer.t2 - answer.t1) + (answer.t3 - t4)) / 2
        if peer.producer in self.state.producers.stats:  # a label the apply path made: validated, capped
            self.state.clock_offsets.observe_round_trip(peer.producer, offset, round_trip, t4)


def write_offset_methods(state: TelemetryState, out: Writer, now: float) -> None:
    """How each ``producer_clock_offset_seconds`` was estimated, and the round
    trip's error bound (docs/metrics.md "Clock skew")."""
    details = read_model.offset_details(state, now)
    out.family("producer_clock_offset_info", "gauge",
               "1 per producer with an offset estimate: method=round_trip (reliable channel probes) or one_way")
    for producer, (_, method, _) in sorted(details.items()):
        out.sample("producer_clock_offset_info", labels((("method", method), ("producer", producer))), 1)
    out.family("producer_clock_offset_error_seconds", "gauge",
               "Half the round trip of the probe behind a round-trip offset estimate: the offset lies within +-this")
    for producer, (_, _, bound) in sorted(details.items()):
        if bound is not None:
            out.sample("producer_clock_offset_error_seconds", labels((("producer", producer),)), bound)
