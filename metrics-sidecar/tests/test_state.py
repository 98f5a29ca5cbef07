"""State semantics, table-driven: dedup, seq loss, spikes, out-of-order, stale, caps."""

from __future__ import annotations

import time

import pytest

from metrics_sidecar import reasons
from metrics_sidecar.decode import Tick, Trade, decode
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import TelemetryState


def feed(state: TelemetryState, raw: bytes, recv: float | None = None) -> str | None:
    event = decode(raw)
    if isinstance(event, str):
        state.reject(event)
        return event
    event.recv_ts = time.time() if recv is None else recv
    return state.apply(event)


def tick(symbol: str, price: float, ts: float, **extra: object) -> bytes:
    fields = "".join(f',"{k}":{v!r}'.replace("'", '"') for k, v in extra.items())
    return f'{{"type":"tick","symbol":"{symbol}","price":{price},"ts":{ts}{fields}}}'.encode()


def test_seed_trades_aggregate_by_side_with_empty_symbol(state: TelemetryState) -> None:
    for qty in (1, 2.5, 0):
        feed(state, b'{"type":"trade","side":"buy","qty":%r,"ts":1700000000.5}' % qty)
    feed(state, b'{"type":"trade","side":"sell","qty":4,"ts":1700000001.0}')
    assert state.trades == {("buy", ""): [3, 3.5], ("sell", ""): [1, 4.0]}
    assert state.last_trade_ts == 1700000001.0
    assert state.latency.trade_latency().count == 4


@pytest.mark.parametrize(("seqs", "lost", "dups", "restarts"), [
    ([1, 2, 3], 0, 0, 0),
    ([1, 3, 4], 1, 0, 0),
    ([5, 10], 4, 0, 0),
    ([1, 2, 2, 3], 0, 1, 0),
    ([3, 2], 0, 1, 0),
    ([3, 1], 0, 0, 1),  # back to 1: the producer restarted without a new instance
    ([5, 0, 1, 2], 0, 0, 1),
    ([2000, 999], 0, 0, 1),  # more than 1000 behind: a reset, not a resend
    ([2000, 1000], 0, 1, 0),  # exactly 1000 behind: still a resend
    ([1, 2**32 + 1], 2**32 - 1, 0, 0),  # the largest gap that is loss
    ([1, 2**32 + 2], 0, 0, 1),  # further ahead: a reset, not 4 billion lost messages
    ([0, 2**32, 1, 2**32 + 1, 2, 2**32 + 2], 3 * (2**32 - 1), 0, 2),  # loss only grows by what one gap can hold
])
def test_seq_gaps_are_loss_repeats_are_duplicates_and_going_back_to_the_start_is_a_restart(
        state: TelemetryState, seqs: list[int], lost: int, dups: int, restarts: int) -> None:
    for seq in seqs:
        feed(state, b'{"type":"heartbeat","ts":%f,"producer":"p","instance":"i1","seq":%d}' % (time.time(), seq))
    assert state.producers.stats["p"].lost == lost
    assert state.duplicates == dups
    assert state.producers.stats["p"].restarts == restarts
    assert state.received["heartbeat"] == len(seqs) - dups


def test_a_new_instance_is_a_restart_not_loss(state: TelemetryState) -> None:
    now = time.time()
    for instance, seq in (("a", 1), ("a", 2), ("b", 1), ("b", 2), ("a", 3)):
        feed(state, b'{"type":"heartbeat","ts":%f,"producer":"p","instance":"%s","seq":%d}'
             % (now, instance.encode(), seq))
    assert state.producers.stats["p"].lost == 0
    assert state.producers.stats["p"].instances_seen == 2


def test_duplicate_event_id_counted_once(state: TelemetryState) -> None:
    raw = b'{"type":"trade","side":"buy","qty":1,"ts":1700000000,"event_id":"x-1"}'
    for _ in range(3):
        feed(state, raw)
    assert state.trades[("buy", "")] == [1, 1.0]
    assert state.duplicates == 2


def test_spike_out_of_order_and_stale(state: TelemetryState) -> None:
    now = time.time()
    assert feed(state, tick("BTC", 100.0, now - 3)) is None
    assert feed(state, tick("BTC", 105.0, now - 2)) is None  # 5 %: not a spike
    assert feed(state, tick("BTC", 120.0, now - 1)) is None  # 14 %: spike, accepted
    assert feed(state, tick("BTC", 90.0, now - 5)) is None  # older than last: out of order
    assert feed(state, tick("BTC", 100.0, now - 61)) == reasons.STALE
    sym = state.symbols["BTC"]
    assert (sym.spikes, sym.out_of_order, sym.last_price, sym.by_source) == (1, 1, 120.0, {"unknown": 4})
    assert state.invalid[reasons.STALE] == 1
    assert state.received["tick"] == 4


def test_symbol_cap_sends_the_rest_to_overflow() -> None:
    state = TelemetryState(Settings(max_symbols=3))
    now = time.time()
    for i in range(10):
        feed(state, tick(f"S{i}", 1.0, now))
    assert sorted(state.symbols) == ["S0", "S1", "S2", "__overflow__"]
    assert state.series_overflow["symbol"] == 7
    assert state.symbols["__overflow__"].by_source == {"unknown": 7}


def test_hops_are_measured_per_type(state: TelemetryState) -> None:
    now = time.time()
    feed(state, b'{"type":"trade","side":"buy","qty":1,"ts":%f,"sent_ts":%f}' % (now - 0.050, now - 0.010), now)
    assert state.latency.histogram("event_to_send", "trade").sum == pytest.approx(0.040, abs=1e-6)
    assert state.latency.histogram("send_to_receive", "trade").sum == pytest.approx(0.010, abs=1e-6)
    assert state.latency.histogram("event_to_apply", "trade").count == 1
    assert state.latency.histogram("event_to_send", "tick").count == 0


def test_recent_is_newest_first_and_bounded() -> None:
    state = TelemetryState(Settings(events_buffer=3))
    for i in range(5):
        feed(state, b'{"type":"trade","side":"buy","qty":%d,"ts":1700000000}' % i)
    recent = state.recent(10)
    assert [e.qty for e in recent if isinstance(e, Trade)] == [4, 3, 2]
    assert all(not isinstance(e, Tick) for e in recent)
