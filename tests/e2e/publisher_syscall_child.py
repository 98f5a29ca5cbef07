"""A publishing process for the system-call test (run under strace, not collected).

    publisher_syscall_child.py ENDPOINT COUNT

Marks two windows in its main thread with rare system calls, so the trace can
be cut exactly: getppid() ... getpgrp() around COUNT ``PushPublisher.publish()``
calls, getuid() ... getgid() around COUNT bare ``send(NOBLOCK)`` calls on a plain
PUSH socket (the control: a window that does make system calls). The messages
are built before the first window. Prints the main thread's id first.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import zmq

from trading_app.telemetry.messages import trade_message
from trading_app.telemetry.push import PushPublisher


def main() -> None:
    endpoint, count = sys.argv[1], int(sys.argv[2])
    pub = PushPublisher(endpoint, producer="syscalls", heartbeat_interval=0, queue_size=count)
    context = zmq.Context()
    bare = context.socket(zmq.PUSH)
    bare.setsockopt(zmq.LINGER, 0)
    bare.setsockopt(zmq.IMMEDIATE, 1)
    bare.connect(endpoint)
    deadline = time.monotonic() + 10
    while not (pub.connected and bare.poll(0, zmq.POLLOUT)):
        if time.monotonic() > deadline:
            raise SystemExit("not connected")
        time.sleep(0.01)
    messages = [trade_message("buy", 1.0, "BTCUSDT", 100.0) for _ in range(count)]
    payload = json.dumps(trade_message("buy", 1.0, "BTCUSDT", 100.0)).encode()
    print(json.dumps({"tid": threading.get_native_id()}), flush=True)
    os.getppid()
    accepted = sum(pub.publish(message).queued for message in messages)
    os.getpgrp()
    os.getuid()
    for _ in range(count):
        try:
            bare.send(payload, zmq.NOBLOCK)
        except zmq.Again:  # its queue is full: the call still went into ZeroMQ
            pass
    os.getgid()
    pub.close()
    bare.close()
    context.term()
    print(json.dumps({"accepted": accepted}), flush=True)


if __name__ == "__main__":
    main()
