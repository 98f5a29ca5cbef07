"""The blotter: this UI's trades as the sidecar received them, read back from
the sidecar's ``/events`` by this UI process' producer and instance (so it
survives a page reload and is never pushed out by heartbeats or ticks), plus the
trades the publisher could not send (kept in this process, with the reason)."""

from __future__ import annotations

from collections import deque
from typing import Any

import streamlit as st

from trading_app.ui.app_publisher import get_publisher
from trading_app.ui.number_format import fixed, price_text, qty_text
from trading_app.ui.sidecar_api import sidecar_response

ROWS = 50
COLUMNS = ("seq", "side", "qty", "symbol", "price", "latency_ms", "status")


@st.cache_resource
def dropped_trades() -> deque[dict[str, Any]]:
    """Trades this UI process did not send (the sidecar cannot know them); shared by
    every session like the publisher, so a reload keeps them too."""
    return deque(maxlen=ROWS)


def remember_drop(message: dict[str, Any], reason: str) -> None:
    dropped_trades().appendleft({**message, "status": f"dropped: {reason}"})


def my_received_trades(limit: int = ROWS) -> tuple[bool, list[dict[str, Any]]]:
    """(sidecar reachable, this UI's trades it holds, newest first)."""
    publisher = get_publisher()
    mine = {"type": "trade", "producer": publisher.producer, "instance": publisher.instance}
    status, body = sidecar_response("/events", limit=limit, **mine)
    if status != 200 or not isinstance(body, dict):
        return False, []
    # Filtered again here: a sidecar older than the filters ignores them.
    return True, [e for e in body.get("events", []) if all(e.get(k) == v for k, v in mine.items())]


def blotter_rows(received: list[dict[str, Any]], dropped: list[dict[str, Any]]) -> list[dict[str, str]]:
    rows = [(int(e["seq"]), {"side": e["side"], "qty": qty_text(e["qty"]), "symbol": e.get("symbol") or "",
                             "price": price_text(e.get("price")),
                             "latency_ms": fixed((e["recv_ts"] - e["ts_s"]) * 1000, 3), "status": "received"})
            for e in received]
    rows += [(int(d.get("seq", 0)), {"side": d["side"], "qty": qty_text(d["qty"]), "symbol": d.get("symbol") or "",
                              "price": price_text(d.get("price")), "latency_ms": "—", "status": d["status"]})
             for d in dropped]
    rows.sort(key=lambda r: r[0], reverse=True)
    # seq 0: refused before it was stamped (reliable mode's outbox_full), so it has none.
    return [{"seq": str(seq) if seq else "—", **row} for seq, row in rows[:ROWS]]


@st.fragment(run_every=1.0)
def blotter_panel() -> None:
    with st.container(key="blotter"):
        st.subheader("Blotter (this UI's trades as the sidecar received them)")
        reachable, received = my_received_trades()
        rows = blotter_rows(received, list(dropped_trades()))
        if not reachable:
            st.info("Sidecar HTTP API not reachable: only the trades this UI could not send are listed.")
        if rows:
            st.table(rows)  # a real HTML table: readable by people, screen readers and browser tests
        else:
            st.caption("No trades from this UI yet.")
        publisher = get_publisher()
        st.caption(f"producer {publisher.producer}, instance {publisher.instance}; latency: click to sidecar.")
