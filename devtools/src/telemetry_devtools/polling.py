"""Small helpers shared by the launcher, the tests and the benchmarks: an
OS-chosen free port, polling with a deadline, and reading an exposition."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError, TimeoutError):
    """A condition did not hold by its deadline (a test failure, and a timeout)."""


def free_port() -> int:
    """For programs that cannot report an OS-chosen port (Prometheus, Streamlit, Pushgateway)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], T | Literal[False] | None], timeout: float, interval: float = 0.05,
               message: str = "condition") -> T:
    """Poll until predicate() is truthy; return its value or raise WaitTimeout at the deadline.
    (The type says what a ``cond and value`` predicate returns once it holds: never False or None.)"""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
        except Exception as exc:  # noqa: BLE001 - a poll may fail while a process starts
            last = exc
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout}s waiting for {message}; last={last!r}")
        time.sleep(interval)


def scrape(url: str, timeout: float = 10.0) -> dict[str, float]:
    """Fetch an exposition and return {'name{l="v",...}': value} for every sample."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(url, timeout=timeout).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out
