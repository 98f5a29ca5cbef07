"""Order entry in real headless Chromium, against the loop scripts/launch.py
starts: the Trade page sends exactly what the fields show or refuses with a
visible message. A refused order leaves every counter as it was — the sidecar's
and this UI's publisher's — which the next, valid click proves: it moves the
sidecar's counters by exactly its own quantity. Buy is green and Sell red."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from telemetry_testkit.browser_loop import (
    choose_symbol,
    chromium_page,
    click_side,
    exception_count,
    launched_loop,
    notice_text,
    shot,
    table_rows,
    type_quantity,
)
from telemetry_testkit.procs import require_binary, wait_until
from telemetry_testkit.prom import scrape

pytestmark = pytest.mark.browser
MAX_QTY = "1000"
SYMBOLS = "BTCUSDT,ETHUSDT"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_binary("chromium")
    env = {"WEBAPP_MAX_QTY": MAX_QTY, "WEBAPP_SYMBOLS": SYMBOLS}
    with launched_loop(tmp_path_factory.mktemp("loop"), "--no-prometheus", env=env) as info:
        yield info


@pytest.fixture(scope="module")
def page(stack: dict[str, Any]) -> Iterator[Any]:
    with chromium_page() as page:
        page.goto(stack["ui"])
        page.get_by_text("Sidecar connected").wait_for(timeout=30_000)
        yield page


def counters(stack: dict[str, Any]) -> dict[str, float]:
    """Every trade-related count: the sidecar's and the UI publisher's own."""
    sidecar = scrape(stack["sidecar"] + "/metrics/")
    ui = scrape(stack["ui_metrics"])
    picked = {k: v for k, v in sidecar.items()
              if k.startswith(("trades_total", "volume_total", "messages_invalid_total"))
              or k == 'messages_received_total{type="trade"}'}
    picked.update({f"ui:{k}": v for k, v in ui.items() if k.startswith("publisher_messages_")
                   and 'type="trade"' in k})
    return picked


def refused(page: Any, stack: dict[str, Any], side: str, expected: str) -> None:
    before = counters(stack)
    click_side(page, side)
    wait_until(lambda: notice_text(page) == expected, 10, message=f"refusal {expected!r} shown")
    assert counters(stack) == before


def test_refused_orders_leave_counters_unchanged_and_say_why(stack: dict[str, Any], page: Any) -> None:
    start = counters(stack)
    type_quantity(page, "-5")
    refused(page, stack, "buy", "Refused: quantity -5 is negative; it must be greater than 0.")
    assert page.get_by_label("Quantity").input_value() == "-5"  # the field still shows what was typed
    shot(page, "order-01-negative")
    type_quantity(page, "0")
    refused(page, stack, "sell", "Refused: quantity 0 must be greater than 0.")
    type_quantity(page, "1000.5")
    refused(page, stack, "buy", "Refused: quantity 1000.5 is above the maximum 1000 (WEBAPP_MAX_QTY).")
    shot(page, "order-02-over-max")
    type_quantity(page, "1e308")
    refused(page, stack, "buy", "Refused: quantity '1e308' is not a plain decimal number (such as 1 or 2.5).")
    type_quantity(page, "2")
    choose_symbol(page, "DOGEUSDT")
    refused(page, stack, "buy", "Refused: symbol DOGEUSDT is not one of BTCUSDT, ETHUSDT (WEBAPP_SYMBOLS).")
    shot(page, "order-03-unknown-symbol")
    assert table_rows(page, "event_log") == []  # nothing was emitted
    assert counters(stack) == start

    # The next valid order: exactly the maximum, in fixed notation, and the only
    # change to the counters (nothing refused was in flight before it).
    choose_symbol(page, "ETHUSDT")
    type_quantity(page, MAX_QTY)
    click_side(page, "buy")
    wait_until(lambda: notice_text(page).startswith("Emitted buy 1000 ETHUSDT — seq "), 10,
               message="the valid order's notification")
    row = wait_until(lambda: table_rows(page, "event_log"), 10, message="event log row")[0]
    assert (row["side"], row["qty"], row["symbol"], row["status"]) == ("buy", "1000", "ETHUSDT", "sent")
    key = 'trades_total{side="buy",symbol="ETHUSDT"}'
    after = wait_until(lambda: (c := counters(stack)).get(key) == start.get(key, 0) + 1 and c, 10,
                       message="the valid order counted")
    changed = {k: (start.get(k, 0.0), v) for k, v in after.items() if start.get(k, 0.0) != v}
    assert changed == {
        key: (0.0, 1.0),
        'volume_total{side="buy",symbol="ETHUSDT"}': (0.0, 1000.0),
        'messages_received_total{type="trade"}': (start.get('messages_received_total{type="trade"}', 0.0), 1.0),
        'ui:publisher_messages_sent_total{type="trade"}': (0.0, 1.0),
    }
    assert exception_count(page) == 0


def test_buy_is_green_and_sell_is_red(page: Any) -> None:
    colour = "el => getComputedStyle(el).backgroundColor"
    assert page.locator(".st-key-buy button").evaluate(colour) == "rgb(27, 135, 63)"
    assert page.locator(".st-key-sell button").evaluate(colour) == "rgb(198, 40, 40)"
