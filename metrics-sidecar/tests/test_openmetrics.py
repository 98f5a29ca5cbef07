"""OpenMetrics exposition (served when the scraper asks for it): the whole body parses
with prometheus_client's strict OpenMetrics parser, and each hop-latency bucket carries
the most recent event that fell in it as an exemplar."""

from __future__ import annotations

import json
import time

from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.samples import Sample, Timestamp

from metrics_sidecar.decode import decode
from metrics_sidecar.exposition import process_registry, render, wants_openmetrics
from metrics_sidecar.state import TelemetryState


def feed(state: TelemetryState, frame: dict[str, object], recv: float) -> None:
    event = decode(json.dumps(frame).encode())
    assert not isinstance(event, str), event
    event.recv_ts = recv
    assert state.apply(event) is None


def exemplar_of(sample: Sample) -> tuple[dict[str, str], float, str] | None:
    """(labels, value, timestamp as written) of a sample's exemplar."""
    ex = sample.exemplar
    if ex is None:
        return None
    stamp = ex.timestamp
    assert isinstance(stamp, Timestamp), stamp  # the parser keeps an exemplar's timestamp exact
    return ex.labels, ex.value, f"{stamp.sec}.{stamp.nsec:09d}".rstrip("0")


def test_openmetrics_body_parses_and_buckets_carry_the_latest_event(state: TelemetryState) -> None:
    now = float(int(time.time()))
    for seq in range(1, 4):  # fast: sent_ts - ts = 2**-12 s, bucket le=0.0005
        feed(state, {"type": "trade", "side": "buy", "qty": 1, "ts": now, "sent_ts": now + 2.0**-12,
                     "producer": "p", "seq": seq, "event_id": f"fast-{seq}"}, recv=now + 2.0**-11)
    feed(state, {"type": "trade", "side": "buy", "qty": 1, "ts": now, "sent_ts": now + 0.25, "producer": "p",
                 "seq": 4, "event_id": "late"}, recv=now + 0.25 + 2.0**-11)
    feed(state, {"type": "trade", "side": "sell", "qty": 2, "ts": now}, recv=now)  # no identity: no exemplar
    text = render(state, process_registry(), openmetrics=True).decode()
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["trades"].type == "counter"
    buckets = {s.labels["le"]: s for s in families["hop_latency_seconds"].samples
               if s.name == "hop_latency_seconds_bucket" and s.labels["hop"] == "event_to_send"}
    assert exemplar_of(buckets["0.0005"]) == ({"producer": "p", "seq": "3", "event_id": "fast-3"}, 2.0**-12,
                                              repr(now + 2.0**-11))
    assert exemplar_of(buckets["0.5"]) == ({"producer": "p", "seq": "4", "event_id": "late"}, 0.25,
                                           repr(now + 0.25 + 2.0**-11))
    assert buckets["0.5"].value == 4  # cumulative: the 3 fast and the late one (the sell has no sent_ts)
    assert buckets["0.1"].exemplar is None and buckets["+Inf"].exemplar is None
    # The plain text format has no exemplars and no EOF, whatever the state holds.
    plain = render(state, process_registry()).decode()
    assert " # {" not in plain and "# EOF" not in plain
    assert "# TYPE trades_total counter" in plain


def test_exemplar_labels_stay_within_128_characters_event_id_kept_longest(state: TelemetryState) -> None:
    long_id = "e" * 120
    now = float(int(time.time()))
    feed(state, {"type": "heartbeat", "ts": now, "sent_ts": now + 0.5, "producer": "p" * 40, "seq": 7,
                 "event_id": long_id}, recv=now + 1.0)
    feed(state, {"type": "trade", "side": "buy", "qty": 1, "ts": now, "sent_ts": now + 0.5,
                 "event_id": "x" * 128}, recv=now + 1.0)
    lines = render(state, openmetrics=True).decode().splitlines()
    assert f'hop_latency_seconds_bucket{{clock="same",hop="event_to_send",le="0.5",type="heartbeat"}} 1.0 # ' \
        f'{{event_id="{long_id}"}} 0.5 {now + 1.0!r}' in lines
    # Alone over 128 characters: no exemplar at all.
    assert 'hop_latency_seconds_bucket{clock="same",hop="event_to_send",le="0.5",type="trade"} 1.0' in lines


def test_openmetrics_is_chosen_only_when_asked_for() -> None:
    assert wants_openmetrics("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
    assert not wants_openmetrics("text/plain;version=0.0.4")
    assert not wants_openmetrics(None)
