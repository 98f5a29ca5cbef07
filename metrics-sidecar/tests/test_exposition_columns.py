"""The core's per-series writer (``Writer.series`` -> ``_core.write_column``,
core/src/exposition_columns.rs) against the Python writer it replaced, kept here as
the reference: ``sample(name, labels(pairs), value)`` per series (textformat.py's
``labels``/``fmt``, byte-identical to prometheus_client's ``generate_latest``,
test_textformat.py). Same bytes for hypothesis-generated families (label values
needing escaping, any float, ints) and for whole sidecar states: every per-series
family of ``write_state`` and of the analytics."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metrics_sidecar import read_model
from metrics_sidecar.analytics.table import symbol_columns
from metrics_sidecar.analytics_exposition import write_analytics
from metrics_sidecar.decode import Tick, Trade
from metrics_sidecar.exposition import write_state
from metrics_sidecar.settings import Settings
from metrics_sidecar.state import SymbolTicks, TelemetryState
from metrics_sidecar.textformat import LabelColumn, Writer, fmt, labels

# Label values: any text the body can carry (UTF-8: no lone surrogates), with the three
# characters the format escapes made likely.
label_values = st.text(alphabet=st.sampled_from('ab\\"\n\tZ.é_-0 {}=,') | st.characters(codec="utf-8"),
                       max_size=12)
values = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**62), 2**62)
label_names = st.sampled_from(["side", "symbol", "source", "producer", "window", "kind", "type", "a_b"])


def reference(name: str, columns: Sequence[LabelColumn], row_values: Sequence[float]) -> str:
    """The Python writer: one f-string per series, labels sorted by ``labels()``."""
    out = Writer()
    for i, value in enumerate(row_values):
        pairs = [(label, column if isinstance(column, str) else column[i]) for label, column in columns]
        out.sample(name, labels(pairs), value)
    return out.text()


@st.composite
def families(draw: st.DrawFn) -> tuple[list[LabelColumn], list[float]]:
    rows = draw(st.lists(values, max_size=8))
    names = draw(st.lists(label_names, unique=True, max_size=3))
    columns: list[LabelColumn] = [
        (label, draw(label_values) if draw(st.booleans())
         else draw(st.lists(label_values, min_size=len(rows), max_size=len(rows))))
        for label in names]
    return columns, rows


@settings(deadline=None)  # no timing: a loaded machine must not fail a byte comparison
@given(families())
def test_series_bytes_equal_the_python_writer(family: tuple[list[LabelColumn], list[float]]) -> None:
    columns, rows = family
    out = Writer()
    out.series("x_total", columns, rows)
    assert out.text() == reference("x_total", columns, rows)


@settings(deadline=None)
@given(st.lists(st.floats(), max_size=20))
def test_a_float64_array_writes_as_its_list(rows: list[float]) -> None:
    out = Writer()
    out.series("g", [("symbol", [str(i) for i in range(len(rows))])], np.array(rows, dtype=np.float64))
    assert out.text() == reference("g", [("symbol", [str(i) for i in range(len(rows))])], rows)
    assert out.text().count("\n") == len(rows)
    assert all(line.endswith(" " + fmt(v)) for line, v in zip(out.text().splitlines(), rows, strict=True))


def test_a_label_column_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="label symbol has 1 values for 2 samples"):
        Writer().series("x", [("symbol", ["a"])], [1.0, 2.0])


def test_a_label_value_utf8_cannot_carry_is_refused_as_before() -> None:
    """A lone surrogate: the old writer's ``render`` failed at ``.encode()``; the core refuses it
    at the family (the wire's patterns never let one through)."""
    with pytest.raises(UnicodeEncodeError):
        Writer().series("x", [("symbol", ["\ud800"])], [1.0])


Rows = dict[str, list[tuple[Sequence[tuple[str, str]], float]]]


def reference_state(state: TelemetryState, now: float) -> dict[str, str]:
    """The per-series families of ``write_state`` by the reference writer, from the state's attributes."""
    trades = list(state.trades.items())
    stats = list(state.producers.stats.items())
    symbols = list(state.symbols.items())
    overflow = {**state.series_overflow, "producer": state.producers.overflowed}
    ticks = [(("source", source), ("symbol", name)) for name, s in symbols for source in s.by_source]
    rows: Rows = {
        "trades_total": [((("side", side), ("symbol", sym)), row[0]) for (side, sym), row in trades],
        "volume_total": [((("side", side), ("symbol", sym)), row[1]) for (side, sym), row in trades],
        "messages_received_total": [((("type", k),), n) for k, n in state.received.items()],
        "messages_invalid_total": [((("reason", k),), n) for k, n in state.invalid.items()],
        "series_overflow_total": [((("kind", k),), n) for k, n in overflow.items()],
        "messages_lost_total": [((("producer", p),), s.lost) for p, s in stats],
        "producer_restarts_total": [((("producer", p),), s.restarts) for p, s in stats],
        "producer_last_seen_seconds": [((("producer", p),), s.last_seen) for p, s in stats],
        "producer_up": [((("producer", p),), 1.0 if state.producer_up(s.last_seen, now) else 0.0) for p, s in stats],
        "ticks_total": [(pairs, state.symbols[pairs[1][1]].by_source[pairs[0][1]]) for pairs in ticks],
        "tick_last_price": [((("symbol", n),), s.last_price) for n, s in symbols if s.last_ts],
        "tick_last_ts_seconds": [((("symbol", n),), s.last_ts) for n, s in symbols if s.last_ts],
        "tick_spikes_total": [((("symbol", n),), s.spikes) for n, s in symbols],
        "ticks_out_of_order_total": [((("symbol", n),), s.out_of_order) for n, s in symbols],
    }
    return {name: "".join(f"{name}{labels(pairs)} {fmt(v)}\n" for pairs, v in series)
            for name, series in rows.items()}


def family_lines(text: str, name: str) -> str:
    """The sample lines of family ``name`` (its own name, followed by ``{`` or a space)."""
    # split on "\n" only: a label value may hold "\r" or other line breaks the format keeps as they are
    return "".join(line + "\n" for line in text.split("\n")
                   if line.startswith((name + "{", name + " ")))


counts = st.integers(0, 2**53) | st.floats(0, 1e15)
stamps = st.floats(0, 2e9) | st.just(0.0)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(trades=st.dictionaries(st.tuples(st.sampled_from(["buy", "sell"]), label_values),
                              st.tuples(counts, counts), max_size=6),
       symbols=st.dictionaries(label_values, st.tuples(st.floats(0, 1e12), stamps, st.integers(0, 2**40),
                                                       st.integers(0, 2**40),
                                                       st.dictionaries(label_values, st.integers(0, 2**40),
                                                                       max_size=3)), max_size=6),
       producers=st.dictionaries(label_values, st.tuples(st.integers(0, 2**40), stamps, st.integers(0, 99)),
                                 max_size=4),
       overflow=st.tuples(st.integers(0, 2**40), st.integers(0, 2**40), st.integers(0, 2**40)))
def test_write_state_equals_the_python_writer_over_generated_states(
        trades: dict[tuple[str, str], tuple[float, float]],
        symbols: dict[str, tuple[float, float, int, int, dict[str, int]]],
        producers: dict[str, tuple[int, float, int]], overflow: tuple[int, int, int]) -> None:
    state = TelemetryState(Settings())
    state.trades = {key: [float(n), float(v)] for key, (n, v) in trades.items()}
    state.symbols = {name: SymbolTicks(last_price=p, last_ts=ts, spikes=sp, out_of_order=oo, by_source=dict(src))
                     for name, (p, ts, sp, oo, src) in symbols.items()}
    for name, (lost, seen, restarts) in producers.items():  # (lost, received, last_seen, instances, restarts)
        state.producers.set_counts(name, (lost, 0, seen, 0, restarts))
    state.series_overflow.update(zip(("symbol", "producer", "source"), overflow, strict=True))
    state.producers.overflowed = overflow[1]
    now = time.time()
    out = Writer()
    write_state(state, out, now)
    text = out.text()
    for name, expected in reference_state(state, now).items():
        assert family_lines(text, name) == expected, name


EDGE_FLOATS = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e-7, 5e-324, 1e16, 2.0**53 + 2, 1.7976931348623157e308]
EDGE_INTS = [0, 1, 2**53 - 1, 2**53 + 1, 2**63 - 1, 2**64 - 1]


def test_the_core_tables_write_edge_values_as_python_fmt() -> None:
    """``Writer.table`` (the state's tables formatted by the core) against the Python
    writer on the values its floats and counts can take at the edges: NaN, +-Inf, -0.0,
    1e-7, subnormals, and counts past 2**53 (written as ``float(int)``)."""
    state = TelemetryState(Settings())
    state.trades = {(side, f"s{i}"): [n, v] for i, (n, v) in enumerate(zip(EDGE_INTS * 2, EDGE_FLOATS,
                                                                                  strict=False))
                    for side in ("buy", "sell")}
    state.symbols = {f"y{i}": SymbolTicks(last_price=p, last_ts=ts, spikes=EDGE_INTS[i % len(EDGE_INTS)],
                                          out_of_order=EDGE_INTS[-1 - i % len(EDGE_INTS)],
                                          by_source={"a": EDGE_INTS[i % len(EDGE_INTS)], "b": 2**64 - 1})
                     for i, (p, ts) in enumerate(zip(EDGE_FLOATS, reversed(EDGE_FLOATS), strict=True))}
    now = time.time()
    out = Writer()
    write_state(state, out, now)
    text = out.text()
    for name, expected in reference_state(state, now).items():
        assert family_lines(text, name) == expected, name
    assert 'volume_total{side="buy",symbol="s3"} -0.0\n' in text
    assert 'trades_total{side="buy",symbol="s3"} 9007199254740992.0\n' in text  # float(2**53 + 1)
    assert 'ticks_total{source="b",symbol="y0"} 1.8446744073709552e+19\n' in text
    assert 'tick_last_price{symbol="y1"} +Inf\n' in text
    priced = family_lines(text, "tick_last_price")
    assert 'symbol="y5"}' not in priced and 'symbol="y6"}' not in priced  # last_ts 0.0, -0.0: no tick time
    assert 'tick_last_ts_seconds{symbol="y0"} 1.7976931348623157e+308\n' in text


def test_an_unknown_table_column_is_refused() -> None:
    tables = read_model.state_copy(TelemetryState(Settings()), False, time.time()).tables
    with pytest.raises(ValueError, match="no such table column"):
        Writer().table("x", tables, "nope")


def reference_analytics(state: TelemetryState, now: float) -> dict[str, str]:
    """The analytics' per-symbol families by the reference writer, from the same columns."""
    assert state.analytics is not None
    columns, positions = symbol_columns(read_model.analytics_columns(state), state.analytics.windows, now)
    rows: Rows = {}

    def add(name: str, window: str | None, column: npt.NDArray[np.float64]) -> None:
        rows.setdefault(name, []).extend(
            ((("symbol", s), ("window", window)) if window else (("symbol", s),), v)
            for s, v in zip(columns.symbols, column.tolist(), strict=True))

    add("symbol_sma_price", None, columns.sma)
    add("symbol_vwap_price", "session", columns.vwap_session)
    for label, w in columns.windows.items():
        add("symbol_vwap_price", label, w.vwap)
    add("symbol_volatility", "ticks", columns.volatility_ticks)
    for label, w in columns.windows.items():
        add("symbol_volatility", label, w.volatility)
    for name, field in (("symbol_volatility_annualised", "volatility_annualised"),
                        ("symbol_max_drawdown_ratio", "max_drawdown"), ("symbol_ticks_per_second", "tick_rate")):
        for label, w in columns.windows.items():
            add(name, label, getattr(w, field))
    for name, field in (("position_quantity", "qty"), ("position_average_cost", "avg_cost"),
                        ("pnl_realized", "realized"), ("pnl_unrealized", "unrealized")):
        rows[name] = [((("symbol", p.symbol),), getattr(p, field)) for p in positions]
    return {name: "".join(f"{name}{labels(pairs)} {fmt(v)}\n" for pairs, v in series)
            for name, series in rows.items()}


@settings(max_examples=10, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["AAPL", "B.US", "c-1", "D_2"]), st.floats(0.01, 1e6), st.floats(0, 1e6),
                          st.sampled_from(["a", "b"]), st.booleans()), min_size=1, max_size=40))
def test_a_fed_state_renders_every_per_series_family_as_the_python_writer(
        events: list[tuple[str, float, float, str, bool]]) -> None:
    """A state fed real events (trades both sides, ticks from two sources, analytics on):
    every per-series family of write_state and of the analytics as the reference writes it."""
    state = TelemetryState(Settings.model_validate({"analytics": True}))
    now = time.time()
    with state.lock:
        for i, (symbol, price, qty, source, buy) in enumerate(events):
            for event in (Trade(side="buy" if buy else "sell", qty=qty, ts=now, symbol=symbol, price=price),
                          Tick(symbol=symbol, price=price, ts=now + i * 0.01, volume=qty, source=source)):
                event.ts_s = event.ts  # type: ignore[assignment]
                event.recv_ts = now + 0.5
                state.apply(event)
        state.end_batch()
    out = Writer()
    write_state(state, out, now + 1)
    write_analytics(state, out, now + 1)
    text = out.text()
    expected = {**reference_state(state, now + 1), **reference_analytics(state, now + 1)}
    for name, lines in expected.items():
        assert family_lines(text, name) == lines, name
    assert family_lines(text, "symbol_vwap_price").count("\n") == len({e[0] for e in events}) * (
        1 + len(state.analytics.windows if state.analytics else ()))
