"""The Latency page's table of the sidecar's exact recent percentiles."""

from __future__ import annotations

import math

from trading_app.ui import latency_page


def test_recent_table_has_p99_9_and_the_window_max_in_ms() -> None:
    samples = [("hop_latency_recent_seconds", {"hop": h, "quantile": q, "type": "trade"}, v)
               for h in ("event_to_send", "send_to_receive")
               for q, v in (("0.5", 0.001), ("0.95", 0.002), ("0.99", 0.004), ("0.999", 0.25))]
    samples += [("hop_latency_max_seconds", {"clock": "same", "hop": "event_to_send", "type": "trade"}, 0.5),
                ("hop_latency_max_seconds", {"clock": "same", "hop": "event_to_send", "type": "tick"}, 9.0)]
    table = latency_page.recent_table(samples, "trade", latency_page.recent_quantiles(samples, "trade"))
    assert list(table.columns) == ["p50", "p95", "p99", "p99.9", "max (15-30 s)"]
    assert list(table.loc["event_to_send"]) == [1.0, 2.0, 4.0, 250.0, 500.0]
    assert list(table.loc["send_to_receive"])[:4] == [1.0, 2.0, 4.0, 250.0]
    assert math.isnan(list(table.loc["send_to_receive"])[4])  # no sample in the window
