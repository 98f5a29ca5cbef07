"""Per-producer sequence tracking: loss, duplicates and liveness, kept by the
compiled core (``core/src/producers.rs``).

A producer is a stable name plus an instance id that changes when the producer
restarts. Sequence numbers increase by one per message within an instance, so a
gap of k means k messages never arrived (dropped at the publisher's HWM, or lost
in transport). A new instance is a restart, not loss: its first seq starts a
fresh count.

A stream is (producer, instance); a producer that omits ``instance`` is one
stream. A seq that does not follow the last one of its stream is judged
(docs/delivery.md):

- above it by at most ``RESTART_AHEAD``: the messages in between were lost;
- below it, to 0 or 1 or by more than ``RESTART_BEHIND``, or above it by more
  than ``RESTART_AHEAD``: a restart (a producer without an instance restarted,
  or reset its counter). Counted in ``producer_restarts_total``, applied, and
  counting starts afresh from it;
- otherwise (equal to the last seq, or a little below it): a resend of
  something already counted, dropped as a duplicate.

``ProducerTracker.observe(name, instance, seq, now, count=True)`` returns
(label, is_duplicate); ``count=False``: the message was dropped as a duplicate
by its event id, its seq still moves the stream on (so it is never also a gap,
i.e. loss), but it is not received. Beyond ``max_producers`` names share
``OVERFLOW_LABEL`` (counted in ``overflowed``). ``stats`` is a read view (label
-> ``ProducerStats``) built on the core's counters; ``rows()``,
``last_seqs()`` and ``restore()`` save and restore the tracker (snapshot.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from . import _core

__all__ = ["LOST_MAX", "OVERFLOW_LABEL", "RESTART_AHEAD", "RESTART_BEHIND", "ProducerStats", "ProducerTracker"]

OVERFLOW_LABEL: str = _core.PRODUCER_OVERFLOW_LABEL
RESTART_BEHIND: int = _core.PRODUCER_RESTART_BEHIND  # further back than this: a restart, not a resend
# Further ahead than this is a reset too, not 4 billion lost messages: one message
# (seq may be up to 2**63-1) must not be able to inflate a loss counter.
RESTART_AHEAD: int = _core.PRODUCER_RESTART_AHEAD
LOST_MAX: int = _core.PRODUCER_LOST_MAX  # the counters saturate: they must stay an int64 (journal, snapshot)

_FIELDS = ("lost", "received", "last_seen", "instances_seen", "restarts")


class ProducerStats:
    """One label's counters, read from (and written to) the core on access."""

    __slots__ = ("_label", "_tracker")

    def __init__(self, tracker: _core.ProducerTracker, label: str) -> None:
        self._tracker = tracker
        self._label = label

    def astuple(self) -> tuple[int, int, float, int, int]:
        return self._tracker.counts(self._label)

    def _set(self, index: int, value: float) -> None:
        values: list[float] = list(self.astuple())
        values[index] = value
        lost, received, last_seen, instances_seen, restarts = values
        self._tracker.set_counts(self._label, (int(lost), int(received), last_seen, int(instances_seen),
                                              int(restarts)))

    @property
    def lost(self) -> int:
        return self.astuple()[0]

    @lost.setter
    def lost(self, value: int) -> None:
        self._set(0, value)

    @property
    def received(self) -> int:
        return self.astuple()[1]

    @property
    def last_seen(self) -> float:
        return self.astuple()[2]

    @property
    def instances_seen(self) -> int:
        return self.astuple()[3]

    @property
    def restarts(self) -> int:
        return self.astuple()[4]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProducerStats) and self.astuple() == other.astuple()

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        return f"ProducerStats({', '.join(f'{k}={v!r}' for k, v in zip(_FIELDS, self.astuple(), strict=True))})"


class _StatsView(Mapping[str, ProducerStats]):
    """label -> ProducerStats, in the order the labels were made."""

    __slots__ = ("_tracker",)

    def __init__(self, tracker: _core.ProducerTracker) -> None:
        self._tracker = tracker

    def __getitem__(self, label: str) -> ProducerStats:
        if label not in self._tracker:
            raise KeyError(label)
        return ProducerStats(self._tracker, label)

    def __contains__(self, label: object) -> bool:
        return isinstance(label, str) and label in self._tracker

    def __iter__(self) -> Iterator[str]:
        return iter(self._tracker.labels())

    def __len__(self) -> int:
        return len(self._tracker)


class ProducerTracker(_core.ProducerTracker):
    @property
    def stats(self) -> Mapping[str, ProducerStats]:
        return _StatsView(self)
