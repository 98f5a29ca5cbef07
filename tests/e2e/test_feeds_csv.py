"""``trading-app-feed --source csv`` as a real process into a real sidecar: the
shipped Stooq sample at max speed arrives row for row, with the file's last Close
as the last price; bad rows are counted by reason and their neighbours arrive."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from telemetry_testkit.procs import BIN, REPO, Service, start_ready, wait_until
from telemetry_testkit.prom import scrape

SAMPLE = REPO / "testdata" / "csv" / "aapl.us.csv"


def start_feed(tmp_path: Path, sidecar: Service, *args: str) -> Service:
    return start_ready("trading-app-feed", [str(BIN / "trading-app-feed"), *args],
                       {"WEBAPP_ZMQ_ADDR": sidecar.zmq}, tmp_path / "feed")


def done_line(feed: Service, timeout: float = 20.0) -> dict[str, Any]:
    assert feed.popen.wait(timeout) == 0, feed.log()
    line = wait_until(lambda: next((s for s in feed.lines if '"event": "done"' in s), None), 5,
                      message="done line")
    return dict(json.loads(line))


def test_sample_replayed_at_max_speed_arrives_row_for_row(tmp_path: Path, sidecar: Service) -> None:
    with SAMPLE.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    feed = start_feed(tmp_path, sidecar, "--source", "csv", "--file", str(SAMPLE), "--speed", "max")
    assert feed.info["rows"] == len(rows) == 312
    done = done_line(feed)
    assert (done["ticks_sent"], done["ticks_dropped"], done["skipped"]) == (312, 0, {})
    key = 'ticks_total{source="csv",symbol="AAPL.US"}'
    metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/")) and m.get(key) == 312 and m, 10,
                         message="312 csv ticks")
    assert metrics['tick_last_price{symbol="AAPL.US"}'] == float(rows[-1]["Close"]) == 189.87
    # Event time is re-based to the replay, so nothing is stale, out of order, lost or a duplicate.
    assert metrics['messages_invalid_total{reason="stale"}'] == 0
    assert metrics['ticks_out_of_order_total{symbol="AAPL.US"}'] == 0
    assert metrics['messages_lost_total{producer="trading-app-feed"}'] == 0
    assert metrics["messages_duplicate_total"] == 0
    assert "csv replay at max: 312/312 rows (100.0%)" in feed.log()  # the progress display's last line


def test_bad_rows_are_counted_and_skipped(tmp_path: Path, sidecar: Service) -> None:
    data = tmp_path / "btcusd.csv"
    data.write_text("Date,Time,Open,High,Low,Close,Volume\n"
                    "2024-05-13,10:00:00,1,1,1,61000.5,3\n"
                    "2024-05-13,10:01:00,1,1,1,not-a-price,3\n"
                    "2024-05-13,10:02:00,1,1,1,61001.5\n"
                    "2024-05-13,10:03:00,1,1,1,-5,3\n"
                    "2024-05-13,99:99:99,1,1,1,61002,3\n"
                    "2024-05-13,10:05:00,1,1,1,61003.25,0\n")
    feed = start_feed(tmp_path, sidecar, "--source", "csv", "--file", str(data), "--speed", "max",
                      "--symbol", "BTCUSD")
    done = done_line(feed)
    assert done["ticks_sent"] == 2
    assert done["skipped"] == {"bad_number": 1, "bad_columns": 1, "bad_price": 1, "bad_timestamp": 1}
    metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/"))
                         and m.get('ticks_total{source="csv",symbol="BTCUSD"}') == 2 and m, 10, message="2 ticks")
    assert metrics['tick_last_price{symbol="BTCUSD"}'] == 61003.25
