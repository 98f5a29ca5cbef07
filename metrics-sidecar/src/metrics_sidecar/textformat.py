"""The Prometheus text format (0.0.4), written as strings straight from plain
data. prometheus_client's families build a ``Sample`` per series and then
validate, sort and escape every label of every sample at ``generate_latest``
time (~5 us a series). Here the families with a series per side, symbol,
source, producer or window are written by the compiled core in one call per
family (``Writer.series`` -> ``_core.write_column``, core/src/exposition_columns.rs):
the label values and the values go over as lists (or a float64 array), and no
Python runs per series. The few single-series families are one f-string each.

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

from ._core import write_column

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
    """Collects the exposition as a list of UTF-8 byte strings (the core writes bytes, and
    the body is sent as bytes); one ``join`` at the end."""

    __slots__ = ("openmetrics", "parts")

    def __init__(self, openmetrics: bool = False) -> None:
        self.parts: list[bytes] = []
        self.openmetrics = openmetrics

    def family(self, name: str, kind: str, doc: str) -> None:
        """The HELP and TYPE lines. ``name`` is the full name (counters end in ``_total``)."""
        if self.openmetrics and kind == "counter":
            # OpenMetrics names the family without the suffix its samples carry.
            name, kind = (name[:-6], kind) if name.endswith("_total") else (name, "unknown")
        self.parts.append(f"# HELP {name} {escape_help(doc)}\n# TYPE {name} {kind}\n".encode())

    def sample(self, name: str, label_text: str, value: float) -> None:
        """One series; ``label_text`` from ``labels()`` (or "")."""
        self.parts.append(f"{name}{label_text} {fmt(value)}\n".encode())

    def series(self, name: str, label_columns: Sequence[LabelColumn], values: object) -> None:
        """One series per value: ``values`` a list of numbers or a float64 array; the labels
        of series i are each column's value i (or its one value), written in name order and
        escaped (``escape_label``), the values as ``fmt``. One core call per family; the
        bytes are those of ``sample(name, labels(pairs_i), value_i)`` for every i
        (tests/test_exposition_columns.py holds them to it)."""
        self.parts.append(write_column(name, list(label_columns), values))

    def raw(self, text: str) -> None:
        """Families already written in this format (the core's hop families)."""
        self.parts.append(text.encode())

    def body(self) -> bytes:
        return b"".join(self.parts)

    def text(self) -> str:
        return self.body().decode()
