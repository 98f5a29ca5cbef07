"""The Prometheus text format (0.0.4), written as strings straight from plain
data. prometheus_client's families build a ``Sample`` per series and then
validate, sort and escape every label of every sample at ``generate_latest``
time (~5 us a series); here a series is one f-string (~0.3 us), so a scrape of
27,000 series stays in the tens of milliseconds.

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

from collections.abc import Iterable

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
    """Collects the exposition as a list of strings; one ``join`` at the end."""

    __slots__ = ("openmetrics", "parts")

    def __init__(self, openmetrics: bool = False) -> None:
        self.parts: list[str] = []
        self.openmetrics = openmetrics

    def family(self, name: str, kind: str, doc: str) -> None:
        """The HELP and TYPE lines. ``name`` is the full name (counters end in ``_total``)."""
        if self.openmetrics and kind == "counter":
            # OpenMetrics names the family without the suffix its samples carry.
            name, kind = (name[:-6], kind) if name.endswith("_total") else (name, "unknown")
        self.parts.append(f"# HELP {name} {escape_help(doc)}\n# TYPE {name} {kind}\n")

    def sample(self, name: str, label_text: str, value: float) -> None:
        """One series; ``label_text`` from ``labels()`` (or "")."""
        self.parts.append(f"{name}{label_text} {fmt(value)}\n")

    def column(self, name: str, label_texts: list[str], values: Iterable[float]) -> None:
        """One series per (label text, value): the bulk path for per-symbol columns."""
        self.parts.extend([f"{name}{lt} {fmt(v)}\n" for lt, v in zip(label_texts, values, strict=True)])

    def raw(self, text: str) -> None:
        """Families already written in this format (the core's hop families)."""
        self.parts.append(text)

    def text(self) -> str:
        return "".join(self.parts)
