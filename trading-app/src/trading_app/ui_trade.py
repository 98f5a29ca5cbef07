"""The Trade page: buy/sell with a quantity (default 1), the live price, what
each click emitted, what the sidecar received, and a warning while the sidecar
is unreachable."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import streamlit as st

from trading_app.ui_common import UNREACHABLE_WARNING, get_publisher, get_settings, sidecar_get

CAPTION = "Every click is published over ZeroMQ PUSH to the metrics sidecar."


def _last_price(symbol: str) -> float | None:
    view = sidecar_get(f"/symbols/{symbol}")
    if isinstance(view, dict) and isinstance(view.get("price"), (int, float)):
        return float(view["price"])
    return None


@st.fragment(run_every=1.0)
def connection_status() -> None:
    publisher = get_publisher()
    if publisher.connected:
        st.success("Sidecar connected", icon="✅")
    else:
        st.warning(UNREACHABLE_WARNING, icon="⚠️")
    # This process' own publisher counters (the UI has no /metrics endpoint of its own).
    snap = publisher.snapshot()
    trades_sent = snap["sent"].get("trade", 0)
    trades_dropped = sum(n for (kind, _), n in snap["dropped"].items() if kind == "trade")
    st.caption(f"UI publisher: trades sent {trades_sent} · trades dropped {trades_dropped}")


@st.fragment(run_every=1.0)
def live_price(symbol: str) -> None:
    price = _last_price(symbol)
    st.metric(f"{symbol} last price", "—" if price is None else f"{price:,.4f}")


@st.fragment(run_every=1.0)
def received_panel() -> None:
    st.subheader("Received by sidecar")
    data = sidecar_get("/events", limit=10)
    if data is None:
        st.info("Sidecar HTTP API not reachable.")
        return
    rows = [
        {"seq": e.get("seq"), "type": e.get("type"), "side": e.get("side", ""), "qty": e.get("qty", ""),
         "symbol": e.get("symbol") or "", "price": e.get("price"), "producer": e.get("producer"),
         "latency_ms": round((e["recv_ts"] - e["ts_s"]) * 1000, 3)}
        for e in data.get("events", []) if e.get("type") != "heartbeat"
    ]
    if rows:
        st.table(rows)  # a real HTML table: readable by people, screen readers and browser tests
    else:
        st.caption("Nothing received yet.")


def _emit(side: str, qty: float, symbol: str) -> None:
    publisher = get_publisher()
    result = publisher.trade(side, qty, symbol=symbol, price=_last_price(symbol))
    message = result.message
    entry = {"seq": message["seq"], "side": side, "qty": qty, "symbol": symbol,
             "ts": datetime.fromtimestamp(message["ts"], tz=UTC).isoformat(timespec="microseconds"),
             "queued": result.queued, "message": json.dumps(message)}
    st.session_state.setdefault("emitted", []).insert(0, entry)
    if result.queued:
        st.toast(f"Emitted {side} {qty:g} {symbol} (seq {message['seq']})")
        st.session_state["last_notice"] = ("success", f"Emitted {side} {qty:g} {symbol} — seq {message['seq']}")
    else:
        st.session_state["last_notice"] = (
            "error", f"Dropped {side} {qty:g} {symbol} (seq {message['seq']}): {result.reason}")


def render() -> None:
    settings = get_settings()
    st.title("trading-telemetry")
    st.caption(CAPTION)
    connection_status()
    symbols = settings.symbol_list
    col_symbol, col_qty = st.columns(2)
    symbol = col_symbol.selectbox("Symbol", symbols, key="symbol")
    qty = col_qty.number_input("Quantity", min_value=0.0, value=1.0, step=1.0, key="qty")
    live_price(symbol)
    buy, sell = st.columns(2)
    if buy.button("Buy", type="primary", use_container_width=True):
        _emit("buy", float(qty), symbol)
    if sell.button("Sell", use_container_width=True):
        _emit("sell", float(qty), symbol)
    notice = st.session_state.get("last_notice")
    if notice:
        (st.success if notice[0] == "success" else st.error)(notice[1])
    st.subheader("Emitted by this session")
    emitted = st.session_state.get("emitted", [])
    if emitted:
        st.table([{k: v for k, v in e.items() if k != "message"} for e in emitted[:20]])
        with st.expander("Exact JSON of the last message"):
            st.code(emitted[0]["message"], language="json")
    else:
        st.caption("No clicks yet.")
    received_panel()
    st.caption(f"Rendered at {time.strftime('%H:%M:%S')}")
