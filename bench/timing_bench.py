"""B9-B11: the timings that functional tests used to assert (issue 16 item 6), measured
here against a baseline of the same run and reported, never enforced.

- B9  hop-latency truth: a publisher waits 50 ms (busy) between each trade's event
  time and its send; the sidecar's ``event_to_send`` mean against the wall-clock
  truth bracketed around each send, and its ``send_to_receive`` median against a bare
  pyzmq PUSH -> PULL one-way time on this host (was tests/e2e/test_loss_and_latency.py:
  50 ms ± 5 ms, transport median < 5 ms).
- B10 sidecar-down notice: SIGTERM to a real sidecar process -> the publisher's socket
  monitor reports it disconnected (``connected`` False), against the process's own exit.
  This is what the UI's warning waits for; the page adds its re-check (every 0.5 s) and
  a render, which this does not measure (was tests/browser/test_trade_flow.py: the
  warning within 2.0 s).
- B11 stalled stream clients: a trade flood ingested with three GET /stream clients
  that never read, alternating with the same flood with none, on one sidecar (was
  tests/e2e/test_market_stream_rate.py: ≤ 2× the baseline + 1 s).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import zmq
from harness import Proc, median, scrape, start_sidecar, summary, wait_until

INJECTED_S = 0.050  # B9: event time -> send, held by a busy-wait (sleep() overshoots by a scheduler tick)


def series(metrics: dict[str, float], name: str, **labels: str) -> float:
    """The one series of ``name`` carrying these labels, whatever other labels it has
    (a ``clock`` label on the hop histograms, for one)."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    found = [v for k, v in metrics.items()
             if k.startswith(name + "{") and all(w in k[len(name) + 1:-1].split(",") for w in wanted)]
    if len(found) != 1:
        raise RuntimeError(f"{name}{labels}: {len(found)} series")
    return found[0]


def bare_one_way(samples: int) -> list[float]:
    """The baseline transport: one pyzmq PUSH -> PULL frame over loopback TCP, stamped
    with time.time() before the send and read after the receive, in one process."""
    context = zmq.Context()
    pull, push = context.socket(zmq.PULL), context.socket(zmq.PUSH)
    try:
        pull.bind("tcp://127.0.0.1:*")
        push.connect(pull.getsockopt_string(zmq.LAST_ENDPOINT))
        times: list[float] = []
        for i in range(samples + 1):
            push.send(json.dumps(time.time()).encode())
            sent = json.loads(pull.recv())
            if i:  # the first frame also waits for the connection
                times.append(time.time() - sent)
            time.sleep(0.005)
        return times
    finally:
        push.close(0)
        pull.close(0)
        context.term()


def hop_truth(log_dir: Path, samples: int) -> dict[str, Any]:
    from trading_app.telemetry.push import PushPublisher

    sidecar = start_sidecar(log_dir / "b9")
    try:
        brackets: list[tuple[float, float]] = []
        with PushPublisher(sidecar.zmq, producer="timing", heartbeat_interval=0) as pub:
            if not pub.wait_connected(10):
                raise RuntimeError("publisher never connected")
            for _ in range(samples):
                event_time = time.time()
                until = time.perf_counter() + INJECTED_S
                while time.perf_counter() < until:
                    pass
                before = time.time()
                pub.trade("buy", 1, ts=event_time)
                brackets.append((before - event_time, time.time() - event_time))
                time.sleep(0.005)
            metrics = wait_until(lambda: (m := scrape(sidecar.http + "/metrics/"))
                                 and m.get('messages_received_total{type="trade"}') == samples and m, 30,
                                 message=f"{samples} trades")
        hop = {"hop": "event_to_send", "type": "trade"}
        mean = (series(metrics, "hop_latency_seconds_sum", **hop) / series(metrics, "hop_latency_seconds_count", **hop))
        truth_low = statistics.fmean(lo for lo, _ in brackets)
        truth_high = statistics.fmean(hi for _, hi in brackets)
        transport = series(metrics, "hop_latency_recent_seconds", hop="send_to_receive", quantile="0.5", type="trade")
        bare = median(bare_one_way(samples))
        return {"samples": samples, "injected_s": INJECTED_S, "event_to_send_mean_s": mean,
                "truth_mean_s": [truth_low, truth_high], "error_vs_injected_s": mean - INJECTED_S,
                "within_truth": truth_low - 1e-6 <= mean <= truth_high + 1e-6,
                "send_to_receive_median_s": transport, "bare_one_way_median_s": bare,
                "transport_ratio": transport / bare}
    finally:
        sidecar.stop()


def down_notice(log_dir: Path, trials: int) -> dict[str, Any]:
    from trading_app.telemetry.push import PushPublisher

    notice: list[float] = []
    exit_: list[float] = []
    for trial in range(trials):
        sidecar = start_sidecar(log_dir / f"b10-{trial}")
        with PushPublisher(sidecar.zmq, producer="down", heartbeat_interval=0) as pub:
            if not pub.wait_connected(10):
                raise RuntimeError("publisher never connected")
            killed = time.monotonic()
            sidecar.popen.send_signal(signal.SIGTERM)
            noticed = exited = None
            while noticed is None or exited is None:
                now = time.monotonic()
                if noticed is None and not pub.connected:
                    noticed = now
                if exited is None and sidecar.popen.poll() is not None:
                    exited = now
                if now - killed > 30:
                    raise RuntimeError("the sidecar did not exit, or the publisher never noticed, in 30 s")
                time.sleep(0.001)
            notice.append(noticed - killed)
            exit_.append(exited - killed)
        sidecar.stop()
    return {"trials": trials, "notice_s": summary(notice), "exit_s": summary(exit_),
            "notice_max_s": max(notice)}


def _stalled_client(http: str) -> socket.socket:
    """``GET /stream`` and never read: its small receive window fills at once."""
    url = urlparse(http)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((url.hostname or "127.0.0.1", url.port or 80))
    sock.sendall(f"GET /stream HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
    return sock


def _flood(sidecar: Proc, push: zmq.Socket[bytes], n: int, counted: int) -> float:
    """Seconds from the first send until the sidecar counted all ``n`` more trades."""
    template = b'{"type":"trade","side":"buy","qty":1,"ts":%f,"symbol":"F%d","price":%d}'
    started, now = time.monotonic(), time.time()
    for i in range(n):
        push.send(template % (now, i % 5, 100 + i % 7))
    wait_until(lambda: scrape(sidecar.http + "/metrics/")['messages_received_total{type="trade"}'] == counted + n,
               120, 0.01, f"{counted + n} trades counted")
    return time.monotonic() - started


def stalled_stream(log_dir: Path, events: int, repeats: int) -> dict[str, Any]:
    """Alternating on one sidecar: a flood with no stream client, then the same flood
    with three that never read (connected before, closed after)."""
    env = {"SIDECAR_SSE_QUEUE_SIZE": "1000000", "SIDECAR_SSE_WRITE_TIMEOUT_SECONDS": "600"}
    sidecar = start_sidecar(log_dir / "b11", env)
    context = zmq.Context()
    push = context.socket(zmq.PUSH)
    push.setsockopt(zmq.SNDHWM, 0)
    push.connect(sidecar.zmq)

    def clients(n: int) -> bool:
        return scrape(sidecar.http + "/metrics/")["market_stream_clients"] == n

    try:
        _flood(sidecar, push, 1000, 0)  # warm-up, not timed: the connection and the sidecar's first symbols
        counted, exact = 1000, True
        baseline: list[float] = []
        loaded: list[float] = []
        for _ in range(repeats):
            baseline.append(_flood(sidecar, push, events, counted))
            counted += events
            stalled = [_stalled_client(sidecar.http) for _ in range(3)]
            try:
                wait_until(lambda: clients(3), 10, message="three stalled clients in")
                loaded.append(_flood(sidecar, push, events, counted))
                counted += events
                metrics = scrape(sidecar.http + "/metrics/")  # nobody dropped, nothing waited on them
                exact = exact and metrics["market_stream_clients"] == 3 and not any(
                    v for k, v in metrics.items() if k.startswith("market_stream_clients_dropped_total"))
            finally:
                for sock in stalled:
                    sock.close()
            wait_until(lambda: clients(0), 30, message="stalled clients gone")
        exact = exact and scrape(sidecar.http + "/metrics/")['messages_received_total{type="trade"}'] == counted
        base, with_clients = summary(baseline), summary(loaded)
        return {"events": events, "repeats": repeats, "baseline_s": base, "stalled_s": with_clients,
                "ratio": with_clients["median"] / base["median"], "exact": exact}
    finally:
        push.close(0)
        context.term()
        sidecar.stop()


def main() -> None:
    """Run the three alone: ``python bench/timing_bench.py`` (bench/run.py --only B9,B10,B11 also does)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-timing-") as logs:
        out = {"B9": hop_truth(Path(logs), 60), "B10": down_notice(Path(logs), 5),
               "B11": stalled_stream(Path(logs), 40_000, 3), "load": os.getloadavg()}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
