"""The HTTP rules both APIs share (the sidecar's and the trading app's; the
trading app's ``http_limits.py`` is a symlink to this file, so keep it free of
package imports): ONE error shape for every 4xx/5xx refusal, and bounded request
bodies, checked before a byte of the body is read (docs/api.md, docs/security.md).

Error shape: ``{"detail": [{"field": "query.limit", "message": "..."}]}``.
``field`` names the input that was wrong: ``<where>.<name>`` with where one of
path, query, header, body; ``request`` when no single input is to blame.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

MAX_BODY_BYTES = 64 * 1024  # a trade is ~100 bytes; nothing either API takes is near this

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ErrorItem(BaseModel):
    field: str = Field(description="The input that was wrong: path.x, query.x, header.x, body.x, or request")
    message: str = Field(description="What was wrong with it, for a human")


class ErrorBody(BaseModel):
    """The one shape of every error answer (4xx, and the 503 refusals) of both APIs."""
    detail: list[ErrorItem]


class ApiError(StarletteHTTPException):
    """An HTTP error that names the input it is about."""

    def __init__(self, status_code: int, field: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code, message, headers)
        self.field = field


def error_body(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    return {"detail": [{"field": field, "message": message} for field, message in items]}


def error_response(status: int, items: Iterable[tuple[str, str]], headers: Mapping[str, str] | None = None
                   ) -> JSONResponse:
    return JSONResponse(error_body(items), status_code=status, headers=headers)


def error_doc(description: str) -> dict[str, Any]:
    """One OpenAPI ``responses`` entry with the ErrorBody model."""
    return {"model": ErrorBody, "description": description}


# Pass as ``FastAPI(responses=...)``: every route then declares ErrorBody for 4xx
# (and FastAPI adds no default 422 of its own, whose shape we do not answer).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: error_doc("An input is malformed or out of range; `detail` names it"),
    "4XX": error_doc("Refused; `detail` says which input was wrong and why (docs/api.md)")}


def validation_items(errors: Iterable[Any]) -> list[tuple[str, str]]:
    """pydantic/FastAPI errors as (field, message); ``loc`` joined by dots."""
    return [(".".join(str(part) for part in error.get("loc", ())) or "body", str(error.get("msg", "invalid")))
            for error in errors]


_DEFAULT_FIELDS = {404: "path", 405: "method", 413: "body", 411: "header.content-length"}


def install_error_shape(app: FastAPI) -> None:
    """Every error FastAPI or Starlette raises, in the one shape; and the body limit."""

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        field = exc.field if isinstance(exc, ApiError) else _DEFAULT_FIELDS.get(exc.status_code, "request")
        return error_response(exc.status_code, [(field, str(exc.detail))], exc.headers)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, validation_items(exc.errors()))

    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_middleware(BodyLimit)


class BodyLimit:
    """ASGI middleware: refuse ``Content-Length`` with ``Transfer-Encoding`` (400:
    request smuggling, h11 would run the rest as a second request), and bodies
    over ``max_bytes`` (413): by the declared length before reading, or, when
    chunked, as soon as the running total passes it. The body (at most
    ``max_bytes``) is read here and replayed to the app. Both refusals close the
    connection: what is left of the body is never parsed as a request."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.lower() for name, _ in scope["headers"]}
        lengths = [value for name, value in scope["headers"] if name.lower() == b"content-length"]
        if b"transfer-encoding" in headers and lengths:
            await _refuse(send, 400, "header.transfer-encoding",
                          "Content-Length together with Transfer-Encoding is refused (request smuggling)")
            return
        too_big = f"request body larger than {self.max_bytes} bytes"
        if lengths and lengths[0].isdigit() and int(lengths[0]) > self.max_bytes:
            await _refuse(send, 413, "body", too_big)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: let the app see it
                replay: list[Message] = [message]
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await _refuse(send, 413, "body", too_big)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
                break

        async def replayed() -> Message:
            return replay.pop(0) if replay else await receive()

        await self.app(scope, replayed, send)


async def _refuse(send: Send, status: int, field: str, message: str) -> None:
    body = json.dumps(error_body([(field, message)])).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
