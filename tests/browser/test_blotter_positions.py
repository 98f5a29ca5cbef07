"""The blotter and honest positions in real headless Chromium, against the loop
scripts/launch.py starts. A feed prices BTCUSDT; the page buys and sells it
(priced at the last tick) and buys ETHUSDT, which has no tick (an unpriced
trade). The blotter shows exactly those trades as the sidecar received them,
also after a reload; the Market page marks the two priced fills, lists every
symbol's position, says which trades a position leaves out, and counts trades
per side of the selected symbol."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from telemetry_testkit.browser_loop import (
    choose_symbol,
    chromium_page,
    exception_count,
    launched_loop,
    shot,
    table_rows,
    type_quantity,
)
from telemetry_testkit.procs import require_binary, wait_until

pytestmark = pytest.mark.browser
LAST_PRICE = 114.5  # the feed's last tick


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_binary("chromium")
    with launched_loop(tmp_path_factory.mktemp("loop"), "--no-prometheus",
                       env={"WEBAPP_SYMBOLS": "BTCUSDT,ETHUSDT"}) as info:
        yield info


def feed_btc(zmq: str) -> None:
    from trading_app.telemetry.push import PushPublisher as Publisher

    with Publisher(zmq, producer="browser-feed", heartbeat_interval=0) as pub:
        wait_until(lambda: pub.connected, 10, message="feed connected")
        now = time.time()
        for i in range(30):
            pub.tick("BTCUSDT", 100.0 + i * 0.5, volume=1.0, ts=now - 30 + i)
        pub.close(linger=2.0)


def order(page: Any, side: str, qty: str, symbol: str) -> int:
    """Place one order; its seq from the notification."""
    choose_symbol(page, symbol)
    type_quantity(page, qty)
    before = page.locator(".st-key-notice").inner_text() if page.locator(".st-key-notice").count() else ""
    page.get_by_role("button", name=side.capitalize(), exact=True).click()
    text = wait_until(lambda: (t := page.locator(".st-key-notice").inner_text()) != before
                      and t.startswith(f"Emitted {side} {qty} {symbol} — seq ") and t, 10,
                      message=f"{side} {qty} {symbol} emitted")
    return int(text.split(" — seq ", 1)[1].split(",", 1)[0])


def blotter(page: Any, n: int) -> list[dict[str, str]]:
    return wait_until(lambda: len(r := table_rows(page, "blotter")) == n
                      and all(row["status"] == "received" for row in r) and r, 10,
                      message=f"{n} received rows in the blotter")


def test_blotter_fills_and_honest_positions(stack: dict[str, Any]) -> None:
    feed_btc(stack["zmq"])
    with chromium_page() as page:
        page.goto(stack["ui"])
        page.get_by_text("Sidecar connected").wait_for(timeout=30_000)
        page.get_by_text("BTCUSDT last price").wait_for(timeout=10_000)
        page.get_by_text("114.5000").first.wait_for(timeout=10_000)  # the page knows the last tick
        buy = order(page, "buy", "2", "BTCUSDT")
        sell = order(page, "sell", "0.5", "BTCUSDT")
        eth = order(page, "buy", "1", "ETHUSDT")
        expected = [
            (str(eth), "buy", "1", "ETHUSDT", "—", "received"),
            (str(sell), "sell", "0.5", "BTCUSDT", "114.5000", "received"),
            (str(buy), "buy", "2", "BTCUSDT", "114.5000", "received"),
        ]
        rows = blotter(page, 3)
        assert [(r["seq"], r["side"], r["qty"], r["symbol"], r["price"], r["status"]) for r in rows] == expected
        assert all(float(r["latency_ms"]) >= 0 for r in rows)
        shot(page, "blotter-01-trade-page")

        page.reload()  # a new session: the blotter is read back from the sidecar
        page.get_by_text("Sidecar connected").wait_for(timeout=30_000)
        rows = blotter(page, 3)
        assert [(r["seq"], r["side"], r["qty"], r["symbol"], r["price"], r["status"]) for r in rows] == expected

        page.goto(stack["ui"].rstrip("/") + "/market")
        page.locator(".st-key-price_chart").get_by_text(
            "Your fills in BTCUSDT on this chart: 2").wait_for(timeout=20_000)
        positions = wait_until(lambda: len(r := table_rows(page, "all_positions")) == 2 and r, 20,
                               message="every symbol's position")
        assert [(r["symbol"], r["position"], r["avg cost"], r["trades"], r["without a price"]) for r in positions] \
            == [("BTCUSDT", "1.5", "114.5000", "2", "0"), ("ETHUSDT", "0", "—", "1", "1")]
        assert positions[0]["realized PnL"] == "0.00" and positions[0]["unrealized PnL"] == "0.00"
        page.locator(".st-key-all_positions").get_by_text(
            "1 trade without a price is not in these positions").wait_for(timeout=10_000)
        sides = wait_until(lambda: table_rows(page, "sides"), 10, message="trades per side of BTCUSDT")
        assert sides == [{"side": "buy", "trades": "1", "volume": "2"},
                             {"side": "sell", "trades": "1", "volume": "0.5"}]
        assert page.locator(".st-key-position").get_by_text("without a price").count() == 0
        assert exception_count(page) == 0
        shot(page, "blotter-02-market-btc")

        # The selected symbol drives the position, its note and the per-side table.
        page.locator(".st-key-market_symbol").click()
        page.get_by_role("option", name="ETHUSDT").click()
        page.locator(".st-key-position").get_by_text(
            "1 trade without a price is not in this position.").wait_for(timeout=20_000)
        wait_until(lambda: table_rows(page, "sides") == [{"side": "buy", "trades": "1", "volume": "1"}], 10,
                   message="trades per side of ETHUSDT")
        assert exception_count(page) == 0
        shot(page, "blotter-03-market-eth")
