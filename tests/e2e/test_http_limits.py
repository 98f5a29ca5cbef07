"""Issue 18, finding 9: both real APIs bound request bodies (64 KiB) before they
read them, with or without an API key, and refuse ``Content-Length`` together
with ``Transfer-Encoding`` (request smuggling). Every refusal has the one error
shape (docs/api.md) and closes the connection, and nothing refused is published.

Raw sockets, not httpx: the point is what the server does with bytes a well-
behaved client would never send."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from telemetry_testkit.procs import Service, start_api
from telemetry_testkit.prom import scrape

LIMIT = 64 * 1024


@pytest.fixture(params=["open", "api_key"])
def api(request: pytest.FixtureRequest, tmp_path: Path, sidecar: Service) -> Iterator[Service]:
    env = {"WEBAPP_HEARTBEAT_INTERVAL_SECONDS": "0"}
    if request.param == "api_key":
        env["WEBAPP_API_KEY"] = "k" * 32
    service = start_api(tmp_path / "api", sidecar.zmq, env)
    yield service
    service.kill()


def exchange(base: str, raw: bytes, send_all: bool = True) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` on a fresh connection, read until the server closes it (10 s
    deadline per read). Returns (status, headers, body) of the first response."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while True:
            chunk = sock.recv(65536)  # raises on the deadline: a server still reading the body fails here
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", len(body)))
    return int(status_line.split()[1]), headers, body[:length]


def request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def error(body: bytes) -> tuple[str, str]:
    (item,) = json.loads(body)["detail"]
    assert set(item) == {"field", "message"}
    return item["field"], item["message"]


def buys(sidecar: Service) -> float:
    return scrape(sidecar.http + "/metrics/").get('trades_total{side="buy",symbol=""}', 0)


def test_a_declared_huge_body_is_refused_before_it_is_sent(api: Service, sidecar: Service) -> None:
    # 300 MiB declared, not one byte sent: the 413 can only come from the header.
    for base, path in ((api.http, "/trade/buy"), (sidecar.http, "/symbols")):
        status, headers, body = exchange(base, request(
            "POST", path, {"Content-Type": "application/json", "Content-Length": str(300 << 20)}))
        assert status == 413 and headers["connection"] == "close", base
        assert error(body) == ("body", f"request body larger than {LIMIT} bytes")
    assert buys(sidecar) == 0


def test_a_chunked_body_is_cut_off_at_the_limit(api: Service, sidecar: Service) -> None:
    chunk = b"{" + b" " * (LIMIT - 1)  # exactly the limit, then one more chunk of 1 byte
    raw = request("POST", "/trade/buy", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                  b"%x\r\n%s\r\n1\r\n}\r\n" % (len(chunk), chunk))  # no final 0-chunk: never read that far
    status, headers, body = exchange(api.http, raw)
    assert status == 413 and headers["connection"] == "close"
    assert error(body)[0] == "body"
    assert buys(sidecar) == 0


def test_a_body_at_the_limit_is_read(api: Service) -> None:
    body = json.dumps({"qty": 1}).encode().ljust(LIMIT, b" ")
    status, _, answer = exchange(api.http, request(
        "POST", "/trade/buy", {"Content-Type": "application/json", "Content-Length": str(len(body)),
                               "x-api-key": "k" * 32, "Connection": "close"}, body))
    assert status == 202 and json.loads(answer)["message"]["qty"] == 1.0


def test_content_length_with_transfer_encoding_is_refused_and_nothing_is_smuggled(
        api: Service, sidecar: Service) -> None:
    smuggled = request("POST", "/trade/buy", {"Content-Type": "application/json", "Content-Length": "11",
                                              "x-api-key": "k" * 32}, b'{"qty": 7}\n')
    first = b"0\r\n\r\n" + smuggled  # chunked: an empty body, then "the next request"
    raw = request("POST", "/trade/buy", {"Content-Type": "application/json", "Content-Length": str(len(first)),
                                         "Transfer-Encoding": "chunked", "x-api-key": "k" * 32}, first)
    status, headers, body = exchange(api.http, raw)
    assert status == 400 and headers["connection"] == "close"
    assert error(body) == ("header.transfer-encoding",
                           "Content-Length together with Transfer-Encoding is refused (request smuggling)")
    status, _, body = exchange(sidecar.http, request("GET", "/symbols", {"Content-Length": "5",
                                                                         "Transfer-Encoding": "chunked"}, b"0\r\n\r\n"))
    assert status == 400 and error(body)[0] == "header.transfer-encoding"
    # The smuggled trade was never run: the API published nothing at all.
    published = scrape(api.http + "/metrics")
    trades = {k: v for k, v in published.items() if k.startswith("publisher_messages_") and 'type="trade"' in k}
    assert sum(trades.values()) == 0, trades
    assert buys(sidecar) == 0


def test_garbage_requests_are_refused_and_logged_rate_limited(api: Service, sidecar: Service) -> None:
    for service in (api, sidecar):
        started = time.monotonic()
        for i in range(100):
            status, _, _ = exchange(service.http, b"GARBAGE %d\r\n\r\n" % i)
            assert status == 400
        elapsed = time.monotonic() - started
        assert httpx.get(service.http + "/health", timeout=10).status_code == 200
        lines = [line for line in service.log().splitlines() if "Invalid HTTP request received." in line]
        # The first is logged; the rest of each 10 s window only counted (docs/security.md).
        assert 1 <= len(lines) <= 1 + int(elapsed / 10), lines
