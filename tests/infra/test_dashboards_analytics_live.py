"""The market-analytics dashboard's panels for the rolling volume, volatility,
drawdown, position and PnL show the exact values of the traffic the live stack
(tests/infra/test_dashboards_live.py, its own instance here) sent, evaluated
through a real Prometheus scraping the real sidecar; and where the value depends
on arrival order across two producers (an unpriced trade fills at the last
tick), it equals what the sidecar's own API reports."""

from __future__ import annotations

import math
from typing import Any

import httpx
import numpy as np
import pytest

from telemetry_testkit.dashboard_stack import Stack
from telemetry_testkit.grafana_model import iter_panels, load_dashboards, substitute
from telemetry_testkit.procs import wait_until

pytestmark = pytest.mark.prometheus
DASHBOARD = load_dashboards()["market-analytics.json"]
DEADLINE = 25.0


def panel_exprs(title: str) -> list[str]:
    panel = next(p for p in iter_panels(DASHBOARD) if p["title"] == title)
    values = {v["name"]: v["allValue"] for v in DASHBOARD["templating"]["list"]}
    return [substitute(t["expr"], values) for t in panel["targets"]]


def series(live: Stack, expr: str, *labels: str) -> dict[tuple[str, ...], float]:
    result = live.prom.query(expr)
    return {tuple(r["metric"].get(label, "") for label in labels): float(r["value"][1]) for r in result}


def shows(live: Stack, title: str, labels: tuple[str, ...], want: dict[tuple[str, ...], float],
          target: int = 0, keep: Any = lambda key: True) -> None:
    """The panel's target returns exactly ``want`` (for the series ``keep`` selects)."""
    expr = panel_exprs(title)[target]

    def matches() -> bool:
        got = {k: v for k, v in series(live, expr, *labels).items() if keep(k)}
        return got.keys() == want.keys() and all(
            (math.isnan(v) and math.isnan(want[k])) or v == pytest.approx(want[k], rel=1e-9, abs=1e-12)
            for k, v in got.items())

    wait_until(matches, DEADLINE, 0.25, f"{title}: {expr} == {want}")


def test_rolling_volume_and_trades_per_side(stack: Stack) -> None:
    # buy: publisher seed 1 + publisher BTCUSDT 0.5 + API seed 1; sell: publisher ETHUSDT 2 + API BTCUSDT 3
    five = ("side", "window")
    shows(stack, "Rolling volume", five, {("buy", "5m"): 2.5, ("sell", "5m"): 5.0}, keep=lambda k: k[1] == "5m")
    shows(stack, "Rolling trades", five, {("buy", "5m"): 3, ("sell", "5m"): 2}, keep=lambda k: k[1] == "5m")
    shows(stack, "Volume last 5m", ("side",), {("buy",): 2.5, ("sell",): 5.0})


def test_volatility_and_drawdown_per_symbol(stack: Stack) -> None:
    btc = [100.0, 101.0, 120.0]  # the stack's ticks, in order per symbol
    eth = [10.0, 10.1]
    shows(stack, "Volatility (std of log returns)", ("symbol", "window"),
          {("BTCUSDT", "ticks"): float(np.std(np.diff(np.log(btc)), ddof=1)),
           ("ETHUSDT", "ticks"): math.nan},  # one return: no standard deviation
          keep=lambda k: k[1] == "ticks")
    # Rising prices only: no drawdown in any window.
    shows(stack, "Max drawdown", ("symbol", "window"),
          {("BTCUSDT", "1m"): 0.0, ("BTCUSDT", "5m"): 0.0, ("ETHUSDT", "1m"): 0.0, ("ETHUSDT", "5m"): 0.0})
    sma: dict[tuple[str, ...], float] = {("BTCUSDT",): float(np.mean(btc)), ("ETHUSDT",): float(np.mean(eth))}
    shows(stack, "Price, SMA and VWAP", ("symbol",), sma, target=1)


def test_position_and_pnl(stack: Stack) -> None:
    # ETHUSDT: sell 2 @ 10, marked at its last tick 10.1.
    views = {s: httpx.get(f"{stack.sidecar.http}/symbols/{s}", timeout=5).json()["position"]
             for s in ("BTCUSDT", "ETHUSDT")}
    eth = views["ETHUSDT"]
    assert (eth["qty"], eth["avg_cost"], eth["realized_pnl"], eth["mark_price"], eth["trades"]) == (
        -2.0, 10.0, 0.0, 10.1, 1)
    assert eth["unrealized_pnl"] == eth["total_pnl"] == pytest.approx(-0.2, rel=1e-9)
    # BTCUSDT: buy 0.5 @ 100 (publisher), sell 3 unpriced (API): it fills at whatever BTCUSDT tick
    # the sidecar had applied, so the panels must agree with the sidecar's own view.
    btc = views["BTCUSDT"]
    assert btc["trades"] == 2 and btc["mark_price"] == 120.0
    shows(stack, "Position", ("symbol",), {("BTCUSDT",): btc["qty"], ("ETHUSDT",): -2.0})
    shows(stack, "Average cost", ("symbol",), {("BTCUSDT",): btc["avg_cost"], ("ETHUSDT",): 10.0})
    shows(stack, "PnL by symbol", ("symbol",), {("BTCUSDT",): btc["realized_pnl"], ("ETHUSDT",): 0.0})
    shows(stack, "PnL by symbol", ("symbol",), {("BTCUSDT",): btc["unrealized_pnl"], ("ETHUSDT",): -0.2}, target=1)
    shows(stack, "Total PnL", (), {(): btc["total_pnl"] + eth["total_pnl"]})
    if btc["unpriced_trades"] == 0:  # a BTCUSDT tick (100, 101 or 120) was there to fill the sell at
        fill = btc["avg_cost"]  # the sell closed the 0.5 long and opened a 2.5 short at the fill price
        assert fill in (100.0, 101.0, 120.0) and btc["qty"] == -2.5
        assert btc["realized_pnl"] == pytest.approx(0.5 * (fill - 100.0), abs=1e-12)
        assert btc["unrealized_pnl"] == pytest.approx(-2.5 * (120.0 - fill), abs=1e-12)
