"""Hostile frames for the wire fuzz test (test_hostile_wire.py), and the count of
outcomes each must produce: every message a frame carries ends as exactly one of
applied, rejected or duplicate, except the payloads of a reliable batch beyond a
gap, which the sidecar drops uncounted by protocol (the publisher resends them).

The generator is seeded (the seed is in the failure message); the ROUTER model
keeps the per-stream cursors the sidecar keeps, by the rules of docs/delivery.md.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec

from metrics_sidecar.decode import decode_batch
from metrics_sidecar.reliable import Header
from metrics_sidecar.schema import SEQ_MAX

MAX_MESSAGE_BYTES = 65536  # the sidecar's default SIDECAR_MAX_MESSAGE_BYTES
PRODUCERS = ["fz-a", "fz-b", "fz-c"]
INSTANCES = ["i1", "i2", None]
TOKENS = [b"{", b"}", b"[", b"]", b'"', b":", b",", b"\\", b"\xff", b"\xc3", b"NaN", b"Infinity", b"1e400",
          b"9" * 30, b"null", b"true", b"\\u0000", b"\\ud800", b'"type":', b'"qty":', b'"seq":', b" ", b"\x00"]
NUMBERS: list[Any] = [0, 1, -1, 0.5, 1e15, 1e15 * 1.0000001, 1e12, 1e13, 1e300, 2**63 - 1, 2**63, 2**64,
                      10**30, 1e11, 99999999999.9, 1e14, -0.0]
_HEADER = msgspec.json.Decoder(Header)


class Wire:
    """Random messages, frames and reliable batches from one seeded generator."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def number(self) -> Any:
        return self.rng.choice(NUMBERS) if self.rng.random() < 0.3 else round(self.rng.uniform(0, 1000), 3)

    def message(self) -> dict[str, Any]:
        rng = self.rng
        now = time.time()
        ts: Any = rng.choice([now, now, now * 1000, now + 3600 * 24 * 365, now - 3600, self.number(),
                              "2023-11-14T22:13:20Z", "2023-11-14T22:13:20", "9999-12-31T23:59:59Z"])
        kind = rng.choice(["trade", "trade", "tick", "heartbeat"])
        msg: dict[str, Any] = {"type": kind, "ts": ts}
        if kind == "trade":
            msg.update(side=rng.choice(["buy", "sell", "hold"]), qty=self.number())
            if rng.random() < 0.5:
                msg["symbol"] = rng.choice(["BTC", "ETH", "bad symbol"])
        elif kind == "tick":
            msg.update(symbol=rng.choice(["BTC", "ETH"]), price=self.number())
            for key in ("volume", "bid", "ask"):
                if rng.random() < 0.3:
                    msg[key] = self.number()
        if rng.random() < 0.6:
            msg["producer"] = rng.choice(PRODUCERS)
            instance = rng.choice(INSTANCES)
            if instance is not None:
                msg["instance"] = instance
            msg["seq"] = rng.choice([rng.randint(0, 50), rng.randint(0, 5), self.number()])
        if rng.random() < 0.3:
            msg["event_id"] = f"e{rng.randint(0, 40)}"
        if rng.random() < 0.3:
            msg["sent_ts"] = rng.choice([now, now + 60, self.number()])
        return msg

    def mutate(self, raw: bytes) -> bytes:
        rng = self.rng
        data = bytearray(raw)
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(4)
            pos = rng.randrange(len(data) + 1)
            if op == 0 and data:
                data[min(pos, len(data) - 1)] = rng.randrange(256)
            elif op == 1:
                data[pos:pos] = rng.choice(TOKENS)
            elif op == 2:
                del data[pos:pos + rng.randint(1, 8)]
            else:
                data = data[:pos]
        return bytes(data)

    def encoded(self) -> bytes:
        raw = json.dumps(self.message()).encode()
        roll = self.rng.random()
        if roll < 0.5:
            return raw
        if roll < 0.9:
            return self.mutate(raw)
        return self.rng.randbytes(self.rng.randint(0, 64))

    def pull_frame(self) -> bytes:
        """One PULL frame: a message, a JSON-array batch of them, or junk."""
        roll = self.rng.random()
        if roll < 0.6:
            return self.encoded()
        if roll < 0.9:
            batch = b"[" + b",".join(self.encoded() for _ in range(self.rng.randint(0, 12))) + b"]"
            return self.mutate(batch) if self.rng.random() < 0.2 else batch
        if roll < 0.92:
            return b"x" * self.rng.randint(MAX_MESSAGE_BYTES + 1, MAX_MESSAGE_BYTES + 1000)  # too_large
        return self.rng.randbytes(self.rng.randint(0, 200))

    def header(self) -> bytes:
        rng = self.rng
        head: dict[str, Any] = {"producer": rng.choice(PRODUCERS), "instance": rng.choice(["r1", "r2"]),
                                "seq": rng.choice([1, 1, 2, rng.randint(1, 30), SEQ_MAX, SEQ_MAX + 1, 2**64, 0]),
                                "acked": rng.choice([0, 0, rng.randint(0, 30), SEQ_MAX, 2**64, -1])}
        if rng.random() < 0.05:
            head["extra"] = 1
        raw = json.dumps(head).encode()
        return self.mutate(raw) if rng.random() < 0.2 else raw

    def router_message(self) -> list[bytes]:
        """The frames a DEALER sends (the ROUTER prepends the identity)."""
        rng = self.rng
        kind = rng.choice([b"rel1"] * 8 + [b"hb1", b"junk"])
        if kind == b"hb1":
            return [kind, *(self.encoded() for _ in range(rng.randint(0, 2)))]
        if rng.random() < 0.05:
            return [kind]  # too short for the protocol
        return [kind, self.header(), *(self.encoded() for _ in range(rng.randint(0, 5)))]


def pull_outcomes(frame: bytes) -> int:
    """Messages the sidecar counts for one PULL frame (a batch: one per element)."""
    if len(frame) > MAX_MESSAGE_BYTES or frame[:1] != b"[":
        return 1
    return len(decode_batch(frame))


@dataclass
class RouterModel:
    """The cursors of the sidecar's reliable streams, for counting outcomes."""

    cursors: dict[tuple[str, str], int] = field(default_factory=dict)

    def outcomes(self, frames: list[bytes]) -> int:
        kind, payloads = frames[0], frames[2:]
        if kind == b"hb1":
            return len(frames) - 1
        if kind != b"rel1" or len(frames) < 2:
            return 1  # multipart: not this protocol
        try:
            header = _HEADER.decode(frames[1])
        except msgspec.MsgspecError:
            header = None
        if header is None or header.seq + max(len(payloads), 1) - 1 > SEQ_MAX:
            return max(1, len(payloads))
        key = (header.producer, header.instance)
        known = self.cursors.get(key)
        # A known stream stays at its cursor; an unknown one resumes after acked, clamped below seq.
        cursor = min(header.acked, header.seq - 1) if known is None else known
        start = known or 0
        counted = 0
        for k in range(len(payloads)):
            seq = header.seq + k
            if seq <= cursor:
                counted += 1  # a duplicate
            elif seq == cursor + 1:
                counted += 1
                cursor = seq
            else:
                break  # a gap: the rest is dropped uncounted, the publisher goes back
        if cursor != start:
            self.cursors[key] = cursor
        return counted
