"""The load generator for the ingest benchmarks, run as its own process.

It pre-encodes every frame before it connects (publisher-format trade messages:
producer/instance/seq/event_id/sent_ts, exactly what ``Publisher`` stamps), so
during the timed part it only calls ``send`` and is not the bottleneck. Sends
block at the high-water mark instead of dropping: the benchmark measures how
fast the receiver drains, with every message delivered.

``--batch K`` groups K messages into one frame, a JSON array packed by
``trading_app.telemetry.frames.pack_frames`` (what ``Publisher.publish_many`` sends for
a backlog).

Prints ``{"event": "result", "t0": <wall time of the first send>, ...}``.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

import msgspec
import zmq
from zmq.utils.monitor import recv_monitor_message

from trading_app.telemetry.frames import pack_frames


def trade_messages(n: int, symbols: int, instance: str, first_seq: int = 1,
                   ticks: bool = False) -> list[dict[str, object]]:
    """``n`` publisher-format messages cycling over ``symbols`` symbols: trades, or
    (``ticks``) alternately a trade and a tick. Each pass over the symbols flips the
    trade side and the tick source, so after two passes every per-symbol series of
    every metric family exists."""
    now = time.time()
    per_pass = 2 * symbols if ticks else symbols
    out: list[dict[str, object]] = []
    for i, seq in enumerate(range(first_seq, first_seq + n)):
        symbol = f"SYM{(i // 2 if ticks else i) % symbols:05d}"
        flip = i // per_pass % 2
        stamp = {"producer": "bench", "instance": instance, "seq": seq, "event_id": f"{instance}-{seq}",
                 "sent_ts": now}
        if ticks and i % 2:
            out.append({"type": "tick", "symbol": symbol, "price": 100.0 + i % 7, "volume": 1.0, "ts": now,
                        "source": f"feed{flip}", **stamp})
        else:
            out.append({"type": "trade", "side": "sell" if flip else "buy", "qty": float(1 + i % 5), "ts": now,
                        "symbol": symbol, "price": 100.0 + i % 7, **stamp})
    return out


def encode_frames(messages: list[dict[str, object]], batch: int) -> list[bytes]:
    """One frame per message, or (``batch`` > 1) frames of ``batch`` messages packed
    exactly as ``Publisher.publish_many`` packs a backlog."""
    encode = msgspec.json.Encoder().encode
    payloads = [encode(m) for m in messages]
    if batch <= 1:
        return payloads
    frames = []
    for i in range(0, len(payloads), batch):
        packed = pack_frames(payloads[i:i + batch])
        if len(packed) != 1:
            raise ValueError(f"{batch} messages do not fit one frame; use a smaller --batch")
        frames.append(packed[0][1])
    return frames


def connect_and_wait(sock: zmq.Socket, endpoint: str, timeout: float = 10.0) -> None:
    """Connect and return once the ZMTP handshake is done (the monitor is attached
    before connecting, so the event cannot be missed)."""
    monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    sock.connect(endpoint)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if monitor.poll(100) and recv_monitor_message(monitor)["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                return
        raise TimeoutError("receiver did not accept the connection")
    finally:
        sock.disable_monitor()
        monitor.close(linger=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("endpoint")
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument("--ticks", action="store_true", help="alternate trades and ticks")
    args = parser.parse_args()

    instance = uuid.uuid4().hex[:12]
    frames = encode_frames(trade_messages(args.events, args.symbols, instance, ticks=args.ticks), args.batch)
    context = zmq.Context()
    sock = context.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 60_000)  # close() waits until everything is delivered
    connect_and_wait(sock, args.endpoint)
    send = sock.send
    t0 = time.time()
    for frame in frames:
        send(frame)
    t_sent = time.time()
    print(json.dumps({"event": "result", "t0": t0, "t_sent": t_sent, "frames": len(frames),
                      "events": args.events, "instance": instance, "bytes": sum(map(len, frames))}), flush=True)
    sock.close()
    context.term()


if __name__ == "__main__":
    main()
