"""Console script ``trading-app-api`` (``trading-app-ui`` is ui/cli.py)."""

from __future__ import annotations

import json
import logging
import signal
import socket
import sys

import uvicorn

from .settings import AppSettings, SettingsError


def settings_or_exit(name: str) -> AppSettings:
    try:
        return AppSettings.from_env()
    except SettingsError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def api_main() -> int:
    settings = settings_or_exit("trading-app-api")
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .api import create_app
    from .fd_guard import raise_open_file_limit, serve

    raise_open_file_limit()  # many HTTP clients must not make accept() fail with EMFILE

    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP;
    # without it every keep-alive response (Prometheus scrapes) waits ~40 ms (Nagle vs delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
        sock.listen(2048)  # before "ready": a client that connects at once is queued, not refused
    except OSError as exc:
        print(f"trading-app-api: cannot bind {settings.host}:{settings.port}: {exc}", file=sys.stderr)
        return 1
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level=settings.log_level.lower(),
                                           access_log=False))
    server.config.load()  # its imports need free descriptors: done before "ready", not at the first peer

    def request_exit(*_: object) -> None:
        # uvicorn re-raises SIGTERM/SIGINT to this handler after its graceful
        # shutdown; asking it to exit (instead of dying) makes the exit code 0 and
        # also covers a signal that lands before uvicorn installs its own handlers.
        server.should_exit = True

    signal.signal(signal.SIGTERM, request_exit)
    signal.signal(signal.SIGINT, request_exit)
    print(json.dumps({"event": "ready", "service": "trading-app-api", "http": f"http://{host}:{port}"}),
          flush=True)
    serve(server, [sock])
    return 0
