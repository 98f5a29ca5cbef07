"""Parse Stooq-format price files (pure, no I/O beyond reading lines).

Stooq's CSV download (``https://stooq.com/q/d/l/?s=aapl.us&i=5``) has the header
``Date,Time,Open,High,Low,Close,Volume`` with ``2024-05-06,15:35:00,...``. The
bulk ``.txt`` files use ``<DATE>,<TIME>,...`` with ``20240506,153500``; daily
files have no Time column and some indices no Volume. All of these parse.
A bad row is counted by reason and skipped; its neighbours still replay.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# Skip reasons (fixed set, so they can be labels).
BAD_COLUMNS = "bad_columns"  # wrong number of fields
BAD_TIMESTAMP = "bad_timestamp"  # Date/Time unparseable
BAD_NUMBER = "bad_number"  # Close/Volume not a finite number
BAD_PRICE = "bad_price"  # Close <= 0
BAD_VOLUME = "bad_volume"  # Volume < 0
REASONS = (BAD_COLUMNS, BAD_TIMESTAMP, BAD_NUMBER, BAD_PRICE, BAD_VOLUME)


@dataclass(frozen=True, slots=True)
class Bar:
    symbol: str
    at: datetime  # as written in the file (naive: Stooq's exchange-local time)
    close: float
    volume: float
    row: int  # 1-based data row number in its file, for event ids and errors


class StooqFormatError(ValueError):
    """The file is not a Stooq price file at all (no usable header)."""


def symbol_from_path(path: str | Path) -> str:
    """``aapl.us.csv`` -> ``AAPL.US``; ``btcusd_5.txt`` -> ``BTCUSD_5`` (then cleaned)."""
    name = Path(path).name
    for suffix in (".csv", ".txt"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in name).upper()
    return cleaned.lstrip("._-")[:32] or "UNKNOWN"


def _norm(header: str) -> str:
    return header.strip().strip("<>").lower()


def parse_timestamp(date: str, clock: str | None) -> datetime:
    date = date.strip()
    day = datetime.strptime(date, "%Y%m%d" if date.isdigit() else "%Y-%m-%d")
    if clock is None or not clock.strip():
        return day
    clock = clock.strip()
    if clock.isdigit():
        clock = clock.zfill(6)
        t = datetime.strptime(clock, "%H%M%S")
    else:
        t = datetime.strptime(clock, "%H:%M:%S" if clock.count(":") == 2 else "%H:%M")
    return day.replace(hour=t.hour, minute=t.minute, second=t.second)


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


class Columns:
    """Where Date, Time, Close and Volume sit, from the header row."""

    def __init__(self, header: list[str]) -> None:
        names = [_norm(h) for h in header]
        if "date" not in names or "close" not in names:
            raise StooqFormatError(f"header {','.join(header)!r} has no Date and Close columns")
        self.width = len(names)
        self.date = names.index("date")
        self.time = names.index("time") if "time" in names else None
        self.close = names.index("close")
        vol = next((n for n in ("volume", "vol") if n in names), None)
        self.volume = names.index(vol) if vol else None


def parse_row(fields: list[str], cols: Columns, symbol: str, row: int) -> Bar | str:
    """One data row -> a Bar, or the reason it is skipped."""
    if len(fields) != cols.width:
        return BAD_COLUMNS
    try:
        at = parse_timestamp(fields[cols.date], None if cols.time is None else fields[cols.time])
    except ValueError:
        return BAD_TIMESTAMP
    try:
        close = _number(fields[cols.close])
        volume = 0.0 if cols.volume is None else _number(fields[cols.volume])
    except ValueError:
        return BAD_NUMBER
    if close <= 0:
        return BAD_PRICE
    if volume < 0:
        return BAD_VOLUME
    return Bar(symbol, at, close, volume, row)


def parse_lines(lines: Iterable[str], symbol: str) -> Iterator[Bar | str]:
    """Header first, then one Bar or skip reason per non-blank data row."""
    reader = csv.reader(lines)
    header = next((r for r in reader if any(f.strip() for f in r)), None)
    if header is None:
        raise StooqFormatError("empty file")
    cols = Columns(header)
    row = 0
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue
        row += 1
        yield parse_row(fields, cols, symbol, row)


def count_data_rows(path: str | Path) -> int:
    """Non-blank lines after the header: the progress display's total."""
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        return max(0, sum(1 for line in fh if line.strip()) - 1)
