"""The UI's order-entry rules: the typed quantity is sent as shown, or refused
with a message; numbers are shown in fixed notation."""

from __future__ import annotations

import pytest

from trading_app.settings import AppSettings
from trading_app.ui.number_format import fixed, qty_text
from trading_app.ui.order_entry import Order, Refusal, check_order

SETTINGS = AppSettings.from_env({"WEBAPP_MAX_QTY": "1000", "WEBAPP_SYMBOLS": "BTCUSDT,ETHUSDT"}, env_file=None)


@pytest.mark.parametrize(("typed", "qty"), [("1", 1.0), ("2.5", 2.5), (" 1000 ", 1000.0), (".5", 0.5),
                                            ("0.00000001", 1e-8), ("7.", 7.0)])
def test_accepted_quantity_is_exactly_what_was_typed(typed: str, qty: float) -> None:
    assert check_order("buy", typed, "BTCUSDT", SETTINGS) == Order("buy", qty, "BTCUSDT")


@pytest.mark.parametrize(("typed", "symbol", "message"), [
    ("-5", "BTCUSDT", "Refused: quantity -5 is negative; it must be greater than 0."),
    ("0", "BTCUSDT", "Refused: quantity 0 must be greater than 0."),
    ("0.000", "BTCUSDT", "Refused: quantity 0.000 must be greater than 0."),
    ("1000.5", "BTCUSDT", "Refused: quantity 1000.5 is above the maximum 1000 (WEBAPP_MAX_QTY)."),
    ("1e308", "BTCUSDT", "Refused: quantity '1e308' is not a plain decimal number (such as 1 or 2.5)."),
    ("nan", "BTCUSDT", "Refused: quantity 'nan' is not a plain decimal number (such as 1 or 2.5)."),
    ("", "BTCUSDT", "Refused: enter a quantity."),
    ("0.000000001", "BTCUSDT", "Refused: quantity 0.000000001 has more than 8 decimal places."),
    ("1", "DOGEUSDT", "Refused: symbol DOGEUSDT is not one of BTCUSDT, ETHUSDT (WEBAPP_SYMBOLS)."),
    ("1", None, "Refused: choose a symbol."),
])
def test_refusals_say_why(typed: str, symbol: str | None, message: str) -> None:
    assert check_order("sell", typed, symbol, SETTINGS) == Refusal(message)


def test_an_empty_symbol_list_accepts_any_wire_valid_symbol() -> None:
    anything = AppSettings.from_env({"WEBAPP_SYMBOLS": ""}, env_file=None)
    assert check_order("buy", "1", "AAPL.US", anything) == Order("buy", 1.0, "AAPL.US")
    assert check_order("buy", "1", "no spaces", anything) == Refusal(
        "Refused: symbol 'no spaces' is not a valid instrument name.")


def test_fixed_notation() -> None:
    assert [qty_text(q) for q in (3.0, 2.5, 1e9, 1e-8, 0.1 + 0.2)] == ["3", "2.5", "1000000000", "0.00000001",
                                                                         "0.3"]
    assert fixed(1234567.891, 2, grouping=True) == "1,234,567.89"
    assert fixed(5.0, 0) == "5"



def test_the_unpriced_note_counts_in_words() -> None:
    from trading_app.ui.positions import unpriced_note

    assert unpriced_note({"unpriced_trades": 1}) == "1 trade without a price is not in this position."
    assert unpriced_note({"unpriced_trades": 3}) == "3 trades without a price are not in this position."
    assert unpriced_note({"unpriced_trades": 0}) is None and unpriced_note(None) is None
