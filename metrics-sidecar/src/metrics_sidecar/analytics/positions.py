"""Position and PnL of one symbol, average-cost method.

A buy adds ``qty``, a sell subtracts it. Adding to a position (or opening one)
moves the average cost to the quantity-weighted mean of the old cost and the
trade price. Reducing it realizes ``closed_qty * (price - avg_cost)`` (sign
flipped for a short) and leaves the average cost alone; a trade that crosses
zero closes the whole position and opens the remainder at the trade price.
Unrealized PnL marks the open quantity to the last tick price. The core applies
the trades (``core/src/analytics_trades.rs``, ``Position::apply``); this is the view.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PositionView:
    qty: float
    avg_cost: float | None  # None while flat
    realized_pnl: float
    unrealized_pnl: float | None  # None when open but no tick price is known yet
    total_pnl: float | None
    mark_price: float | None
    trades: int
    unpriced_trades: int


def position_view(qty: float, avg_cost: float, realized: float, trades: int, unpriced: int,
                  mark: float | None) -> PositionView:
    if qty == 0.0:
        unrealized: float | None = 0.0
    elif mark is None:
        unrealized = None
    else:
        unrealized = qty * (mark - avg_cost)
    return PositionView(
        qty=qty, avg_cost=avg_cost if qty != 0.0 else None, realized_pnl=realized,
        unrealized_pnl=unrealized, total_pnl=None if unrealized is None else realized + unrealized,
        mark_price=mark, trades=trades, unpriced_trades=unpriced)
