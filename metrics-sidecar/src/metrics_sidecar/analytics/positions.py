"""Position and PnL of one symbol, average-cost method.

A buy adds ``qty``, a sell subtracts it. Adding to a position (or opening one)
moves the average cost to the quantity-weighted mean of the old cost and the
trade price. Reducing it realizes ``closed_qty * (price - avg_cost)`` (sign
flipped for a short) and leaves the average cost alone; a trade that crosses
zero closes the whole position and opens the remainder at the trade price.
Unrealized PnL marks the open quantity to the last tick price.
"""

from __future__ import annotations

from dataclasses import dataclass

# A position this small relative to the trade that produced it is float noise
# (0.1 + 0.2 - 0.3), not an open position.
_FLAT = 1e-9


class Position:
    __slots__ = ("avg_cost", "qty", "realized", "unpriced")

    def __init__(self) -> None:
        self.qty = 0.0  # signed: > 0 long, < 0 short
        self.avg_cost = 0.0  # 0 while flat
        self.realized = 0.0
        self.unpriced = 0  # trades with no price and no tick yet: counted, PnL untouched

    def apply(self, signed_qty: float, price: float) -> None:
        """One trade (``signed_qty`` != 0)."""
        qty = self.qty
        if qty == 0.0 or (qty > 0.0) == (signed_qty > 0.0):
            self.add(signed_qty, price)
        else:
            self.reduce(signed_qty, price)

    def add(self, signed_qty: float, price: float) -> None:
        """Opening or adding (same sign as the position, or flat). The engine inlines
        this branch for speed: keep the two in step."""
        qty = self.qty
        new = qty + signed_qty
        # Same signs, so the weighted mean works on signed values.
        self.avg_cost = (qty * self.avg_cost + signed_qty * price) / new
        self.qty = new

    def reduce(self, signed_qty: float, price: float) -> None:
        """Reducing, closing or flipping (opposite sign). Comparisons, not abs()/min()."""
        qty = self.qty
        new = qty + signed_qty
        if qty > 0.0:
            closed = qty if qty < -signed_qty else -signed_qty
            self.realized += closed * (price - self.avg_cost)
            tolerance = _FLAT * (qty if qty > -signed_qty else -signed_qty)
        else:
            closed = -qty if -qty < signed_qty else signed_qty
            self.realized += closed * (self.avg_cost - price)
            tolerance = _FLAT * (-qty if -qty > signed_qty else signed_qty)
        if -tolerance <= new <= tolerance:
            self.qty = self.avg_cost = 0.0
            return
        if (new > 0.0) != (qty > 0.0):
            self.avg_cost = price  # flipped: the remainder was opened at this price
        self.qty = new


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
