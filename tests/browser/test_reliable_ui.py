"""The UI in reliable mode (WEBAPP_DELIVERY=reliable, docs/delivery.md), in real
headless Chromium against the loop scripts/launch.py starts with
--restart-on-failure: the sidecar listens on SIDECAR_RELIABLE_BIND with a
SIDECAR_STATE_DIR, and the UI's publisher keeps every accepted click in its
SQLite outbox until the sidecar acks it.

Buy is clicked while the sidecar runs, while it is frozen (SIGSTOP: connected,
never acking) until the outbox is full, and after it was killed with -9 in that
state and restarted by the launcher on the same ports and state dir. Every click
the page announced as emitted (accepted) is counted by the sidecar exactly once;
the click beyond the outbox's bound is refused, and the page says so."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from telemetry_devtools.polling import free_port
from telemetry_testkit.browser_loop import (
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
SYMBOL = "BTCUSDT"
OUTBOX_MAX = 3  # WEBAPP_OUTBOX_MAX_MESSAGES: unacked clicks the UI accepts while the sidecar is away
ACCEPTED = re.compile(r"^Emitted buy (\S+) BTCUSDT — seq (\d+), ts \S+$")
REFUSED = re.compile(r"^Dropped buy (\S+) BTCUSDT.*\(outbox_full\)$")
UNACKED = "publisher_outbox_unacked_messages"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    require_binary("chromium")
    run = tmp_path_factory.mktemp("reliable-loop")
    reliable = f"tcp://127.0.0.1:{free_port()}"  # pinned: the restarted sidecar binds it again
    env = {"WEBAPP_DELIVERY": "reliable", "SIDECAR_RELIABLE_BIND": reliable, "WEBAPP_ZMQ_ADDR": reliable,
           "SIDECAR_STATE_DIR": str(run / "state"), "WEBAPP_OUTBOX_DIR": str(run / "outbox"),
           "WEBAPP_OUTBOX_MAX_MESSAGES": str(OUTBOX_MAX),
           # Resend promptly after the restart rather than after a long silent backoff.
           "WEBAPP_RELIABLE_MAX_BACKOFF_SECONDS": "1"}
    with launched_loop(run, "--no-prometheus", "--restart-on-failure", env=env) as info:
        yield info


@pytest.fixture
def page(stack: dict[str, Any]) -> Iterator[Any]:
    with chromium_page() as page:
        page.goto(stack["ui"])
        page.get_by_text("Sidecar connected").wait_for(timeout=30_000)
        yield page


def buys(stack: dict[str, Any]) -> tuple[float, float]:
    """(trades, volume) of buys the sidecar has counted."""
    metrics = scrape(stack["sidecar"] + "/metrics/")
    return (metrics.get(f'trades_total{{side="buy",symbol="{SYMBOL}"}}', 0.0),
            metrics.get(f'volume_total{{side="buy",symbol="{SYMBOL}"}}', 0.0))


def buy(page: Any, qty: int) -> str:
    """Click Buy with ``qty``; the notification of this very click."""
    before = notice_text(page)
    type_quantity(page, str(qty))
    click_side(page, "buy")
    return str(wait_until(lambda: (n := notice_text(page)) != before and f"buy {qty} " in n and n, 30,
                          message=f"notification of the buy {qty} click"))


def accepted(page: Any, qty: int) -> int:
    text = buy(page, qty)
    match = ACCEPTED.match(text)
    assert match and match.group(1) == str(qty), text
    return int(match.group(2))


def sidecar_pid(stack: dict[str, Any]) -> int:
    """The pid of the sidecar answering now (its /health says)."""
    return int(httpx.get(stack["sidecar"] + "/health", timeout=5).json()["pid"])


def test_every_accepted_click_is_counted_once_across_a_frozen_then_killed_sidecar(
        stack: dict[str, Any], page: Any) -> None:
    trades0, volume0 = buys(stack)
    qtys: list[int] = []
    seqs: list[int] = []

    # Up: accepted and counted.
    for qty in (1, 2):
        seqs.append(accepted(page, qty))
        qtys.append(qty)
    # Waits for the count to move by two, then asserts the exact pair: a failure shows the values.
    counted = wait_until(lambda: (b := buys(stack))[0] >= trades0 + 2 and b, 60, message="both clicks counted")
    assert counted == (trades0 + 2, volume0 + 3)
    shot(page, "reliable-01-up")

    # Frozen: still connected, never acking. The outbox accepts OUTBOX_MAX clicks, then refuses.
    pid = sidecar_pid(stack)
    os.kill(pid, signal.SIGSTOP)
    try:
        for qty in (3, 4, 5)[:OUTBOX_MAX]:
            seqs.append(accepted(page, qty))
            qtys.append(qty)
        refused = buy(page, 6)
        assert REFUSED.match(refused), refused
        assert exception_count(page) == 0
        page.locator(".st-key-status").get_by_text("trades dropped 1 (outbox_full 1)").wait_for(timeout=30_000)
        assert scrape(stack["ui_metrics"])[UNACKED] == OUTBOX_MAX
        shot(page, "reliable-02-frozen-outbox-full")
    finally:
        os.kill(pid, signal.SIGKILL)  # in that state: whatever it had received is not acked
    # The launcher restarts it on the same ports with the same state dir.
    wait_until(lambda: _restarted(stack, pid), 60, 0.2, message="the launcher restarted the sidecar")
    page.locator(".st-key-status").get_by_text("Sidecar connected").wait_for(timeout=30_000)
    seqs.append(accepted(page, 7))
    qtys.append(7)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # the refusal consumed no seq
    # The session's event log: newest first, each click with what the page said of it.
    rows = wait_until(lambda: (r := table_rows(page, "event_log")) and r[0]["seq"] == str(seqs[-1]) and r, 10,
                      message="the event log shows the last click")  # it may trail the notification
    log = [(r["seq"], r["qty"], r["status"]) for r in rows]
    assert log[:7] == [(str(seqs[5]), "7", "sent"), ("—", "6", "dropped: outbox_full"),
                       *((str(seq), str(qty), "sent") for seq, qty in reversed(list(zip(seqs[:5], qtys[:5],
                                                                                          strict=True))))]

    # Every accepted click exactly once: the outbox drains to 0, and the counts are exact.
    wait_until(lambda: scrape(stack["ui_metrics"])[UNACKED] == 0, 60, message="the UI's outbox drained")
    assert buys(stack) == (trades0 + len(qtys), volume0 + sum(qtys))
    assert scrape(stack["ui_metrics"])[
        'publisher_messages_dropped_total{reason="outbox_full",type="trade"}'] == 1
    shot(page, "reliable-03-restarted")


def _restarted(stack: dict[str, Any], old_pid: int) -> bool:
    try:
        return sidecar_pid(stack) != old_pid
    except httpx.HTTPError:  # not up yet
        return False
