"""A Server-Sent Events client for the sidecar's ``GET /stream``, reading on its
own thread so a test can watch what arrives and when (receive times)."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import httpx


class SseReader:
    """A streaming client on its own thread; lines arrive with their receive time."""

    def __init__(self, base: str, params: dict[str, Any] | None = None) -> None:
        self.lines: queue.Queue[tuple[float, str | None]] = queue.Queue()
        self.status: int | None = None
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=None))
        self._response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._run, args=(base + "/stream", params or {}), daemon=True)
        self._thread.start()

    def _run(self, url: str, params: dict[str, Any]) -> None:
        try:
            with self._client.stream("GET", url, params=params) as response:
                self._response = response
                self.status = response.status_code
                for line in response.iter_lines():
                    self.lines.put((time.monotonic(), line))
        except (httpx.HTTPError, RuntimeError):
            pass
        finally:
            self.lines.put((time.monotonic(), None))  # end of stream

    def events(self, timeout: float) -> Iterator[tuple[float, str, str]]:
        """(receive time, event name or ':' for a comment, data) until the timeout or the end."""
        deadline = time.monotonic() + timeout
        name, data = "message", ""
        while True:
            try:
                at, line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return
            if line is None:
                yield at, "<end>", ""
                return
            if line.startswith(":"):
                yield at, ":", line[1:].strip()
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
            elif line == "" and data:
                yield at, name, data
                name, data = "message", ""

    def wait_for(self, name: str, timeout: float, where: Any = lambda data: True) -> tuple[float, Any]:
        for at, event, data in self.events(timeout):
            if event == name and where(json.loads(data) if event not in (":", "<end>") else data):
                return at, json.loads(data) if event not in (":", "<end>") else data
        raise AssertionError(f"no {name!r} event within {timeout}s")

    def until(self, name: str, timeout: float, where: Any = lambda data: True) -> list[tuple[float, str, Any]]:
        """Every event (data parsed as JSON) up to and including the first ``name`` event
        matching ``where``; fails if the stream ends or ``timeout`` passes first."""
        seen: list[tuple[float, str, Any]] = []
        for at, event, data in self.events(timeout):
            value = json.loads(data) if event not in (":", "<end>") else data
            seen.append((at, event, value))
            if event == name and where(value):
                return seen
            if event == "<end>":
                raise AssertionError(f"stream ended before a {name!r} event")
        raise AssertionError(f"no {name!r} event within {timeout}s; saw {len(seen)} events")

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
        self._client.close()
        self._thread.join(5)


def stalled_client(base: str, path: str = "/stream") -> socket.socket:
    """Sends ``GET path`` and never reads: its tiny receive window fills at once."""
    url = urlparse(base)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((url.hostname, url.port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
    return sock
