"""HTTP surface of the sidecar: Prometheus exposition, health, recent events."""

from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from . import __version__
from .events_query import EventFilter, select
from .exposition import (
    CONTENT_TYPE,
    OPENMETRICS_CONTENT_TYPE,
    process_registry,
    render,
    render_protobuf,
    wants_openmetrics,
)
from .health import health_report
from .http_limits import ERROR_RESPONSES, install_error_shape
from .http_market import market_router
from .ingest import IngestLoop
from .protobuf_exposition import CONTENT_TYPE as PROTOBUF_CONTENT_TYPE
from .protobuf_exposition import wants_protobuf
from .schema import INSTANCE_PATTERN, PRODUCER_PATTERN
from .state import TelemetryState

if TYPE_CHECKING:
    from .reliable import DurableServices


def create_app(state: TelemetryState, ingest: IngestLoop, durable: "DurableServices | None" = None) -> FastAPI:
    app = FastAPI(title="metrics-sidecar", version=__version__,
                  description="ZeroMQ PULL telemetry sidecar: Prometheus metrics, health and recent events.",
                  responses=ERROR_RESPONSES)
    install_error_shape(app)
    process = process_registry()
    app.include_router(market_router(state))  # /symbols, /analytics/sides, /stream (docs/api.md)

    def metrics(request: Request) -> Response:
        accept = request.headers.get("accept")
        if wants_protobuf(accept):  # Prometheus with native histograms: hop latency as native histograms
            return Response(render_protobuf(state, process), media_type=PROTOBUF_CONTENT_TYPE)
        if wants_openmetrics(accept):  # exemplars on the hop-latency buckets
            return Response(render(state, process, openmetrics=True), media_type=OPENMETRICS_CONTENT_TYPE)
        return Response(render(state, process), media_type=CONTENT_TYPE)

    # Both spellings: the seed contract says /metrics/, Prometheus' default is /metrics.
    app.add_api_route("/metrics/", metrics, methods=["GET"], summary="Prometheus exposition",
                      response_class=Response, responses={200: {"content": {"text/plain": {
                          "schema": {"type": "string"}}}, "description": "Prometheus text format"}})
    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)

    # async: answered on the event loop, never queued behind scrapes waiting for state.lock
    @app.get("/health", summary="200 while the loops run and the journal is written, else 503 with the reasons")
    async def health() -> JSONResponse:
        status, body = health_report(ingest, durable)
        return JSONResponse(body, status_code=status)

    @app.get("/health/liveness", summary="200 while the process serves HTTP")
    def liveness() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/health/readiness", summary="Ready to ingest: same as /health")
    async def readiness() -> JSONResponse:
        return await health()

    @app.get("/events", summary="Most recent valid events, newest first; optionally of one type, producer, instance")
    def events(limit: Annotated[int, Query(ge=1, le=state.settings.events_buffer,
                                           description="How many events")] = 50,
               type: Annotated[Literal["trade", "tick", "heartbeat"] | None,
                               Query(description="Only this message type")] = None,
               producer: Annotated[str | None, Query(pattern=PRODUCER_PATTERN,
                                                     description="Only this producer")] = None,
               instance: Annotated[str | None, Query(pattern=INSTANCE_PATTERN,
                                                     description="Only this producer instance")] = None,
               ) -> JSONResponse:
        wanted = EventFilter(type, producer, instance)
        with state.lock:
            recent = select(state.recent(state.settings.events_buffer), wanted, limit)
        return JSONResponse({"events": msgspec.to_builtins(recent)})

    return app


def create_app_from_env() -> FastAPI:
    """ASGI factory for ``uvicorn --factory --reload`` (the dev loop): the ingest
    loop starts and stops with the app's lifespan."""
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    import zmq

    from .reliable import DurableServices
    from .settings import Settings

    settings = Settings.from_env()
    context = zmq.Context()
    state = TelemetryState(settings)
    ingest = IngestLoop(settings, state, context)
    durable = DurableServices(settings, state, context)  # SIDECAR_STATE_DIR / SIDECAR_RELIABLE_BIND

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        durable.start()  # restores state before any loop applies
        ingest.start()
        durable.start_reliable(ingest.curve)  # after ingest: its CURVE handler guards the ROUTER too
        yield
        durable.stop_loop()
        ingest.stop()
        durable.close()
        context.term()

    app = create_app(state, ingest, durable)
    app.router.lifespan_context = lifespan
    return app
