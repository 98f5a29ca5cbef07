"""The Trade page: buy (green) / sell (red) with a quantity (default 1) sent
exactly as typed or refused with a message (order_entry.py), the live price, the
exact message each click emitted (notification + event log), the blotter of this
UI's trades as the sidecar received them (blotter.py), this process' own
publisher counters, and a warning while the sidecar is unreachable.

Sections sit in keyed containers (CSS class ``st-key-<key>``) so people can link
to them and browser tests find them without depending on the layout."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from trading_app.ui.app_publisher import get_publisher, trade_counts
from trading_app.ui.app_settings import get_settings
from trading_app.ui.blotter import blotter_panel, remember_drop
from trading_app.ui.number_format import price_text, qty_text
from trading_app.ui.order_entry import BUY_GREEN, SELL_RED, Refusal, check_order
from trading_app.ui.sidecar_api import sidecar_get

UNREACHABLE_WARNING = "Sidecar unreachable — events may be dropped. Start metrics-sidecar (see README, startup order)."
# Reliable mode drops nothing while the sidecar is away: trades wait in the outbox
# (until it is full, a refusal the page shows) and are resent when it is back.
UNREACHABLE_RELIABLE_WARNING = ("Sidecar unreachable — trades wait in the outbox and are sent when it is back "
                                "(docs/delivery.md).")
CONNECTED_TEXT = "Sidecar connected"
CAPTION = "Every click is published over ZeroMQ PUSH to the metrics sidecar."
EVENT_LOG_ROWS = 20
SIDE_COLOURS = f"""<style>
.st-key-buy button {{ background-color: {BUY_GREEN} !important; border-color: {BUY_GREEN} !important;
                      color: #ffffff !important; }}
.st-key-sell button {{ background-color: {SELL_RED} !important; border-color: {SELL_RED} !important;
                       color: #ffffff !important; }}
.st-key-buy button:hover, .st-key-sell button:hover {{ filter: brightness(1.15); }}
</style>"""


def _last_price(symbol: str) -> float | None:
    view = sidecar_get(f"/symbols/{symbol}")
    if isinstance(view, dict) and isinstance(view.get("price"), (int, float)):
        return float(view["price"])
    return None


def ts_text(ts: float) -> str:
    """Event time as people read it, to the microsecond (UTC)."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="microseconds")


@st.fragment(run_every=0.5)
def connection_status() -> None:
    """Re-checked twice a second (no I/O: the socket monitor's state is in memory),
    so the warning shows well within 2 s of the sidecar stopping and clears as
    soon after it is back."""
    publisher = get_publisher()
    with st.container(key="status"):
        if publisher.connected:
            st.success(CONNECTED_TEXT, icon=":material/check_circle:")
        else:
            reliable = get_settings().delivery == "reliable"
            st.warning(UNREACHABLE_RELIABLE_WARNING if reliable else UNREACHABLE_WARNING, icon=":material/warning:")
        # The UI has its own publisher: its counters are here and on its own /metrics
        # (WEBAPP_UI_METRICS_PORT), not on the API's.
        sent, dropped = trade_counts(publisher)
        reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(dropped.items()))
        st.caption(f"UI publisher: trades sent {sent} · trades dropped {sum(dropped.values())}"
                   + (f" ({reasons})" if reasons else ""))


@st.fragment(run_every=1.0)
def live_price(symbol: str) -> None:
    price = _last_price(symbol)
    st.metric(f"{symbol} last price", price_text(price))


def _emit(side: str) -> None:
    typed, symbol = str(st.session_state.get("qty", "")), st.session_state.get("symbol")
    checked = check_order(side, typed, symbol, get_settings())
    if isinstance(checked, Refusal):
        # Nothing is published: the counters stay as they are, and the page says why.
        st.session_state["last_notice"] = ("refused", checked.message, None)
        return
    publisher = get_publisher()
    # The mark price comes from the sidecar; while it is unreachable, don't even ask.
    price = _last_price(checked.symbol) if publisher.connected else None
    result = publisher.trade(side, checked.qty, symbol=checked.symbol, price=price)
    message: dict[str, Any] = result.message
    # A refusal before stamping (reliable mode's outbox_full / outbox_error) consumes no seq.
    entry = {"seq": message.get("seq", "—"), "side": side, "qty": qty_text(checked.qty), "symbol": checked.symbol,
             "ts": ts_text(message["ts"]), "status": "sent" if result.queued else f"dropped: {result.reason}"}
    st.session_state.setdefault("emitted", []).insert(0, entry)
    del st.session_state["emitted"][EVENT_LOG_ROWS:]
    what = f"{side} {entry['qty']} {checked.symbol} — seq {entry['seq']}, ts {entry['ts']}"
    if not result.queued:
        remember_drop(message, str(result.reason))
    if result.queued:
        st.toast(f"Emitted {what}", icon=":material/send:")
        notice = ("success", f"Emitted {what}")
    else:
        notice = ("error", f"Dropped {what} ({result.reason}: the sidecar is not connected)"
                  if result.reason == "no_peer" else f"Dropped {what} ({result.reason})")
    st.session_state["last_notice"] = (*notice, json.dumps(message))


def render() -> None:
    settings = get_settings()
    st.title("trading-telemetry")
    st.caption(CAPTION)
    connection_status()
    col_symbol, col_qty = st.columns(2)
    if settings.symbol_list:
        # A typed symbol is accepted by the box, then refused on click with a message
        # (rather than silently replaced by a listed one).
        col_symbol.selectbox("Symbol", settings.symbol_list, key="symbol", accept_new_options=True)
    else:
        col_symbol.text_input("Symbol", value="BTCUSDT", key="symbol")
        col_symbol.caption("WEBAPP_SYMBOLS is empty: any symbol.")
    # A text field, not st.number_input: that one keeps its previous value when -5 is
    # typed, so Buy would send a quantity the field does not show.
    col_qty.text_input("Quantity", value="1", key="qty")
    col_qty.caption(f"Greater than 0, at most {qty_text(settings.max_qty)} (WEBAPP_MAX_QTY).")
    symbol = st.session_state.get("symbol")
    if symbol:
        live_price(str(symbol))
    st.html(SIDE_COLOURS)
    buy, sell = st.columns(2)
    # on_click callbacks run before the rerun, so the status line at the top of the
    # page already counts the click this run renders.
    # They read quantity and symbol from session state, which already holds a value
    # typed just before the click (args bound at render time could be one edit late).
    buy.button("Buy", key="buy", width="stretch", on_click=_emit, args=("buy",))
    sell.button("Sell", key="sell", width="stretch", on_click=_emit, args=("sell",))
    notice = st.session_state.get("last_notice")
    if notice:
        kind, text, message = notice
        with st.container(key="notice"):
            (st.success if kind == "success" else st.error)(text)
            if message:
                with st.expander("Exact JSON of the message"):
                    st.code(message, language="json")
    with st.container(key="event_log"):
        st.subheader("Event log (emitted by this session)")
        emitted = st.session_state.get("emitted", [])
        if emitted:
            st.table(emitted)
        else:
            st.caption("No clicks yet.")
    blotter_panel()
    st.caption(f"Rendered at {time.strftime('%H:%M:%S')}")
