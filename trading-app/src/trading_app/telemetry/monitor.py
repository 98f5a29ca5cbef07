"""Watches a ZeroMQ socket's connection state with the socket monitor
(CONNECTED / DISCONNECTED arrive within milliseconds), so the app can tell the
user the sidecar is unreachable instead of dropping clicks silently."""

from __future__ import annotations

import logging
import threading

import zmq
from zmq.utils.monitor import recv_monitor_message

log = logging.getLogger("trading_app.monitor")

# HANDSHAKE_SUCCEEDED, not CONNECTED: with IMMEDIATE=1 the pipe to the peer is only
# attached after the ZMTP handshake, so a send between TCP connect and handshake
# fails with EAGAIN (seen as "hwm" drops of a feed's first ticks).
_EVENTS = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED | zmq.EVENT_MONITOR_STOPPED


class ConnectionMonitor:
    def __init__(self, sock: zmq.Socket, address: str) -> None:
        self.address = address
        self._peers = 0
        # A plain attribute, not a property: publish() reads it on every call.
        self.connected = False
        self._sock = sock
        self._monitor = sock.get_monitor_socket(_EVENTS)
        self._monitor.setsockopt(zmq.LINGER, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"zmq-monitor {address}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._monitor, zmq.POLLIN)
        while not self._stop.is_set():
            try:
                if not poller.poll(100):
                    continue
                event = recv_monitor_message(self._monitor, zmq.NOBLOCK)
            except zmq.ZMQError:
                return  # monitor socket closed during shutdown
            kind = event["event"]
            if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._peers += 1
                self.connected = True
                log.info("sidecar connected at %s", self.address)
            elif kind == zmq.EVENT_DISCONNECTED:
                self._peers = max(0, self._peers - 1)
                self.connected = self._peers > 0
                log.warning("sidecar disconnected from %s: events may be dropped", self.address)
            elif kind == zmq.EVENT_MONITOR_STOPPED:
                return

    def close(self) -> None:
        """Stop and close the monitor. Must run before the context terminates."""
        self._stop.set()
        try:
            self._sock.disable_monitor()
        except zmq.ZMQError:
            pass
        self._thread.join(1)
        self._monitor.close(linger=0)
        self._peers = 0
        self.connected = False
