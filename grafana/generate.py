"""Generate the provisioned Grafana dashboards (grafana/dashboards/*.json) with grafana-foundation-sdk.

Run ``.venv/bin/python grafana/generate.py`` after editing a dashboard module
(dash_*.py; the shared typed helpers are in dash_common.py); ``--check`` exits 1
when the committed JSON differs (tests/infra runs it).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from dash_analytics import market_analytics
from dash_latency import latency_loss
from dash_overview import overview
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

OUT_DIR = Path(__file__).resolve().parent / "dashboards"

DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "trading-overview.json": overview,
    "latency-loss.json": latency_loss,
    "market-analytics.json": market_analytics,
}


def render(build: Callable[[], Dashboard]) -> str:
    return json.dumps(build(), cls=JSONEncoder, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed JSON is out of date")
    args = parser.parse_args(argv)
    stale = []
    for name, build in DASHBOARDS.items():
        path = OUT_DIR / name
        text = render(build)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date (run .venv/bin/python grafana/generate.py): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
