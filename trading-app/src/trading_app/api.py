"""FastAPI service: ``POST /trade/{side}`` (the seed's form flow and a JSON API),
``/health`` and the publisher's own ``/metrics``."""

import base64
import binascii
import hashlib
import hmac
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import httpx
from fastapi import FastAPI, Header, Path, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import __version__
from .exposition import build_registry
from .http_limits import ERROR_RESPONSES, ApiError, ErrorBody, error_response, install_error_shape, validation_items
from .prices import LastPrices
from .publisher import Publisher, make_publisher
from .settings import AppSettings

SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,31}$"


class TradeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    qty: Annotated[float, Field(gt=0, description="Quantity: a finite number > 0 and <= WEBAPP_MAX_QTY")]
    symbol: Annotated[str, Field(pattern=SYMBOL_PATTERN)] | None = None
    price: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Defaults to the last tick price of the symbol, if known")


class TradeAccepted(BaseModel):
    event_id: str
    seq: int
    queued: bool = Field(description="False if the publisher dropped it (sidecar unreachable or queue full)")
    message: dict[str, Any]


def _basic_credentials(authorization: str | None) -> tuple[bytes, bytes]:
    """(user, password) from an ``Authorization: Basic ...`` header; empty if absent or malformed."""
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return b"", b""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return b"", b""
    user, _, password = decoded.partition(b":")
    return user, password


def _same(given: bytes, expected: bytes) -> bool:
    """Constant time, length included: compare digests, not the secrets themselves."""
    return hmac.compare_digest(hashlib.sha256(given).digest(), hashlib.sha256(expected).digest())


def trade_body_doc(settings: AppSettings) -> dict[str, Any]:
    """What the OpenAPI shows as POST /trade's body: TradeRequest with this
    desk's rules (WEBAPP_MAX_QTY, WEBAPP_SYMBOLS), as JSON or as a form."""
    schema = TradeRequest.model_json_schema()
    schema["properties"]["qty"]["maximum"] = settings.max_qty
    if settings.symbol_list:
        schema["properties"]["symbol"]["anyOf"][0]["enum"] = settings.symbol_list
    # A form field is a string, never null: leave a field out instead.
    form = {**schema, "properties": {name: {**prop.get("anyOf", [prop])[0], "description": prop.get("description", "")}
                                     for name, prop in schema["properties"].items()}}
    return {"required": True, "content": {"application/json": {"schema": schema},
                                          "application/x-www-form-urlencoded": {"schema": form}}}

# Outbox refusals (reliable mode): nothing was accepted, the client must retry later.
REFUSED = {"outbox_full": "the outbox is full (the sidecar has been unreachable for WEBAPP_OUTBOX_MAX_MESSAGES "
                          "messages); retry later",
           "outbox_error": "the outbox could not store the trade (disk error); retry later",
           "closed": "the API is shutting down; retry later"}


def _body_errors(exc: ValidationError) -> list[tuple[str, str]]:
    return validation_items({**e, "loc": ("body", *e["loc"])} for e in exc.errors())


def _refusal_page(reason: str) -> HTMLResponse:
    return HTMLResponse(f"<html><body><h1>Trade refused</h1><p>{REFUSED[reason]}</p>"
                        "<p><a href=/>Back</a></p></body></html>", status_code=503)


def create_app(settings: AppSettings | None = None, publisher: Publisher | None = None) -> FastAPI:
    settings = settings or AppSettings.from_env()
    prices = LastPrices()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = publisher is None
        pub = publisher or make_publisher(settings, "api")  # WEBAPP_DELIVERY picks the mode
        app.state.publisher = pub
        app.state.registry = build_registry(pub)
        feed = None
        if settings.feed != "none":
            from .feeds.runner import start_background_feed

            feed = start_background_feed(settings, pub, prices)
            app.state.feed = feed
            app.state.registry.register(feed.collector())  # feed_* counters on /metrics
        yield
        if feed is not None:
            feed.stop()
        if own:
            pub.close()

    app = FastAPI(title="trading-app API", version=__version__, lifespan=lifespan, responses=ERROR_RESPONSES,
                  description="Publishes trade telemetry to the metrics sidecar over ZeroMQ.")
    install_error_shape(app)
    app.state.prices = prices

    async def market_price(symbol: str | None) -> float | None:
        """Last tick price: from this process' own feed, else the sidecar's view
        (a feed often runs in another process). Short timeout: a trade is never
        held up by a slow sidecar; it just goes without a price."""
        if symbol is None:
            return None
        local = prices.get(symbol)
        if local is not None:
            return local
        try:
            async with httpx.AsyncClient(timeout=0.25) as client:
                response = await client.get(f"{settings.sidecar_url}/symbols/{symbol}")
            view = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError):
            return None
        price = view.get("price") if isinstance(view, dict) else None
        return float(price) if isinstance(price, (int, float)) and price > 0 else None

    def check_key(x_api_key: str | None) -> None:
        if settings.api_key and not hmac.compare_digest((x_api_key or "").encode(), settings.api_key.encode()):
            raise ApiError(401, "header.x-api-key", "missing or wrong x-api-key header")

    def check_basic(authorization: str | None) -> None:
        if not settings.basic_auth_user:
            return
        user, password = _basic_credentials(authorization)
        # Both compared every time: the timing does not say which one was wrong.
        user_ok = _same(user, settings.basic_auth_user.encode())
        password_ok = _same(password, settings.basic_auth_password.encode())
        if not (user_ok and password_ok):
            raise ApiError(401, "header.authorization",
                           "missing or wrong HTTP Basic credentials (Authorization: Basic ...)",
                                headers={"WWW-Authenticate": 'Basic realm="trading-app", charset="UTF-8"'})

    def check_order(req: TradeRequest) -> None:
        """The desk's order-entry rules (WEBAPP_MAX_QTY, WEBAPP_SYMBOLS), issue 15."""
        if req.qty > settings.max_qty:
            raise ApiError(422, "body.qty", f"must be <= {settings.max_qty:g} (WEBAPP_MAX_QTY)")
        allowed = settings.symbol_list
        if allowed and req.symbol is not None and req.symbol not in allowed:
            raise ApiError(422, "body.symbol", f"{req.symbol!r} is not traded here; one of {', '.join(allowed)} "
                                               "(WEBAPP_SYMBOLS)")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return (
            "<html><body><h1>trading-app</h1>"
            "<form method=post action=/trade/buy><input name=qty value=1><button>Buy</button></form>"
            "<form method=post action=/trade/sell><input name=qty value=1><button>Sell</button></form>"
            "</body></html>"
        )

    @app.post("/trade/{side}", status_code=202, response_model=TradeAccepted,
              openapi_extra={"requestBody": trade_body_doc(settings)},
              responses={303: {"description": "Form post: accepted, redirect to /"},
                         503: {"model": ErrorBody, "description": "Refused, nothing accepted (reliable mode: outbox "
                               "full or unwritable; shutting down). A form post gets an HTML page saying why",
                               "content": {"text/html": {"schema": {"type": "string"}}}}},
              summary="Publish a trade (form fields -> 303, JSON body -> 202)")
    async def trade(request: Request, side: Annotated[Literal["buy", "sell"], Path()],
                    x_api_key: Annotated[str | None, Header()] = None,
                    authorization: Annotated[str | None, Header(include_in_schema=False)] = None) -> Response:
        check_key(x_api_key)
        check_basic(authorization)
        is_json = request.headers.get("content-type", "").startswith("application/json")
        if is_json:
            try:
                data = await request.json()
            except ValueError:
                raise ApiError(422, "body", "body is not valid JSON") from None
            if not isinstance(data, dict):
                raise ApiError(422, "body", "body must be a JSON object such as {\"qty\": 1}")
        else:
            data = dict((await request.form()).items())
        try:
            req = TradeRequest.model_validate(data)
        except ValidationError as exc:
            return error_response(422, _body_errors(exc))
        if not math.isfinite(req.qty):  # belt and braces: allow_inf_nan covers JSON and form
            raise ApiError(422, "body.qty", "must be finite")
        check_order(req)
        price = req.price if req.price is not None else await market_price(req.symbol)
        result = request.app.state.publisher.trade(side, req.qty, symbol=req.symbol, price=price)
        if not result.queued and result.reason in REFUSED:
            if not is_json:
                return _refusal_page(result.reason)
            raise ApiError(503, "request", f"trade refused: {REFUSED[result.reason]}")
        if not is_json:
            return RedirectResponse("/", status_code=303)
        body = TradeAccepted(event_id=result.event_id, seq=result.seq, queued=result.queued,
                             message=result.message)
        return JSONResponse(body.model_dump(), status_code=202)

    @app.get("/health", summary="Always 200 while serving; says whether the sidecar is connected")
    def health(request: Request) -> dict[str, Any]:
        pub: Publisher = request.app.state.publisher
        return {"status": "ok", "version": __version__, "sidecar_connected": pub.connected,
                "endpoints": pub.endpoint_status(), "producer": pub.producer, "instance": pub.instance}

    @app.get("/metrics", summary="The publisher's own Prometheus metrics", response_class=Response,
             responses={200: {"description": "Prometheus text format",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}})
    def metrics(request: Request) -> Response:
        return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)

    return app
