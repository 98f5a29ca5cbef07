"""The Prometheus text format (0.0.4), written from plain data into one buffer.
prometheus_client's families build a ``Sample`` per series and then validate,
sort and escape every label of every sample at ``generate_latest`` time (~5 us a
series). Here the body is one buffer in the compiled core (``_core.TextBuffer``,
core/src/py_exposition.rs), and the families with a series per side, symbol,
source, producer or window are written into it by the core in one call per
family: from columns (``Writer.series``: label values as lists, values as a list
or a float64 array) or from the state's tables copied by the core
(``Writer.table``: trades, ticks per source, per-symbol tick stats). No Python
runs per series, and no string is made per series or per family: ``body`` is
the one bytes copy. The few single-series families are one f-string each.

Output is what ``generate_latest`` writes for the same families: counters named
``*_total``, labels in name order, values as Python ``repr`` (``+Inf``, ``-Inf``,
``NaN`` for the specials). Label values from the wire are validated by pattern
at decode time; they are escaped here anyway, so no input can break a line.

``Writer(openmetrics=True)`` writes OpenMetrics 1.0 instead (served when the
scraper asks for it): counter families are named without ``_total``, and the
caller ends the body with ``# EOF``. The histogram families (hop latency, with
their exemplars) are written by the compiled core in the same format
(``core/src/text.rs``) and added with ``raw``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ._core import StateTables, TextBuffer

# A label of ``Writer.series``: its name, and one value for every series or a value per series.
LabelColumn = tuple[str, str | Sequence[str]]

_SPECIAL = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}


def fmt(value: float) -> str:
    """A sample value: ``repr`` of the float, Prometheus spellings for the specials."""
    text = repr(float(value))
    return _SPECIAL.get(text, text)


def escape_label(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def labels(pairs: Iterable[tuple[str, str]]) -> str:
    """``{a="x",b="y"}`` with names in order (as ``generate_latest`` sorts them); "" for none."""
    body = ",".join(f'{name}="{escape_label(value)}"' for name, value in sorted(pairs))
    return f"{{{body}}}" if body else ""


class Writer:
    """Collects the exposition in one core buffer (UTF-8); ``body`` is one copy of it.
    ``capacity``: bytes reserved at once (a scrape passes its previous body's size: the
    buffer is not grown by doubling, a copy and fresh pages each time; at 1,000 symbols
    that growth cost ~1,000 page faults, ~3 ms, per scrape)."""

    __slots__ = ("_buffer", "openmetrics")

    def __init__(self, openmetrics: bool = False, capacity: int = 0) -> None:
        self._buffer = TextBuffer(capacity)
        self.openmetrics = openmetrics

    def family(self, name: str, kind: str, doc: str) -> None:
        """The HELP and TYPE lines. ``name`` is the full name (counters end in ``_total``)."""
        if self.openmetrics and kind == "counter":
            # OpenMetrics names the family without the suffix its samples carry.
            name, kind = (name[:-6], kind) if name.endswith("_total") else (name, "unknown")
        self._buffer.raw(f"# HELP {name} {escape_help(doc)}\n# TYPE {name} {kind}\n")

    def sample(self, name: str, label_text: str, value: float) -> None:
        """One series; ``label_text`` from ``labels()`` (or "")."""
        self._buffer.raw(f"{name}{label_text} {fmt(value)}\n")

    def series(self, name: str, label_columns: Sequence[LabelColumn], values: object) -> None:
        """One series per value: ``values`` a list of numbers or a float64 array; the labels
        of series i are each column's value i (or its one value), written in name order and
        escaped (``escape_label``), the values as ``fmt``. One core call per family; the
        bytes are those of ``sample(name, labels(pairs_i), value_i)`` for every i
        (tests/test_exposition_columns.py holds them to it)."""
        self._buffer.series(name, list(label_columns), values)

    def table(self, name: str, tables: StateTables, column: str) -> None:
        """The series of one column of the state's tables (``_core.StateTables``, copied
        by read_model.state_copy), named ``name``: "trade_count"/"trade_volume"
        ({side, symbol}), "source_ticks" ({source, symbol}), "last_price"/"last_ts" (symbols
        with a tick time), "spikes"/"out_of_order" ({symbol}). Rows in the tables' order;
        the bytes ``sample`` would write for each (test_exposition_columns.py)."""
        self._buffer.table(tables, column, name)

    def raw(self, text: str | bytes) -> None:
        """Text already in this format (the core's hop families; prometheus_client's bytes)."""
        self._buffer.raw(text)

    def body(self) -> bytes:
        return self._buffer.body()

    def text(self) -> str:
        return self.body().decode()
