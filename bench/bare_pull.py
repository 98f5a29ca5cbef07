"""The B1/B2 baseline: a bare pyzmq PULL ``recv()`` loop, nothing else. Same
socket options as the sidecar's PULL socket; it only counts frames.

Prints a ready line with its endpoint, then ``{"event": "result", "t_last": ...}``
after ``--frames`` frames."""

from __future__ import annotations

import argparse
import json
import time

import zmq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, required=True)
    parser.add_argument("--rcvhwm", type=int, default=100_000)
    args = parser.parse_args()
    context = zmq.Context()
    sock = context.socket(zmq.PULL)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, args.rcvhwm)
    sock.bind("tcp://127.0.0.1:*")
    print(json.dumps({"event": "ready", "zmq": sock.getsockopt_string(zmq.LAST_ENDPOINT)}), flush=True)
    recv = sock.recv
    recv()
    t_first = time.time()
    for _ in range(args.frames - 1):
        recv()
    t_last = time.time()
    print(json.dumps({"event": "result", "t_first": t_first, "t_last": t_last, "frames": args.frames}),
          flush=True)
    sock.close()
    context.term()


if __name__ == "__main__":
    main()
