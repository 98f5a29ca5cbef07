"""Issue 18's apply rules, one pure rule at a time (the end-to-end versions are in
tests/e2e/test_hostile_wire.py): future timestamps, overflow never half-applied,
event-id dedup per producer, and a dedup drop that is never also loss."""

from __future__ import annotations

import copy
import math

import pytest

from metrics_sidecar import reasons
from metrics_sidecar.decode import Heartbeat, Tick, Trade
from metrics_sidecar.dedup import RecentIds
from metrics_sidecar.histogram import DEFAULT_BUCKETS, HOPS, MESSAGE_TYPES
from metrics_sidecar.ratelimit import RateLimitedLogger
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState

NOW = 1_700_000_000.0


def trade(qty: float = 1.0, ts: float = NOW, recv: float = NOW, **fields: object) -> Trade:
    event = Trade(side="buy", qty=qty, ts=ts, **fields)  # type: ignore[arg-type]
    event.ts_s, event.recv_ts = ts, recv
    return event


def tick(price: float, ts: float, recv: float = NOW) -> Tick:
    event = Tick(symbol="BTC", price=price, ts=ts)
    event.ts_s, event.recv_ts = ts, recv
    return event


def test_a_timestamp_more_than_max_future_ahead_is_refused_and_moves_nothing(state: TelemetryState) -> None:
    assert state.settings.max_future_seconds == 5.0
    assert state.apply(tick(100.0, NOW)) is None
    assert state.apply(tick(200.0, NOW + 5.001)) == reasons.FUTURE_TIMESTAMP
    assert state.apply(trade(ts=NOW, sent_ts=NOW + 6.0, producer="p", seq=1)) == reasons.FUTURE_TIMESTAMP
    hb = Heartbeat(ts=NOW + 3600)
    hb.ts_s, hb.recv_ts = NOW + 3600, NOW
    assert state.apply(hb) == reasons.FUTURE_TIMESTAMP
    assert state.invalid[reasons.FUTURE_TIMESTAMP] == 3
    assert state.symbols["BTC"].last_price == 100.0
    assert "p" not in state.producers.stats  # a refused message moves no seq
    assert state.apply(tick(101.0, NOW + 1.0, recv=NOW + 1.0)) is None  # the next correct tick is applied
    assert state.symbols["BTC"].last_price == 101.0 and state.symbols["BTC"].out_of_order == 0
    assert state.apply(tick(102.0, NOW + 6.0, recv=NOW + 1.0)) is None  # exactly at the limit: accepted


def test_the_future_limit_follows_the_setting() -> None:
    state = TelemetryState(Settings(max_future_seconds=60))
    assert state.apply(tick(1.0, NOW + 59.0)) is None
    assert state.apply(tick(1.0, NOW + 61.0)) == reasons.FUTURE_TIMESTAMP


def _observable(state: TelemetryState) -> object:
    return copy.deepcopy((state.trades, state.received, state.duplicates, state.last_trade_ts,
                          [state.latency.histogram(hop, kind) for hop in HOPS for kind in MESSAGE_TYPES],
                          [state.latency.native(hop, kind) for hop in HOPS for kind in MESSAGE_TYPES],
                          [state.latency.negative(kind) for kind in MESSAGE_TYPES],
                          state.latency.trade_latency(), len(state.recent_events),
                          {k: (s.received, s.lost) for k, s in state.producers.stats.items()}, len(state._dedup)))


def test_an_apply_that_would_overflow_a_sum_is_refused_whole(state: TelemetryState) -> None:
    # The decoder bounds qty to 1e15; an event built past it (as a future decoder bug
    # or a restored pre-bounds state could give) must still never make volume +Inf.
    assert state.apply(trade(qty=1e308, symbol="X")) is None
    before = _observable(state)
    assert state.apply(trade(qty=1e308, symbol="X", producer="p", seq=1, event_id="e1")) == reasons.OVERFLOW
    assert _observable(state) == before  # nothing of it applied: no seq, no id, no count, no latency
    assert state.invalid[reasons.OVERFLOW] == 1
    assert math.isfinite(state.trades["buy", "X"][1])
    assert state.apply(trade(qty=1.0, symbol="X", producer="p", seq=1, event_id="e1")) is None  # id still free


def test_a_latency_sum_that_would_overflow_refuses_the_message(state: TelemetryState) -> None:
    # e.g. restored from a pre-bounds snapshot
    assert state.latency.core.restore_histogram(HOPS.index("event_to_apply"), MESSAGE_TYPES.index("heartbeat"),
                                                [0] * (len(DEFAULT_BUCKETS) + 1), math.inf, 0)
    hb = Heartbeat(ts=NOW)
    hb.ts_s, hb.recv_ts = NOW, NOW
    assert state.apply(hb) == reasons.OVERFLOW
    assert state.received["heartbeat"] == 0
    assert state.apply(trade()) is None  # other message types keep flowing
    # trade_latency_seconds takes trades only
    assert state.latency.core.restore_trade_latency([0] * (len(DEFAULT_BUCKETS) + 1), math.inf, 0)
    assert state.apply(trade()) == reasons.OVERFLOW
    tick_ = tick(1.0, NOW)
    assert state.apply(tick_) is None
    assert (state.invalid[reasons.OVERFLOW], state.received["trade"], state.received["tick"]) == (2, 1, 1)


def test_event_id_dedup_is_per_producer(state: TelemetryState) -> None:
    assert state.apply(trade(producer="a", event_id="x1")) is None
    assert state.apply(trade(producer="b", event_id="x1")) is None  # B's trade is not A's duplicate
    assert state.apply(trade(event_id="x1")) is None  # nor is one without a producer
    assert state.apply(trade(producer="a", event_id="x1")) is None
    assert (state.trades["buy", ""][0], state.duplicates) == (3, 1)
    # A producer name never holds a space and is never empty: no two (producer, id) pairs share a key.
    window = RecentIds(4)
    assert not window.seen_before(None, "a b") and not window.seen_before("a", "b")
    assert window.seen_before(None, "a b") and window.seen_before("a", "b")
    assert window.keys() == [" a b", "a b"] and len(window) == 2


def test_a_dedup_drop_is_a_duplicate_and_never_also_loss(state: TelemetryState) -> None:
    for seq, event_id in ((1, "e1"), (2, "e1"), (3, "e3"), (4, "e4")):  # seq 2 repeats e1's id
        state.apply(trade(producer="p", instance="i", seq=seq, event_id=event_id))
    stats = state.producers.stats["p"]
    assert (state.duplicates, stats.lost, stats.received, state.trades["buy", ""][0]) == (1, 0, 3, 3)


def test_a_producer_without_instance_that_restarts_is_counted_not_dropped(state: TelemetryState) -> None:
    for seq in (1, 2, 3, 4, 5, 1, 2, 3):  # restarted after 5, no instance on the wire
        assert state.apply(trade(producer="p", seq=seq)) is None
    stats = state.producers.stats["p"]
    assert (state.trades["buy", ""][0], stats.restarts, stats.lost, state.duplicates) == (8, 1, 0, 0)


def test_the_rate_limited_logger_bounds_exceptions_too(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    limited = RateLimitedLogger(logging.getLogger("test.ratelimit"), 3)
    with caplog.at_level(logging.WARNING, "test.ratelimit"):
        for _ in range(50):
            try:
                raise ValueError("boom")
            except ValueError:
                limited.exception("failed")
            limited.warning("bad")
    assert len(caplog.records) == 3 and limited.suppressed == 97
    assert caplog.records[0].exc_info is not None


def test_the_loss_counter_saturates_at_int64(state: TelemetryState) -> None:
    from metrics_sidecar.producers import LOST_MAX

    state.apply(trade(producer="p", instance="i", seq=1))
    state.producers.stats["p"].lost = LOST_MAX - 5
    state.apply(trade(producer="p", instance="i", seq=1000))
    assert state.producers.stats["p"].lost == LOST_MAX  # still what the journal and snapshot can hold
