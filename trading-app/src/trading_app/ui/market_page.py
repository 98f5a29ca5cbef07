"""The Market page: live price chart, OHLC candles, the latest analytics view,
position and PnL of the selected symbol, and per-side rolling trade analytics,
read from the sidecar's market API (docs/api.md). Refreshes every second in a
fragment, without reloading the page."""

from __future__ import annotations

from datetime import UTC, datetime

import altair as alt
import pandas as pd
import streamlit as st

from trading_app.ui.app_settings import get_settings
from trading_app.ui.blotter import my_received_trades
from trading_app.ui.number_format import qty_text
from trading_app.ui.order_entry import BUY_GREEN, SELL_RED
from trading_app.ui.positions import all_positions_panel, side_totals, unpriced_note
from trading_app.ui.sidecar_api import sidecar_get, sidecar_response

TIMEFRAMES = ("1m", "5m", "15m", "1h", "4h", "1d")
FILLS = 200  # of this UI's trades, read back to mark on the price chart


def _fmt(value: object, digits: int = 4) -> str:
    return "—" if not isinstance(value, (int, float)) else f"{value:,.{digits}f}"


def _candles(bars: list[dict[str, float]]) -> alt.LayerChart:
    frame = pd.DataFrame(bars)
    frame["time"] = pd.to_datetime(frame["start"], unit="s", utc=True)
    base = alt.Chart(frame).encode(
        x=alt.X("time:T", title=None),
        color=alt.condition("datum.open <= datum.close", alt.value("#26a69a"), alt.value("#ef5350")))
    wick = base.mark_rule().encode(y=alt.Y("low:Q", title="price", scale=alt.Scale(zero=False)), y2="high:Q")
    body = base.mark_bar(size=6).encode(y="open:Q", y2="close:Q")
    return wick + body


def _unavailable(status: int, symbol: str) -> str:
    """Why there is no view: the sidecar is down, too old for the market API, or
    simply has seen nothing of this symbol yet."""
    if status == 0:
        return "Sidecar unreachable: start metrics-sidecar (see README)."
    if status == 503:
        return "The sidecar runs with analytics disabled (SIDECAR_ANALYTICS=false)."
    if status == 404 and sidecar_response("/symbols")[0] == 404:
        return "This sidecar has no market-data API (/symbols): upgrade metrics-sidecar."
    return f"No market data for {symbol} yet (is a feed running? `trading-app-feed --source sim`)."


def sides_panel(symbol: str) -> None:
    with st.container(key="sides"):
        st.subheader(f"Trades per side — {symbol}")
        totals = side_totals(symbol)
        if totals:
            st.table(totals)
            st.caption("Since the sidecar started (trades_total and volume_total of this symbol).")
        else:
            st.caption(f"No trades in {symbol} yet.")
        data = sidecar_get("/analytics/sides")
        if not isinstance(data, dict) or not data.get("sides"):
            return
        st.markdown("**Rolling, all symbols**")
        rows = [{"side": s["side"], "window": name, "trades": str(w["trades"]), "volume": qty_text(w["volume"]),
                 "burstiness": _fmt(w["burstiness"], 3), "ew_volume": _fmt(s["ew_volume"], 3)}
                for s in data["sides"] for name, w in s["windows"].items()]
        st.table(rows)
        st.caption("The sidecar's rolling side analytics cover every symbol together. "
                   f"ew_volume: exponentially weighted volume, half-life {data.get('half_life_seconds', 0):g} s; "
                   "burstiness: std/mean of the gaps between trades.")


def _fills(symbol: str) -> pd.DataFrame:
    """This UI's priced trades in the symbol, as the sidecar received them."""
    _, trades = my_received_trades(FILLS)
    rows = [{"time": pd.to_datetime(e["ts_s"], unit="s", utc=True), "price": e["price"], "side": e["side"],
             "qty": qty_text(e["qty"]), "seq": e["seq"]}
            for e in trades if e.get("symbol") == symbol and isinstance(e.get("price"), (int, float))]
    return pd.DataFrame(rows, columns=["time", "price", "side", "qty", "seq"])


def _price_chart(ticks: list[dict[str, float]], fills: pd.DataFrame) -> alt.LayerChart | alt.Chart:
    frame = pd.DataFrame(ticks)
    frame["time"] = pd.to_datetime(frame["ts"], unit="s", utc=True)
    # Not st.line_chart: its y axis starts at 0, which flattens any price move.
    line = alt.Chart(frame).mark_line().encode(
        x=alt.X("time:T", title="time (UTC)", axis=alt.Axis(format="%H:%M:%S")),
        y=alt.Y("price:Q", scale=alt.Scale(zero=False)))
    if fills.empty:
        return line
    marks = alt.Chart(fills).mark_point(filled=True, size=140, opacity=1).encode(
        x="time:T", y="price:Q",
        shape=alt.Shape("side:N", scale=alt.Scale(domain=["buy", "sell"], range=["triangle-up", "triangle-down"]),
                        title="your fills"),
        color=alt.Color("side:N", scale=alt.Scale(domain=["buy", "sell"], range=[BUY_GREEN, SELL_RED]),
                        title="your fills"),
        tooltip=["side", "qty", "price", "seq"])
    return line + marks


@st.fragment(run_every=1.0)
def market_panel(symbol: str, timeframe: str) -> None:
    status, view = sidecar_response(f"/symbols/{symbol}")
    if status != 200 or not isinstance(view, dict):
        st.info(_unavailable(status, symbol))
        return
    price_col, sma_col, vwap_col, vol_col = st.columns(4)
    analytics = view.get("analytics") or {}
    window = (analytics.get("windows") or {}).get("1m") or {}
    price_col.metric("Last price", _fmt(view.get("price")))
    sma_col.metric(f"SMA ({analytics.get('sma_ticks', 0)} ticks)", _fmt(analytics.get("sma")))
    vwap_col.metric("VWAP 1m", _fmt(window.get("vwap")))
    vol_col.metric("Volatility 1m", _fmt(window.get("volatility"), 6))

    history = sidecar_get(f"/symbols/{symbol}/history", limit=500)
    ticks = history.get("ticks", []) if isinstance(history, dict) else []
    if ticks:
        fills = _fills(symbol)
        with st.container(key="price_chart"):
            st.subheader("Price")
            st.altair_chart(_price_chart(ticks, fills).properties(height=260), width="stretch")
            st.caption(f"Your fills in {symbol} on this chart: {len(fills)} (▲ buy, ▼ sell; trades without a "
                       "price cannot be drawn).")
    ohlc = sidecar_get(f"/symbols/{symbol}/ohlc", timeframe=timeframe, limit=100)
    bars = ohlc.get("bars", []) if isinstance(ohlc, dict) else []
    st.subheader(f"OHLC {timeframe}")
    if bars:
        st.altair_chart(_candles(bars), width="stretch")
    else:
        st.caption("No bars yet.")

    st.subheader("Analytics")
    rows = [{"window": name, **{k: str(v) if isinstance(v, int) else _fmt(v, 6) for k, v in w.items()}}
            for name, w in (analytics.get("windows") or {}).items()]
    if rows:
        st.table(rows)
    position = view.get("position")
    with st.container(key="position"):
        position_panel(position)
    all_positions_panel()
    sides_panel(symbol)
    as_of = view.get("as_of")
    if isinstance(as_of, (int, float)):
        st.caption(f"as of {datetime.fromtimestamp(as_of, tz=UTC).isoformat(timespec='seconds')}")


def position_panel(position: object) -> None:
    st.subheader("Position and PnL")
    if isinstance(position, dict):
        q, cost, real, unreal = st.columns(4)
        q.metric("Position", _fmt(position.get("qty"), 2))
        cost.metric("Avg cost", _fmt(position.get("avg_cost")))
        real.metric("Realized PnL", _fmt(position.get("realized_pnl"), 2))
        unreal.metric("Unrealized PnL", _fmt(position.get("unrealized_pnl"), 2))
        note = unpriced_note(position)
        if note:
            st.warning(note, icon=":material/info:")
    else:
        st.caption("No trades in this symbol yet.")


def render() -> None:
    st.title("Market")
    symbols = get_settings().symbol_list
    listed = sidecar_get("/symbols")
    if isinstance(listed, dict):
        symbols = sorted({*symbols, *(s["symbol"] for s in listed.get("symbols", []) if s.get("price"))})
    left, right = st.columns(2)
    symbol = left.selectbox("Symbol", symbols, key="market_symbol")
    timeframe = right.selectbox("Timeframe", TIMEFRAMES, key="market_timeframe")
    market_panel(symbol, timeframe)
