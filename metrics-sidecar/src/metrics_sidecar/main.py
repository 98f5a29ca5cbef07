"""``metrics-sidecar``: start the ingest loop and the HTTP server; stop cleanly
on SIGTERM/SIGINT (uvicorn handles the signal, then the socket is closed).

``metrics-sidecar --repair``: repair ``SIDECAR_STATE_DIR`` (recovery.py) and exit.
An unusable state dir stops start-up with one line naming the file and the
recovery, exit status 2 (as for bad settings), never a traceback."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import signal
import socket
import sys

import uvicorn
import zmq

from .fd_guard import raise_open_file_limit, serve
from .http_api import create_app
from .ingest import IngestLoop
from .persistence import DurableState
from .recovery import StateDirError
from .reliable import DurableServices
from .settings import Settings, SettingsError
from .state import TelemetryState

log = logging.getLogger("metrics_sidecar")


def _http_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP;
    # without it every keep-alive response (Prometheus scrapes) waits ~40 ms (Nagle vs delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)  # before "ready": a client that connects at once is queued, not refused
    return sock


def _freeze_startup_objects() -> None:
    """Move every object that exists once the sidecar is up (imported modules,
    pydantic and FastAPI machinery, the state's preallocated containers, a
    restored snapshot) into the GC's permanent generation.

    Without it, CPython's cyclic collector re-traverses them: a full collection
    here took ~40 ms, and the first young collection after start-up ~2-8 ms
    (the state's sample rings are lists the collector walks item by item), each
    one a pause of the ingest thread that every queued message waits out. Frozen
    objects are never traversed (a full collection then costs ~0.01 ms); objects
    they reference are still freed by reference counting, and containers that
    grow in place (the dedup window, the rings) stay frozen."""
    gc.collect()
    gc.freeze()


def _exit_cleanly_on_signal(server: uvicorn.Server, durable: DurableServices) -> None:
    """uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to
    the handler that was installed before it. Ours only asks the server to exit, so
    (a) the process closes its sockets and exits 0 instead of dying with -15, and
    (b) a signal that lands before uvicorn installs its handlers is not lost."""
    def request_exit(*_: object) -> None:
        server.should_exit = True
        if durable.durable is not None:
            durable.durable.request_exit()  # a stalled journal write would hold shutdown for ever

    signal.signal(signal.SIGTERM, request_exit)
    signal.signal(signal.SIGINT, request_exit)


def _repair(settings: Settings) -> int:
    """Keep what is intact in the state dir, move the damaged files aside, write a
    fresh snapshot; print a JSON summary."""
    if not settings.state_dir:
        print("metrics-sidecar: --repair needs SIDECAR_STATE_DIR", file=sys.stderr)
        return 2
    try:
        store = DurableState(settings, TelemetryState(settings))
        result = store.recover(repair=True)
        store.close()
    except (StateDirError, RuntimeError, OSError) as exc:
        print(f"metrics-sidecar: cannot repair the state directory: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"event": "repaired", "state_dir": settings.state_dir, "records_kept": result.replayed,
                      "frames_skipped": result.frames_skipped, "torn_tail_bytes": result.torn_tail_bytes,
                      "partial": result.partial, "moved_aside": [p.name for p in result.damaged],
                      "moved_to": result.moved_to}), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="metrics-sidecar", description="ZeroMQ telemetry sidecar (docs/).")
    parser.add_argument("--repair", action="store_true",
                        help="repair SIDECAR_STATE_DIR: keep every intact record, move damaged files to "
                             "<dir>/damaged-<time>/, write a fresh snapshot, exit (docs/delivery.md)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"metrics-sidecar: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.repair:
        return _repair(settings)
    raise_open_file_limit()  # before any socket: silent ZeroMQ peers must not starve HTTP of descriptors
    if settings.zmq_bind.startswith("tcp://") and settings.zmq_bind.endswith(":0"):
        settings = settings.model_copy(update={"zmq_bind": settings.zmq_bind[:-2] + ":*"})
    context = zmq.Context()
    state = TelemetryState(settings)
    try:
        ingest = IngestLoop(settings, state, context)
    except RuntimeError as exc:  # SIDECAR_PULL_DRAIN=core, and the core cannot drain (libzmq.py)
        print(f"metrics-sidecar: {exc}", file=sys.stderr)
        context.term()
        return 2
    try:
        durable = DurableServices(settings, state, context)  # SIDECAR_STATE_DIR / SIDECAR_RELIABLE_BIND
        durable.start()  # restores state before any loop applies
    except (StateDirError, RuntimeError, OSError) as exc:
        print(f"metrics-sidecar: cannot use the state directory: {exc}", file=sys.stderr)
        context.term()
        return 2
    # Named in the error, so a busy port is found without reading the code.
    binding = f"the ZeroMQ PULL socket to {settings.zmq_bind} (SIDECAR_ZMQ_BIND)"
    try:
        ingest.start()
        binding = f"the reliable ROUTER socket to {settings.reliable_bind} (SIDECAR_RELIABLE_BIND)"
        durable.start_reliable(ingest.curve)  # after ingest: its CURVE handler guards the ROUTER too
        binding = f"HTTP to {settings.host}:{settings.port} (SIDECAR_HOST, SIDECAR_PORT)"
        http_sock = _http_socket(settings.host, settings.port)
    except (zmq.ZMQError, OSError, RuntimeError) as exc:
        print(f"metrics-sidecar: cannot bind {binding}: {exc}", file=sys.stderr)
        ingest.stop()
        durable.stop_loop()
        context.term()
        return 1
    host, port = http_sock.getsockname()[:2]
    app = create_app(state, ingest, durable)
    config = uvicorn.Config(app, log_level=settings.log_level.lower(), access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    # Before "ready": loading imports uvicorn's protocol modules, which needs free
    # descriptors; silent ZeroMQ peers arriving at once must not make it fail.
    config.load()
    _exit_cleanly_on_signal(server, durable)
    if durable.durable is not None:
        durable.durable.exit_check = lambda: server.should_exit  # see DurableState.exit_check
    _freeze_startup_objects()  # after the restore and the app: see its docstring
    # One machine-readable line so launchers and tests learn OS-chosen ports.
    print(json.dumps({"event": "ready", "service": "metrics-sidecar",
                      "http": f"http://{host}:{port}", "zmq": ingest.last_endpoint,
                      "reliable": durable.endpoint}), flush=True)
    try:
        serve(server, [http_sock])
    finally:
        durable.stop_loop()
        ingest.stop()
        durable.close()
        context.term()
    log.info("metrics-sidecar stopped")
    return 0


if __name__ == "__main__":  # pragma: no cover - serves until SIGTERM: tests run it as its own process (untraced)
    sys.exit(main())
