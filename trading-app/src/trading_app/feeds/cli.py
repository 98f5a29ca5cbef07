"""``trading-app-feed``: run one market feed in the foreground with its own
publisher (producer ``<WEBAPP_PRODUCER>-feed``).

Settings come from ``WEBAPP_*`` (and ``.env``); flags override them. Prints a
JSON ``ready`` line on start and a JSON ``done`` line with the feed's counters at
the end; SIGTERM/SIGINT stop it cleanly with exit code 0. Exit 2: bad
configuration; exit 1: the feed failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from typing import Any

from pydantic import ValidationError

from ..settings import AppSettings, SettingsError
from ..telemetry.factory import make_publisher
from .csv_replay import CsvReplayFeed
from .progress import Progress
from .runner import SOURCES, build_feed, wait_for_sidecar

# Seconds the last queued ticks get to reach a connected sidecar at exit.
DRAIN_SECONDS = 5.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="trading-app-feed", description=__doc__.split("\n\n")[0])
    p.add_argument("--source", choices=SOURCES, help="feed to run (default WEBAPP_FEED)")
    p.add_argument("--symbols", help="sim: comma separated symbols (WEBAPP_SYMBOLS)")
    p.add_argument("--tps", type=float, help="sim: ticks per second per symbol (WEBAPP_TPS)")
    p.add_argument("--seed", type=int, help="sim: random seed (WEBAPP_FEED_SEED)")
    p.add_argument("--file", action="append", help="csv: Stooq CSV file; repeat to merge files by time "
                   "(WEBAPP_FEED_CSV_PATH)")
    p.add_argument("--symbol", help="csv: symbol for the ticks (default from the file name)")
    p.add_argument("--speed", help="csv: 1, 60, 60x ... or max (WEBAPP_FEED_SPEED)")
    p.add_argument("--max-gap", type=float, help="csv: cap on one scaled wait, seconds (0 = none)")
    p.add_argument("--url", help="binance: trade stream WebSocket URL (WEBAPP_BINANCE_URL)")
    p.add_argument("--count", type=int, help="stop after N ticks in total (all symbols)")
    p.add_argument("--connect-timeout", type=float, default=10.0,
                   help="seconds to wait for the sidecar before sending (default 10)")
    p.add_argument("--no-progress", action="store_true", help="csv: no progress display on stderr")
    args = p.parse_args(argv)
    if args.count is not None and args.count < 1:
        p.error("--count must be >= 1")
    return args


# settings field -> the flag that sets it, so an error names what the user typed
FLAGS = {"symbols": "--symbols", "tps": "--tps", "feed_seed": "--seed", "feed_csv_path": "--file",
         "feed_csv_symbol": "--symbol", "feed_speed": "--speed", "feed_max_gap_seconds": "--max-gap",
         "binance_url": "--url"}


def settings_with_flags(base: AppSettings, args: argparse.Namespace) -> AppSettings:
    """Flags win over env; validated by the same rules as the env vars."""
    flags: dict[str, Any] = {
        "symbols": args.symbols, "tps": args.tps, "feed_seed": args.seed,
        "feed_csv_path": ",".join(args.file) if args.file else None, "feed_csv_symbol": args.symbol,
        "feed_speed": args.speed.strip().lower() if args.speed else None,
        "feed_max_gap_seconds": args.max_gap, "binance_url": args.url,
    }
    overrides = {k: v for k, v in flags.items() if v is not None}
    try:
        return AppSettings.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        raise SettingsError("; ".join(
            f"{FLAGS.get(str(e['loc'][0]), e['loc'][0])}={overrides.get(str(e['loc'][0]))!r}: {e['msg']}"
            for e in exc.errors() if e["loc"])) from None


def _fail(message: str, code: int) -> int:
    print(f"trading-app-feed: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = settings_with_flags(AppSettings.from_env(), args)
    except SettingsError as exc:
        return _fail(str(exc), 2)
    logging.basicConfig(level=settings.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    source = args.source or (settings.feed if settings.feed != "none" else None)
    if source is None:
        return _fail("no feed chosen: pass --source sim|csv|binance or set WEBAPP_FEED", 2)

    publisher = make_publisher(settings, "feed")  # honours WEBAPP_DELIVERY (reliable or fire-and-forget)
    try:
        feed = build_feed(settings, publisher, None, source, args.count)
    except (OSError, ValueError) as exc:
        publisher.close()
        return _fail(str(exc), 2)

    progress: Progress | None = None
    if isinstance(feed, CsvReplayFeed) and not args.no_progress:
        progress = Progress(len(feed.bars), label=f"csv replay at {settings.feed_speed}")
        feed.on_progress = progress.update

    def on_signal(signum: int, _frame: object) -> None:
        logging.getLogger("trading_app.feeds").info("signal %d: stopping", signum)
        feed.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ready: dict[str, Any] = {"event": "ready", "service": "trading-app-feed", "source": source,
                             "producer": publisher.producer, "instance": publisher.instance,
                             "zmq": settings.zmq_addr}
    if isinstance(feed, CsvReplayFeed):
        ready["rows"] = len(feed.bars)
    print(json.dumps(ready), flush=True)

    code = 0
    try:
        if not wait_for_sidecar(publisher, feed, args.connect_timeout) and not feed.stopping:
            logging.getLogger("trading_app.feeds").warning(
                "no sidecar at %s after %.0fs: ticks are dropped (and counted) until it is up",
                settings.zmq_addr, args.connect_timeout)
        feed.run()
    except Exception as exc:  # reported, exit 1
        logging.getLogger("trading_app.feeds").exception("feed failed")
        code = _fail(f"{source} feed failed: {exc}", 1)
    finally:
        if progress is not None and isinstance(feed, CsvReplayFeed):
            progress.finish(feed.rows_done)
        publisher.close(linger=DRAIN_SECONDS)
    dropped = {f"{kind}/{reason}": n for (kind, reason), n in publisher.stats().dropped.items()}
    print(json.dumps({"event": "done", **feed.stats.snapshot(), "publisher_dropped": dropped}), flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
