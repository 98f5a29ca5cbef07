"""The fixed-notation number formats every page uses (never ``1e+09``)."""

from __future__ import annotations

import math

QTY_DIGITS = 8  # the finest quantity shown; more digits typed are refused, not rounded


def fixed(value: float, digits: int = 4, grouping: bool = False) -> str:
    """Fixed notation, trailing zeros of the fraction dropped: 3, 2.5, 1000000000."""
    text = f"{value:,.{digits}f}" if grouping else f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def qty_text(qty: float) -> str:
    return fixed(qty, QTY_DIGITS)


def price_text(price: float | None) -> str:
    return "—" if price is None or not math.isfinite(price) else f"{price:,.4f}"
