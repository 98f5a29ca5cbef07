#!/usr/bin/env python3
"""Regenerate the README's screenshots (docs/screenshots/*.png) from the pages
as they are now: start the loop with scripts/launch.py (OS-chosen ports, the
simulated feed, a local Prometheus when installed), drive headless Chromium
through a few trades, and photograph each page once its content is there.
Every wait is on page content, with a deadline; there are no fixed sleeps.

    .venv/bin/python scripts/screenshots.py            # writes docs/screenshots/
    .venv/bin/python scripts/screenshots.py --out DIR
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from telemetry_devtools.launched import CHROMIUM, CHROMIUM_ARGS, Launched
from telemetry_devtools.polling import wait_until

REPO = Path(__file__).resolve().parent.parent


def strip_text(page: Any) -> str:
    box = page.locator(".st-key-health")
    return " ".join(box.inner_text().split()) if box.count() else ""


def rows(page: Any, key: str) -> int:
    return int(page.locator(f".st-key-{key} table tbody tr").count())


def trade(page: Any, side: str, qty: str) -> None:
    field = page.get_by_label("Quantity")
    field.fill(qty)
    field.press("Enter")
    before = rows(page, "blotter")
    page.get_by_role("button", name=side.capitalize(), exact=True).click()
    wait_until(lambda: rows(page, "blotter") > before, 20, message=f"the {side} in the blotter")


def take(ready: dict[str, Any], out: Path) -> None:
    from playwright.sync_api import sync_playwright

    base = ready["ui"].rstrip("/")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1700})
        page.goto(base)
        wait_until(lambda: "sidecar: connected" in strip_text(page), 60, message="the strip says connected")
        page.get_by_text("BTCUSDT last price").wait_for(timeout=30_000)
        wait_until(lambda: "—" not in page.locator('[data-testid="stMetricValue"]').first.inner_text(), 60,
                   message="a simulated price")
        trade(page, "buy", "2")
        trade(page, "sell", "1")
        trade(page, "buy", "0.5")
        wait_until(lambda: page.locator('[data-testid="stToast"]').count() == 0, 30,
                   message="the notification toast gone (it covers the health strip)")
        page.screenshot(path=str(out / "trade-page.png"), full_page=True)

        page.goto(base + "/market")
        page.get_by_text("Your fills in BTCUSDT on this chart: 3").wait_for(timeout=60_000)
        wait_until(lambda: rows(page, "all_positions") >= 1, 30, message="the positions table")
        page.screenshot(path=str(out / "market-page.png"), full_page=True)

        page.goto(base + "/latency")
        page.get_by_text("Recent exact percentiles (ms)").wait_for(timeout=60_000)
        if ready.get("prometheus"):  # the over-time charts need a few scrapes of the clicks
            wait_until(lambda: page.locator('[data-testid="stVegaLiteChart"]').count() >= 4
                       and page.get_by_text("No data yet.").count() == 0, 120, 0.5,
                       message="the percentile charts drawn from Prometheus")
        page.screenshot(path=str(out / "latency-page.png"), full_page=True)

        page.goto(base + "/alerts")
        wait_until(lambda: page.locator(".st-key-alerts").count() and page.locator(".st-key-alerts").inner_text(),
                   60, message="the alerts list")
        page.screenshot(path=str(out / "alerts-page.png"), full_page=True)
        browser.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "docs" / "screenshots"), help="where the PNGs go")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as run_dir:
        loop = Launched(REPO, Path(run_dir), ["--feed", "sim"], {**os.environ, "WEBAPP_FEED_SEED": "7"})
        try:
            take(loop.wait_ready(180), out)
        finally:
            loop.stop()
    print(f"screenshots: wrote {', '.join(sorted(p.name for p in out.glob('*.png')))} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
