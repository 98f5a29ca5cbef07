"""Pending ticks folded into their series in one vectorized step, across symbols.

The engine's per-tick work is a few list appends (series id, ts, price, volume);
everything else a tick changes -- its second's window row, log return, drawdown,
history row, bars and session sums -- is computed here, with numpy over the whole
batch (every symbol at once), when the batch reaches its bound or before anyone
reads. Per series there remains a constant amount of Python (write the history
block, append the finished rows, set the new current row), so the cost per tick
falls as batches grow. Small batches go through ``TickSeries.add`` tick by tick:
the same result, without numpy's fixed cost.

The result equals ``TickSeries.add`` applied to each tick in order (the tests
compare both) up to the order of float additions inside a second's sums.
"""

from __future__ import annotations

from array import array

import numpy as np
import numpy.typing as npt

from .rings import FloatArray
from .series import TickSeries
from .windows import TICK_WIDTH

VECTORIZE_FROM = 48  # fewer pending ticks: TickSeries.add per tick is cheaper than numpy's fixed cost


def _segmented_cummax(x: FloatArray, starts: npt.NDArray[np.intp]) -> FloatArray:
    """Running max of ``x`` restarting at each index in ``starts`` (sorted, starts[0] == 0):
    a doubling scan, log2(longest segment) numpy passes, exact."""
    group = np.zeros(len(x), dtype=np.int64)
    group[starts[1:]] = 1
    group = np.cumsum(group)
    out = x.copy()
    longest = int(np.diff(np.append(starts, len(x))).max())
    k = 1
    while k < longest:
        same = group[k:] == group[:-k]
        np.maximum(out[k:], np.where(same, out[:-k], out[k:]), out=out[k:])
        k *= 2
    return out


def fold(by_index: list[TickSeries], pending: array[float]) -> None:
    """Apply the pending ticks (``pending[4i:4i+4]``: series index, ts, price, volume; in
    arrival order, already checked to be in order per series)."""
    n = len(pending) // 4
    if n < VECTORIZE_FROM:
        for i in range(0, 4 * n, 4):
            by_index[int(pending[i])].add(pending[i + 1], pending[i + 2], pending[i + 3])
        return
    flat = np.array(pending, dtype=np.float64).reshape(n, 4)  # a memcpy through the buffer protocol
    # A stable sort puts each series' ticks together, still in order (radix sort on uint16).
    sid = flat[:, 0].astype(np.uint16 if len(by_index) <= 65536 else np.int64)
    order = np.argsort(sid, kind="stable")
    sid = sid[order]
    tick = flat[order, 1:]  # (ts, price, volume) rows, contiguous
    t, p, v = tick[:, 0], tick[:, 1], tick[:, 2]
    new_series = np.empty(n, dtype=bool)
    new_series[0] = True
    np.not_equal(sid[1:], sid[:-1], out=new_series[1:])
    s_start = np.flatnonzero(new_series)
    series = [by_index[i] for i in sid[s_start].tolist()]
    # Per series: the last folded price (0: none), and the current (unfinished) second's row.
    folded = np.array([s.folded_price for s in series])
    current = np.array([s.current if s.current else [-1.0] + [0.0] * (TICK_WIDTH - 1) for s in series])

    # Log returns: from the previous tick of the same series (the folded one for the first).
    prev = np.empty(n)
    prev[1:] = p[:-1]
    prev[s_start] = folded
    has_prev = prev > 0.0
    r = np.zeros(n)
    np.log(p / np.where(has_prev, prev, p), out=r, where=has_prev)

    # Groups: one per (series, second), the unit of a window row.
    second = np.floor(t)
    new_group = new_series.copy()
    new_group[1:] |= second[1:] != second[:-1]
    g_start = np.flatnonzero(new_group)
    g_end = np.append(g_start[1:], n)
    # Does a series' first group continue its current row (same second)?
    merge = second[s_start] == current[:, 0]
    # Drawdown inside a second: against the running high, which a continued row seeds.
    seeded = p.copy()
    seeded[s_start] = np.where(merge, np.maximum(p[s_start], current[:, 7]), p[s_start])
    peak = _segmented_cummax(seeded, g_start)
    rows = np.empty((len(g_start), TICK_WIDTH))
    rows[:, 0] = second[g_start]
    rows[:, 1] = g_end - g_start
    rows[:, 2] = np.add.reduceat(v, g_start)
    rows[:, 3] = np.add.reduceat(p * v, g_start)
    rows[:, 4] = p[g_start]  # open
    rows[:, 5] = np.add.reduceat(r, g_start)
    rows[:, 6] = np.add.reduceat(r * r, g_start)
    rows[:, 7] = np.maximum.reduceat(p, g_start)
    rows[:, 8] = np.minimum.reduceat(p, g_start)
    rows[:, 9] = np.maximum.reduceat(1.0 - p / peak, g_start)
    close = p[g_end - 1]
    # Continued rows: add the current row's sums, keep its open.
    first_group = np.searchsorted(g_start, s_start)
    m = first_group[merge]
    cur = current[merge]
    rows[m, 1:4] += cur[:, 1:4]
    rows[m, 4] = cur[:, 4]
    rows[m, 5:7] += cur[:, 5:7]
    rows[m, 7] = np.maximum(rows[m, 7], cur[:, 7])
    rows[m, 8] = np.minimum(rows[m, 8], cur[:, 8])
    rows[m, 9] = np.maximum(rows[m, 9], cur[:, 9])

    # Write back, per series: O(1) Python each (plus one call per finished second for the
    # bars). Everything indexed per series is a plain list or bytes, not numpy scalars.
    s_end = np.append(s_start[1:], n)
    last_group = (np.append(first_group[1:], len(g_start)) - 1).tolist()
    row_list = rows.tolist()
    row_bytes = rows.tobytes()
    tick_bytes = tick.tobytes()
    closes = close.tolist()
    width = TICK_WIDTH * 8
    for s, a, b, g0, g1, merged, first_t, last_p in zip(
            series, s_start.tolist(), s_end.tolist(), first_group.tolist(), last_group, merge.tolist(),
            t[s_start].tolist(), p[s_end - 1].tolist(), strict=True):
        if s.folded_price <= 0.0:
            s.first_ts = first_t  # the series' first tick: no log return
        if not merged and s.current:
            s.finish(s.current, s.folded_price)
        if g1 > g0:
            s.finish_rows(row_bytes[g0 * width:g1 * width], row_list[g0:g1], closes[g0:g1])
        s.current = row_list[g1]
        if g1 > g0 or not merged:  # a new second: rows may have left the longest window
            second = s.current[0]
            s.current_end = second + 1.0
            s.evict(int(second))
        s.folded_price = s.last_price = last_p
        s.history.extend_bytes(tick_bytes[a * 24:b * 24], b - a)
