"""Order entry rules of the UI: what the quantity field shows is what is sent, or
the order is refused with a message saying why. No rounding, no clamping, no
falling back to a previous value. Numbers are shown by number_format.py."""

from __future__ import annotations

import re
from dataclasses import dataclass

from trading_app.settings import AppSettings
from trading_app.ui.number_format import QTY_DIGITS, qty_text

# Plain decimal notation only: what people type into an order ticket. Exponents,
# signs, "inf" and "nan" are refused with a message rather than interpreted.
DECIMAL = re.compile(r"^[0-9]+(\.[0-9]*)?$|^\.[0-9]+$")
BUY_GREEN, SELL_RED = "#1b873f", "#c62828"  # a trader reads red as sell, so Buy must not be red
SYMBOL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,31}$")  # the wire's (metrics_sidecar.schema)


@dataclass(frozen=True)
class Order:
    side: str
    qty: float
    symbol: str


@dataclass(frozen=True)
class Refusal:
    message: str


def check_order(side: str, typed_qty: str, symbol: str | None, settings: AppSettings) -> Order | Refusal:
    """The order the screen shows, or why it is refused."""
    text = typed_qty.strip()
    if not text:
        return Refusal("Refused: enter a quantity.")
    if text.startswith("-"):
        return Refusal(f"Refused: quantity {text} is negative; it must be greater than 0.")
    if not DECIMAL.match(text):
        return Refusal(f"Refused: quantity {text!r} is not a plain decimal number (such as 1 or 2.5).")
    if "." in text and len(text.split(".", 1)[1].rstrip("0")) > QTY_DIGITS:
        return Refusal(f"Refused: quantity {text} has more than {QTY_DIGITS} decimal places.")
    qty = float(text)
    if qty <= 0:
        return Refusal(f"Refused: quantity {text} must be greater than 0.")
    if qty > settings.max_qty:
        return Refusal(f"Refused: quantity {text} is above the maximum {qty_text(settings.max_qty)} "
                       "(WEBAPP_MAX_QTY).")
    allowed = settings.symbol_list
    if not symbol:
        return Refusal("Refused: choose a symbol.")
    if allowed and symbol not in allowed:
        return Refusal(f"Refused: symbol {symbol} is not one of {', '.join(allowed)} (WEBAPP_SYMBOLS).")
    if not SYMBOL_PATTERN.match(symbol):
        return Refusal(f"Refused: symbol {symbol!r} is not a valid instrument name.")
    return Order(side, qty, symbol)
