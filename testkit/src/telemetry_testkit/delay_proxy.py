"""Test-only forwarding proxy for the latency area check: a PULL -> PUSH relay
process that holds each frame ``--delay`` seconds after it arrived, then forwards
it unchanged. Put between a producer and the sidecar, it adds the delay to the
``send_to_receive`` hop and to nothing else (the sidecar stamps receive time
when the frame reaches it). Never part of the product.

Usage: ``python delay_proxy.py <sidecar zmq endpoint> --delay 0.05``; prints
``{"event": "ready", "zmq": "tcp://127.0.0.1:<port>"}`` once it listens, then
``{"event": "held", "seconds": s}`` per forwarded frame: how long it really held
that frame (never less than the delay; more when the loaded machine wakes it late).
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import time

import zmq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("target")
    parser.add_argument("--delay", type=float, required=True)
    args = parser.parse_args()
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.connect(args.target)
    print(json.dumps({"event": "ready", "zmq": f"tcp://127.0.0.1:{port}"}), flush=True)
    held: collections.deque[tuple[float, bytes]] = collections.deque()  # (due, frame), arrival order
    while True:  # until SIGTERM / kill: the test owns this process
        timeout_ms = 1000 if not held else max(0, math.ceil((held[0][0] - time.monotonic()) * 1000))
        if pull.poll(timeout_ms):
            while True:  # stamp each frame's arrival as it is read
                try:
                    held.append((time.monotonic() + args.delay, pull.recv(zmq.NOBLOCK)))
                except zmq.Again:
                    break
        while held and held[0][0] <= time.monotonic():
            due, frame = held.popleft()
            push.send(frame)
            print(json.dumps({"event": "held", "seconds": time.monotonic() - due + args.delay}), flush=True)


if __name__ == "__main__":
    main()
