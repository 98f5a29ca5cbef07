"""Small reads of the sidecar's HTTP API (docs/api.md) for the pages. Every
failure is an answer the page can word (never an exception)."""

from __future__ import annotations

from typing import Any

import httpx

from trading_app.ui.app_settings import get_settings


def sidecar_response(path: str, **params: Any) -> tuple[int, Any]:
    """(HTTP status, JSON body or None) from the sidecar; status 0 when it is
    unreachable. Lets a page tell "sidecar down" from "no such endpoint" (404)."""
    try:
        response = httpx.get(get_settings().sidecar_url + path, params=params, timeout=0.5)
    except httpx.HTTPError:
        return 0, None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


def sidecar_get(path: str, **params: Any) -> Any | None:
    """GET JSON from the sidecar; None if it is down or answers an error."""
    status, body = sidecar_response(path, **params)
    return body if status == 200 else None
