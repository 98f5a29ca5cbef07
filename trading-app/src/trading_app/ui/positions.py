"""Honest positions: every symbol's position and PnL in one table, the trades a
position leaves out (no price, and no tick to mark them) said in words, and the
per-side trade counts of the selected symbol."""

from __future__ import annotations

from typing import Any

import streamlit as st

from trading_app.ui.app_settings import get_settings
from trading_app.ui.exposition_reader import exposition
from trading_app.ui.number_format import fixed, price_text, qty_text
from trading_app.ui.sidecar_api import sidecar_get

MAX_SYMBOLS = 50  # one GET per symbol on each refresh


def _unpriced(n: int) -> str:
    return f"{n} trade{'s' if n != 1 else ''} without a price {'are' if n != 1 else 'is'}"


def unpriced_note(position: dict[str, Any] | None) -> str | None:
    """The sentence shown wherever a position and its PnL are, when trades are left out."""
    n = int((position or {}).get("unpriced_trades") or 0)
    return f"{_unpriced(n)} not in this position." if n else None


def _money(value: object) -> str:
    return f"{value:,.2f}" if isinstance(value, (int, float)) else "—"  # cents, kept: 4.50


def position_rows() -> list[dict[str, str]]:
    listed = sidecar_get("/symbols")
    symbols = [s["symbol"] for s in (listed or {}).get("symbols", []) if s.get("trades")][:MAX_SYMBOLS]
    rows = []
    for symbol in symbols:
        view = sidecar_get(f"/symbols/{symbol}")
        position = view.get("position") if isinstance(view, dict) else None
        if not isinstance(position, dict):
            continue
        rows.append({"symbol": symbol, "position": qty_text(position["qty"]),
                     "avg cost": price_text(position.get("avg_cost")), "mark": price_text(position.get("mark_price")),
                     "realized PnL": _money(position.get("realized_pnl")),
                     "unrealized PnL": _money(position.get("unrealized_pnl")),
                     "total PnL": _money(position.get("total_pnl")), "trades": str(position.get("trades", 0)),
                     "without a price": str(position.get("unpriced_trades", 0))})
    return rows


def all_positions_panel() -> None:
    with st.container(key="all_positions"):
        st.subheader("Positions and PnL, every symbol")
        rows = position_rows()
        if not rows:
            st.caption("No trades yet.")
            return
        st.table(rows)
        unpriced = sum(int(r["without a price"]) for r in rows)
        if unpriced:
            st.caption(f"{_unpriced(unpriced)} not in these positions (no trade price and no tick to mark them).")


def side_totals(symbol: str) -> list[dict[str, str]]:
    """Trades and volume per side of one symbol since the sidecar started (its counters)."""
    samples = exposition(f"{get_settings().sidecar_url}/metrics/")
    totals: dict[str, dict[str, float]] = {}
    for name, labels, value in samples:
        if name in ("trades_total", "volume_total") and labels.get("symbol") == symbol:
            totals.setdefault(labels["side"], {})[name] = value
    return [{"side": side, "trades": fixed(t.get("trades_total", 0.0), 0),
             "volume": qty_text(t.get("volume_total", 0.0))} for side, t in sorted(totals.items())]
