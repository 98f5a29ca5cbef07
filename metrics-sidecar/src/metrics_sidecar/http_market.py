"""Market-data HTTP API: the latest view per symbol, tick history, OHLC bars,
per-side trade analytics, and a Server-Sent-Events stream (docs/api.md).

Handlers copy what they need through the read model (read_model.py: one hold of
``state.lock`` per answer) and compute outside it. The
JSON shapes are pydantic models, so /docs and /openapi.json describe them.
"""

from __future__ import annotations

import math
import re
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from . import read_model
from .analytics.ohlc import ALIASES, TIMEFRAMES
from .analytics.sse import EventStreamResponse, StreamTick, StreamTrade, stream_response
from .analytics.views import side_analytics, symbol_analytics
from .http_limits import ApiError, error_doc
from .schema import SYMBOL_PATTERN
from .state import TelemetryState

_SYMBOL = re.compile(SYMBOL_PATTERN)
Timeframe = Literal["1m", "5m", "15m", "1h", "4h", "1d", "M1", "M5", "M15", "H1", "H4", "D1"]


class SymbolSummary(BaseModel):
    symbol: str
    price: float | None = Field(description="Last tick price; null while only trades were seen")
    last_tick_ts: float | None = Field(description="Event time of that tick, unix seconds")
    ticks: int = Field(description="Ticks applied (all sources, out-of-order ones included)")
    trades: int = Field(description="Trades applied")


class SymbolList(BaseModel):
    symbols: list[SymbolSummary]


class WindowAnalytics(BaseModel):
    ticks: int
    tick_rate: float = Field(description="Ticks per second: ticks / window length")
    volume: float = Field(description="Sum of tick volume")
    vwap: float | None = Field(description="sum(price * volume) / sum(volume); null without volume")
    returns: int = Field(description="Log returns whose later tick is in the window")
    volatility: float | None = Field(description="Sample std (ddof=1) of those log returns; null below 2")
    volatility_annualised: float | None = Field(
        description="volatility * sqrt(returns / window_seconds * 31,536,000)")
    max_drawdown: float | None = Field(description="max over i<=j of 1 - p_j/p_i inside the window; null: no tick")


class Analytics(BaseModel):
    sma: float | None = Field(description="Mean of the last sma_ticks prices")
    sma_ticks: int = Field(description="Prices in the SMA: min(ticks seen, SIDECAR_ANALYTICS_SMA_TICKS)")
    volatility_ticks: float | None = Field(description="Sample std of the log returns between those prices")
    vwap_session: float | None = Field(description="VWAP since 00:00 UTC today; null without volume")
    windows: dict[str, WindowAnalytics] = Field(description="Per rolling window, keyed by its label (1m, 5m)")


class PositionModel(BaseModel):
    qty: float = Field(description="Signed position: buys - sells")
    avg_cost: float | None = Field(description="Average cost of the open position; null while flat")
    realized_pnl: float
    unrealized_pnl: float | None = Field(description="qty * (mark_price - avg_cost); null: open, no tick yet")
    total_pnl: float | None
    mark_price: float | None = Field(description="Last tick price used to mark the position")
    trades: int = Field(description="Trades of the symbol, priced or not")
    unpriced_trades: int = Field(description="Trades with no price and no tick price yet: no PnL effect")


class SymbolView(SymbolSummary):
    as_of: float = Field(description="Wall time the view was computed, unix seconds")
    analytics: Analytics | None = Field(description="Null until a tick arrives, or with SIDECAR_ANALYTICS=false")
    position: PositionModel | None = Field(description="Null until a trade arrives")


class TickPoint(BaseModel):
    ts: float
    price: float
    volume: float


class History(BaseModel):
    symbol: str
    limit: int = Field(description="Ticks asked for after capping at SIDECAR_ANALYTICS_HISTORY_SIZE")
    ticks: list[TickPoint] = Field(description="Oldest first")


class BarModel(BaseModel):
    start: float = Field(description="Bar start, unix seconds (UTC-aligned)")
    end: float
    open: float
    high: float
    low: float
    close: float
    volume: float
    ticks: int
    vwap: float | None
    closed: bool = Field(description="True once wall time has passed the bar's end")


class Ohlc(BaseModel):
    symbol: str
    as_of: float = Field(description="Wall time the bars were read; a bar is closed when end <= as_of")
    timeframe: str = Field(description="Canonical name: 1m, 5m, 15m, 1h, 4h or 1d")
    limit: int = Field(description="Bars asked for after capping at SIDECAR_ANALYTICS_OHLC_BARS")
    bars: list[BarModel] = Field(description="Oldest first; minutes without ticks have no bar")


class SideWindow(BaseModel):
    trades: int
    volume: float
    gaps: int = Field(description="Inter-arrival gaps ending in the window")
    burstiness: float | None = Field(description="std/mean of those gaps; null below 2")


class SideModel(BaseModel):
    side: str
    ew_volume: float = Field(description="sum(qty * 2^(-(now - t) / half_life))")
    windows: dict[str, SideWindow]


class Sides(BaseModel):
    as_of: float
    half_life_seconds: float
    sides: list[SideModel]


NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: error_doc("Unknown symbol: never seen, or not a valid symbol")}
DISABLED: dict[int | str, dict[str, Any]] = {503: error_doc("Analytics disabled (SIDECAR_ANALYTICS=false)")}
MIN_STREAM_RATE = 0.1  # below it a client would wait minutes between writes, keep-alives included


def _unknown(symbol: str) -> ApiError:
    if not _SYMBOL.match(symbol):
        return ApiError(404, "path.symbol",
                        f"unknown symbol {symbol!r}: not a valid symbol (pattern {SYMBOL_PATTERN})")
    return ApiError(404, "path.symbol",
                    f"unknown symbol {symbol!r}: no tick or trade seen for it (GET /symbols lists them)")


def _disabled() -> ApiError:
    return ApiError(503, "request", "analytics are disabled (SIDECAR_ANALYTICS=false)")


def _whole_symbol(request: Request, state: TelemetryState, symbol: str, suffix: str) -> str | None:
    """The symbol ``<symbol>/<suffix>`` when the request names it rather than a
    sub-resource of ``symbol``: the slash was percent-encoded (``BTC%2Fhistory``),
    or only ``<symbol>/<suffix>`` is known. None: the sub-resource it is."""
    whole = f"{symbol}/{suffix}"
    raw = request.scope.get("raw_path", b"").decode("latin-1").lower()
    encoded = raw.endswith(f"%2f{suffix}")
    if encoded:
        return whole
    part_known, whole_known = read_model.known(state, symbol, whole)
    return whole if not part_known and whole_known else None


def symbol_view(state: TelemetryState, symbol: str) -> SymbolView | None:
    """The latest view of one symbol (None: unknown). Shared by GET /symbols/{id} and /stream."""
    engine = state.analytics
    found = read_model.symbol_with_analytics(state, symbol)
    if found is None:
        return None
    row, snap = found
    now = time.time()
    analytics = position = None
    if snap is not None and engine is not None:
        a = symbol_analytics(snap, now, engine.windows)
        if a.last_price is not None:
            analytics = Analytics.model_validate(a, from_attributes=True)
        if a.position is not None:
            position = PositionModel.model_validate(a.position, from_attributes=True)
    return SymbolView(symbol=symbol, price=row.price, last_tick_ts=row.last_tick_ts, ticks=row.ticks,
                      trades=row.trades, as_of=now,
                      analytics=analytics, position=position)


SymbolPath = Annotated[str, Path(description="Symbol, e.g. BTCUSDT (may contain '/', e.g. BTC/USD)")]


def market_router(state: TelemetryState) -> APIRouter:
    router = APIRouter(tags=["market data"])
    settings = state.settings
    engine = state.analytics

    @router.get("/symbols", response_model=SymbolList, summary="Active symbols with last price and tick time")
    def symbols() -> SymbolList:
        return SymbolList(symbols=[SymbolSummary(symbol=r.symbol, price=r.price, last_tick_ts=r.last_tick_ts,
                                                 ticks=r.ticks, trades=r.trades)
                                   for r in read_model.symbol_rows(state)])

    @router.get("/analytics/sides", response_model=Sides, summary="Per-side rolling trades, volume, EW volume, "
                "burstiness", responses={**DISABLED})
    def sides() -> Sides:
        if engine is None:
            raise _disabled()
        snaps = read_model.side_snapshots(state)
        now = time.time()
        return Sides(as_of=now, half_life_seconds=engine.half_life, sides=[
            SideModel.model_validate(side_analytics(s, now, engine.windows, engine.half_life), from_attributes=True)
            for s in snaps])

    def read_symbol(symbol: str) -> SymbolView:
        view = symbol_view(state, symbol)
        if view is None:
            raise _unknown(symbol)
        return view

    # The sub-resources come first: ``{symbol:path}`` would otherwise swallow "/history".
    @router.get("/symbols/{symbol:path}/history", response_model=History | SymbolView,
                summary="Recent ticks, oldest first (a symbol ending in /history: its SymbolView, docs/api.md)",
                responses={**NOT_FOUND, **DISABLED})
    def history(request: Request, symbol: SymbolPath, limit: Annotated[int, Query(
            ge=1, description="Newest ticks to return; values above SIDECAR_ANALYTICS_HISTORY_SIZE are capped")
            ] = 1000) -> History | SymbolView:
        whole = _whole_symbol(request, state, symbol, "history")
        if whole is not None:
            return read_symbol(whole)
        if engine is None:
            raise _disabled()
        limit = min(limit, engine.history_size)
        known, rows = read_model.history(state, symbol, limit)
        if not known:
            raise _unknown(symbol)
        ticks = [] if rows is None else [TickPoint(ts=t, price=p, volume=v) for t, p, v in rows.tolist()]
        return History(symbol=symbol, limit=limit, ticks=ticks)

    @router.get("/symbols/{symbol:path}/ohlc", response_model=Ohlc | SymbolView,
                summary="OHLC bars aligned to UTC, oldest first; the newest may still be open (a symbol ending "
                        "in /ohlc: its SymbolView, docs/api.md)",
                responses={**NOT_FOUND, **DISABLED})
    def ohlc(request: Request, symbol: SymbolPath,
             timeframe: Annotated[Timeframe, Query(description="1m 5m 15m 1h 4h 1d (or M1 M5 M15 H1 H4 D1)")] = "1m",
             limit: Annotated[int, Query(ge=1, description="Newest bars to return; capped at "
                                                           "SIDECAR_ANALYTICS_OHLC_BARS")] = 100) -> Ohlc | SymbolView:
        whole = _whole_symbol(request, state, symbol, "ohlc")
        if whole is not None:
            return read_symbol(whole)
        if engine is None:
            raise _disabled()
        name = ALIASES.get(timeframe, timeframe)
        span = TIMEFRAMES[name]
        limit = min(limit, engine.bar_capacity)
        known, rows = read_model.bars(state, symbol, span, limit)
        if not known:
            raise _unknown(symbol)
        now = time.time()
        bars = [BarModel(start=start, end=start + span, open=o, high=h, low=lo, close=c, volume=v, ticks=int(n),
                         vwap=pv / v if v > 0.0 else None, closed=start + span <= now)
                for start, o, h, lo, c, v, n, pv in (rows or [])]
        return Ohlc(symbol=symbol, as_of=now, timeframe=name, limit=limit, bars=bars)

    @router.get("/symbols/{symbol:path}", response_model=SymbolView,
                summary="Latest view of one symbol: price, analytics, position and PnL", responses={**NOT_FOUND})
    def symbol(symbol: SymbolPath) -> SymbolView:
        return read_symbol(symbol)

    @router.get("/stream", response_class=EventStreamResponse, status_code=200,
                summary="Server-Sent Events: ticks, trades, analytics",
                responses={200: {"description": "An endless text/event-stream. Each event's `data` is one JSON "
                                 "object: `tick` (StreamTick), `trade` (StreamTrade), `analytics` (SymbolView); "
                                 "lines starting with `:` are heartbeats (docs/api.md).",
                                 "content": {"text/event-stream": {
                                     "schema": {"type": "string", "description": "SSE frames"},
                                     "x-events": {"tick": StreamTick.model_json_schema(),
                                                  "trade": StreamTrade.model_json_schema(),
                                                  "analytics": {"$ref": "#/components/schemas/SymbolView"}}}}},
                           503: error_doc("Analytics disabled, shutting down, or SIDECAR_SSE_MAX_CLIENTS reached")})
    async def stream(
            symbols: Annotated[str | None, Query(description="Comma-separated symbols to follow (default: all, "
                                                             "and trades without a symbol)")] = None,
            max_rate: Annotated[float | None, Query(ge=MIN_STREAM_RATE, description="Writes per second wanted "
                                                    "(>= 0.1); capped at SIDECAR_SSE_MAX_RATE")] = None,
    ) -> EventStreamResponse:
        if engine is None:
            raise _disabled()
        wanted: frozenset[str] | None = None
        if symbols is not None:
            names = [s.strip() for s in symbols.split(",") if s.strip()]
            bad = [s for s in names if not _SYMBOL.match(s)]
            if bad or not names:
                raise ApiError(422, "query.symbols", f"{bad or symbols!r} is not a comma-separated list of "
                                                     f"symbols (pattern {SYMBOL_PATTERN})")
            wanted = frozenset(names)
        rate = min(max_rate or settings.sse_max_rate, settings.sse_max_rate)
        if not math.isfinite(rate):
            raise ApiError(422, "query.max_rate", "must be a finite number of writes per second")
        response = stream_response(state, wanted, rate, lambda name: symbol_view(state, name))
        if response is None:
            raise ApiError(503, "request", "too many stream clients "
                                           f"(SIDECAR_SSE_MAX_CLIENTS={settings.sse_max_clients}) or shutting down")
        return response

    return router
