"""Area check (issue 14): a +50 ms delay injected at one hop shows in that hop's
p50, and in no other hop's. Real processes: the sidecar, and for the transport hop
a test-only relay process (testkit/src/telemetry_testkit/delay_proxy.py) between the producer and
the sidecar. Each delay is injected through a test-only path, never a sleep in
product code that runs normally:

- ``event_to_send`` (``sent_ts - ts``): this test's producer stamps ``ts`` 50 ms
  before ``sent_ts`` (no product change);
- ``send_to_receive`` (receive - ``sent_ts``): the relay holds each frame 50 ms;
- ``receive_to_apply`` (applied - receive): the sidecar's test-only
  ``SIDECAR_TEST_APPLY_DELAY_SECONDS`` holds each frame before applying it.

p50s are the sidecar's exact recent quantiles (``hop_latency_recent_seconds``)
with the sample ring sized to one phase (``N``): after a phase's ``N`` trades are
applied, the ring holds exactly that phase's samples. This tests attribution,
not speed: the bounds are on the *difference* to a control path measured in the
same moments. Also (issue 14's target): a producer clock 50 ms ahead shows in
``producer_clock_offset_seconds``, not as latency on a same-clock hop.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import ValidationError

from metrics_sidecar.settings import Settings
from telemetry_testkit.procs import Service, running_sidecar, start_ready, wait_until
from telemetry_testkit.prom import scrape
from telemetry_testkit.sockets import push_socket

N = 31  # trades per phase = the sidecar's ring size, so a phase's p50 is its 16th sample exactly
GAP = 0.15  # seconds between sends: three times the delay, so a held frame does not queue the next one
# even when the loaded machine makes a step late
DELAY = 0.05
HOPS = ("event_to_send", "send_to_receive", "receive_to_apply")
# Tolerances. The moved hop: 50 ms +- 10 % (45..55 ms over its baseline). Every other
# hop: its p50 moves by less than 1 ms. Both phases' p50s are medians of 31 samples of
# the same path under the same (shared, 2-core) machine, so scheduling noise on p50
# is tens to hundreds of us, not ms; event_to_send is exact (both stamps are the
# test's own, so it is 0 or 50 ms to the last bit of float rounding).
MOVED = (0.045, 0.055)
STILL = 1e-3


def _p50s(http: str) -> dict[str, float]:
    metrics = scrape(http + "/metrics/")
    return {hop: metrics[f'hop_latency_recent_seconds{{hop="{hop}",quantile="0.5",type="trade"}}']
            for hop in (*HOPS, "event_to_apply")}


class Producer:
    """This test's own producer: raw JSON trades on plain PUSH sockets, paced. Each step
    sends one trade to the control path and one to the delayed path, microseconds apart,
    so both paths are measured in the same moments of the shared machine's load."""

    def __init__(self) -> None:
        self.seq = 0  # one stream (producer "area") per sidecar, so each sidecar sees ascending seqs

    def phase(self, control: Service, delayed: Service, delayed_endpoint: str, ts_early: float = 0.0,
              control_endpoint: str | None = None,
              clock_ahead: float = 0.0) -> tuple[dict[str, float], dict[str, float]]:
        """One warm-up trade per path (absorbs the connect), then ``N`` steps ``GAP`` apart;
        once all are applied, the p50 of each hop over exactly those ``N`` per path. On the
        delayed path ``ts`` is ``ts_early`` before ``sent_ts``, and both stamps are
        ``clock_ahead`` ahead of the real time (a producer whose clock runs fast)."""
        before = {s.http: _trades(s.http) for s in (control, delayed)}
        with push_socket(control_endpoint or control.zmq) as plain, push_socket(delayed_endpoint) as injected:
            for i in range(N + 1):
                started = time.monotonic()
                self.seq += 1
                for sock, early, ahead in ((plain, 0.0, 0.0), (injected, ts_early, clock_ahead)):
                    sent = time.time() + ahead  # ``ahead``: this producer's clock runs fast
                    sock.send(json.dumps({"type": "trade", "side": "buy", "qty": 1.0, "symbol": "AREA",
                                          "producer": "area", "seq": self.seq, "ts": sent - early,
                                          "sent_ts": sent}).encode())
                if i == 0:
                    _wait_applied(before, 1)
                else:  # pacing the sends, not waiting for a result
                    time.sleep(max(0.0, GAP - (time.monotonic() - started)))
            _wait_applied(before, N + 1)
        return _p50s(control.http), _p50s(delayed.http)


def _trades(http: str) -> float:
    return scrape(http + "/metrics/").get('messages_received_total{type="trade"}', 0.0)


def _wait_applied(before: dict[str, float], sent: int) -> None:
    for http, count in before.items():
        def applied(http: str = http, count: float = count) -> bool:
            return _trades(http) == count + sent

        wait_until(applied, 10, 0.02, f"{sent} more trades applied at {http}")


@contextmanager
def _delay_proxy(target: str, log_dir: Path, delay: float) -> Iterator[Service]:
    proxy = start_ready("delay-proxy", [sys.executable, "-m", "telemetry_testkit.delay_proxy",
                                        target, "--delay", str(delay)], {}, log_dir)
    try:
        yield proxy
    finally:
        proxy.kill()


def _held_p50(proxy: Service, last: int) -> float:
    """p50 of how long the relay really held the last ``last`` frames (its own report)."""
    held = sorted(json.loads(line)["seconds"] for line in proxy.lines if '"held"' in line)[-last:]
    assert len(held) == last, f"the relay reported {len(held)} of {last} frames"
    return held[last // 2]


def _assert_moved_only(hop: str, measured: tuple[dict[str, float], dict[str, float]],
                       injected: float = DELAY) -> None:
    """``injected``: the delay that really went in; exactly ``DELAY`` except through the relay."""
    base, delayed = measured
    moved = {h: delayed[h] - base[h] for h in delayed}
    report = {h: f"{v * 1e3:+.3f} ms" for h, v in moved.items()}
    print(hop, report, f"injected {injected * 1e3:.3f} ms")  # shown when it fails, and with -s
    assert MOVED[0] <= moved[hop] - (injected - DELAY) <= MOVED[1], (hop, report, injected)
    # The end-to-end hop contains the delay; its p50 is not the sum of the parts' p50s (the p50
    # of a sum of per-event values), so only the lower bound is the hop's own.
    assert moved["event_to_apply"] >= MOVED[0], (hop, report)
    for other in HOPS:
        if other != hop:
            assert abs(moved[other]) < STILL, (hop, other, report)
    if hop != "event_to_send":  # both paths stamp ts == sent_ts: exactly 0 on both
        assert base["event_to_send"] == delayed["event_to_send"] == 0.0


def test_a_delay_at_one_hop_moves_that_hop_only(tmp_path: Path) -> None:
    env = {"SIDECAR_LATENCY_SAMPLES": str(N)}
    producer = Producer()
    with running_sidecar(tmp_path / "control", env) as control:
        with running_sidecar(tmp_path / "plain", env) as plain:
            # event_to_send: the producer stamps ts 50 ms before sent_ts on the delayed path.
            _assert_moved_only("event_to_send", producer.phase(control, plain, plain.zmq, ts_early=DELAY))
            # send_to_receive: the relay holds each frame 50 ms on its way. The control path goes
            # through the same relay with no hold, so the relay's own hop (a process, a second
            # TCP connection) is in the baseline too and only the hold is the difference.
            # The relay is a process on a loaded 2-core machine: it forwards a frame when it is
            # woken, at DELAY or later (once 19 ms later for most frames of a run, at load 16).
            # That overshoot is the machine's, not attribution, and the relay measures it
            # exactly: the hop must move by what was really injected (its p50 hold) +- 10 % of
            # DELAY, which is 50 ms +- 10 % whenever the relay is woken on time.
            with _delay_proxy(plain.zmq, tmp_path / "proxy", DELAY) as proxy, \
                    _delay_proxy(control.zmq, tmp_path / "relay", 0.0) as relay:
                measured = producer.phase(control, plain, proxy.info["zmq"], control_endpoint=relay.info["zmq"])
                _assert_moved_only("send_to_receive", measured, injected=_held_p50(proxy, N))
        # receive_to_apply: a sidecar that holds each frame 50 ms between receiving and applying it.
        with running_sidecar(tmp_path / "delayed", {**env, "SIDECAR_TEST_APPLY_DELAY_SECONDS": str(DELAY)}) as slow:
            _assert_moved_only("receive_to_apply", producer.phase(control, slow, slow.zmq))


def test_a_producer_clock_ahead_shows_as_offset_not_as_same_clock_latency(tmp_path: Path) -> None:
    """A producer whose clock is 50 ms ahead (both its stamps): the sidecar's offset
    estimate shows it, and the same-clock hops do not move."""
    env = {"SIDECAR_LATENCY_SAMPLES": str(N)}
    with running_sidecar(tmp_path / "control", env) as control, running_sidecar(tmp_path / "skewed", env) as skewed:
        base, ahead = Producer().phase(control, skewed, skewed.zmq, clock_ahead=DELAY)
        offset = scrape(skewed.http + "/metrics/")['producer_clock_offset_seconds{producer="area"}']
    # The estimate is offset - t_min (docs/metrics.md): never above the true 50 ms (every
    # frame arrived after it was sent), and below it by the fastest one-way delay of the
    # phase, which a loaded machine keeps far under 5 ms (10 %) over 32 frames.
    assert DELAY - 0.1 * DELAY <= offset <= DELAY, offset
    assert base["event_to_send"] == ahead["event_to_send"] == 0.0  # same clock: exactly nothing
    assert abs(ahead["receive_to_apply"] - base["receive_to_apply"]) < STILL, (base, ahead)


@pytest.mark.parametrize("value", [-0.01, 1.5])
def test_the_test_only_apply_delay_is_bounded(value: float) -> None:
    with pytest.raises(ValidationError, match="test_apply_delay_seconds"):
        Settings(test_apply_delay_seconds=value)
    assert Settings().test_apply_delay_seconds == 0.0  # off unless a test sets it
