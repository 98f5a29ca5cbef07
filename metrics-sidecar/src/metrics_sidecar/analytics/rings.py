"""Fixed-width float rows in one ``array('d')`` ring: 8 bytes a value and no
Python object per row, so a full ring of every symbol stays small. Writers
append one row in O(1); readers copy rows out (under ``state.lock``) and work
on the copy with numpy, outside the lock."""

from __future__ import annotations

from array import array

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


class FloatRing:
    """The newest ``capacity`` rows of ``width`` floats; the oldest row is overwritten.

    The ring grows as rows arrive (a symbol with few ticks stays small), or with
    ``preallocate`` is reserved whole up front.
    """

    __slots__ = ("capacity", "data", "head", "limit", "size", "width")

    def __init__(self, width: int, capacity: int, preallocate: bool = False) -> None:
        if width < 1 or capacity < 1:
            raise ValueError("width and capacity must be >= 1")
        self.width = width
        self.capacity = capacity
        self.limit = width * capacity  # values when full
        self.data = array("d", bytes(8 * self.limit)) if preallocate else array("d")
        self.head = 0  # where the next row goes (values); once full, the oldest row
        self.size = 0  # rows held

    def __len__(self) -> int:
        return self.size

    def append(self, row: tuple[float, ...]) -> None:
        head = self.head
        width = self.width
        if len(self.data) < self.limit:
            self.data.extend(row)
        else:
            self.data[head:head + width] = array("d", row)
        head += width
        self.head = 0 if head == self.limit else head
        if self.size < self.capacity:
            self.size += 1

    def append3(self, a: float, b: float, c: float) -> None:
        """``append((a, b, c))`` for a ring of width 3, without building a tuple: the
        per-tick history write."""
        data = self.data
        head = self.head
        if len(data) < self.limit:
            data.append(a)
            data.append(b)
            data.append(c)
        else:
            data[head] = a
            data[head + 1] = b
            data[head + 2] = c
        head += 3
        self.head = 0 if head == self.limit else head
        if self.size < self.capacity:
            self.size += 1

    def extend_bytes(self, packed: bytes, rows: int) -> None:
        """Append ``rows`` rows given as float64 bytes (oldest first): memcpy-speed writes."""
        limit = self.limit
        data = self.data
        values = rows * self.width
        if values > limit:  # only the newest ``capacity`` rows can stay
            packed = packed[(values - limit) * 8:]
            values = limit
        done = 0
        while done < values:
            head = self.head
            if head < len(data):  # full (or preallocated): overwrite up to the ring's end
                take = min(values - done, limit - head)
                data[head:head + take] = array("d", packed[done * 8:(done + take) * 8])
            else:  # growing: append up to the capacity
                take = min(values - done, limit - len(data))
                data.frombytes(packed[done * 8:(done + take) * 8])
            head += take
            self.head = 0 if head == limit else head
            done += take
        self.size = min(self.capacity, self.size + rows)

    def last_flat(self, count: int) -> array[float]:
        """A copy of the newest ``count`` rows, oldest first, as one flat array('d')."""
        width = self.width
        count = max(0, min(count, self.size))
        end = (self.head or len(self.data)) // width  # one past the newest row, in ring order
        first = end - count
        # Slicing an array('d') copies just those values; a numpy view of ``data``
        # would forbid the ingest thread to grow it (BufferError) while it lived.
        if first >= 0:
            return self.data[first * width:end * width]
        return self.data[(self.capacity + first) * width:self.capacity * width] + self.data[:end * width]

    def last(self, count: int) -> FloatArray:
        """A copy of the newest ``count`` rows, oldest first, shape (rows, width)."""
        flat = self.last_flat(count)
        return np.frombuffer(flat, dtype=np.float64).reshape(-1, self.width)
