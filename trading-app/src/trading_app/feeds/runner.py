"""Run a feed in the background of the API process (WEBAPP_FEED)."""

from __future__ import annotations

from typing import Protocol

from ..prices import LastPrices
from ..publisher import Publisher
from ..settings import AppSettings


class RunningFeed(Protocol):
    def stop(self) -> None: ...


def start_background_feed(settings: AppSettings, publisher: Publisher, prices: LastPrices) -> RunningFeed:
    raise NotImplementedError(f"feed {settings.feed!r} is not implemented yet")
