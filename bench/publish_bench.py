"""B3: what ``publish()`` costs the caller, sidecar up and sidecar down, against a
bare ``socket.send(payload, NOBLOCK)`` on the same kind of socket and an
in-process prometheus_client ``.labels().inc()``. ``publish()`` stamps and queues;
the publisher's sender thread does the send (``trading_app/telemetry/push.py``).

Every call is timed on its own with ``perf_counter_ns`` (the timer pair itself
costs ~0.1 us and is reported as ``timer_overhead_us``), at a paced rate like an
app would call it, so the sidecar keeps up and no call meets a full queue. The
message dict is built outside the timed region, by the app's own builder
(``messages.trade_message``, which every ``trade()`` uses); stamping it is part of
the cost. ``publish_plain`` is the same call with a caller's own six-key dict,
which the stamp has to grow (one dict resize more); ``trade`` times the builder too.

For the tail (docs/benchmarks.md *B3 tail*), each case also times a pure-bytecode
spin of publish()'s median length (the machine's own tail, same run), records the
hypervisor's steal share, and runs a second paced pass that puts every call over
5 us under a cause (gc, preempted, blocked, page fault, sender_ran, none). Each
repeat's own p50 / p99 / share over 5 us is kept in ``runs`` next to the medians.
"""

from __future__ import annotations

import gc
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import zmq
from harness import free_port, percentile, start_sidecar, wait_until
from prometheus_client import CollectorRegistry, Counter

from trading_app.telemetry.messages import trade_message
from trading_app.telemetry.push import PushPublisher as Publisher


def _message() -> dict[str, Any]:
    return trade_message("buy", 1.0, symbol="BTCUSDT", price=100.5)


def _plain_message() -> dict[str, Any]:
    """A caller's own dict, six keys: the stamp's five more outgrow its table."""
    return {"type": "trade", "side": "buy", "qty": 1.0, "ts": time.time(), "symbol": "BTCUSDT", "price": 100.5}


def _paced(n: int, rate: float, call: Callable[[Any], object], make_arg: Callable[[], Any] = lambda: None,
           ) -> list[float]:
    """Time ``n`` calls ``call(make_arg())``, one every 1/rate s (busy-waiting in
    between, ``make_arg`` outside the timed region); microseconds per call."""
    clock = time.perf_counter_ns
    out = [0.0] * n
    gap = 1.0 / rate
    due = time.perf_counter()
    for i in range(n):
        while time.perf_counter() < due:
            pass
        due += gap
        arg = make_arg()
        t0 = clock()
        call(arg)
        t1 = clock()
        out[i] = (t1 - t0) / 1000.0
    return out


def _tail_causes(n: int, rate: float, call: Callable[[Any], object], make_arg: Callable[[], Any],
                 slow_us: float = 5.0, backlog: Callable[[], int] = lambda: 0) -> dict[str, Any]:
    """What the calls over ``slow_us`` had in common: the same paced loop as
    ``_paced``, with the calling thread's ``getrusage(RUSAGE_THREAD)`` read just
    outside each timed region (so the two syscalls are not in the time) and the
    garbage collector's passes counted by a ``gc.callbacks`` hook. A slow call is
    put under the first cause it shows: a collection ran in it (``gc``), the
    kernel took the core away (``preempted``: involuntary context switch), the
    thread slept in the kernel (``blocked``: voluntary switch, e.g. a futex wait
    for the GIL), it faulted a page in (``page_fault``), the publisher's sender
    thread took entries off the queue since the previous call (``sender_ran``:
    ``backlog()`` went down, so the sender held the GIL in between and the caller
    resumed on a core that ran something else meanwhile), else ``none``."""
    collections = [0]

    def on_gc(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            collections[0] += 1

    usage, who, clock = resource.getrusage, resource.RUSAGE_THREAD, time.perf_counter_ns
    causes = {"gc": 0, "preempted": 0, "blocked": 0, "page_fault": 0, "sender_ran": 0, "none": 0}
    slow = 0
    gap = 1.0 / rate
    gc.callbacks.append(on_gc)
    try:
        due = time.perf_counter()
        left = backlog()  # right after the previous call
        for _ in range(n):
            while time.perf_counter() < due:
                pass
            due += gap
            arg = make_arg()
            sender_ran = backlog() < left
            before, gcs = usage(who), collections[0]
            t0 = clock()
            call(arg)
            t1 = clock()
            after = usage(who)
            left = backlog()
            if (t1 - t0) / 1000.0 <= slow_us:
                continue
            slow += 1
            cause = ("gc" if collections[0] != gcs else "preempted" if after.ru_nivcsw != before.ru_nivcsw
                     else "blocked" if after.ru_nvcsw != before.ru_nvcsw
                     else "page_fault" if after.ru_minflt + after.ru_majflt != before.ru_minflt + before.ru_majflt
                     else "sender_ran" if sender_ran
                     else "none")
            causes[cause] += 1
    finally:
        gc.callbacks.remove(on_gc)
    return {"calls": n, "slow": slow, "slow_share": slow / max(n, 1), "causes": causes}


def _spin_iterations(target_us: float) -> int:
    """Loop iterations of ``_spin`` whose median time is about ``target_us``."""
    clock = time.perf_counter_ns
    samples = []
    for _ in range(2000):
        t0 = clock()
        _spin(100)
        samples.append((clock() - t0) / 1000.0)
    return max(1, round(100 * target_us / max(percentile(samples, 0.5), 1e-3)))


def _spin(iterations: int) -> None:
    """Pure bytecode, no allocation, no lock, no other thread: the control for how
    often the machine alone (hypervisor steal, interrupts, preemption by other
    processes) makes a ~1 us stretch of Python take over 5 us."""
    for _ in range(iterations):
        pass


def _steal_share() -> Callable[[], float]:
    """Share of all CPU time the hypervisor gave to other guests (``steal`` in
    /proc/stat) from now until the returned function is called."""
    def read() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[7] if len(fields) > 7 else 0, sum(fields[:8])

    steal0, total0 = read()

    def share() -> float:
        steal1, total1 = read()
        return (steal1 - steal0) / max(total1 - total0, 1)
    return share


def _stats(samples: list[float]) -> dict[str, float]:
    # The share of calls over the 5 us p99 target says how far a p99 is from it.
    return {"p50": percentile(samples, 0.5), "p99": percentile(samples, 0.99), "n": len(samples),
            "over_5us": sum(1 for x in samples if x > 5.0) / max(len(samples), 1),
            "over_20us": sum(1 for x in samples if x > 20.0) / max(len(samples), 1)}


def _timer_overhead(n: int) -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        t0 = clock()
        t1 = clock()
        samples.append((t1 - t0) / 1000.0)
    return percentile(samples, 0.5)


def _bare_socket(context: zmq.Context, address: str) -> zmq.Socket:
    """A PUSH socket with the publisher's options, nothing else."""
    sock = context.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, 10_000)
    sock.setsockopt(zmq.IMMEDIATE, 1)
    sock.connect(address)
    return sock


def _one_case(address: str, up: bool, n: int, rate: float) -> dict[str, Any]:
    payload = msgspec.json.encode(_message())
    context = zmq.Context()
    bare = _bare_socket(context, address)
    pub = Publisher(address, producer="bench-b3", heartbeat_interval=0, batch_backlog=True)
    try:
        if up:
            wait_until(lambda: pub.connected, 10, message="publisher connected")
            wait_until(lambda: bare.poll(0, zmq.POLLOUT), 10, message="bare socket connected")

        def bare_send(_: object) -> None:
            try:
                bare.send(payload, zmq.NOBLOCK)
            except zmq.Again:
                pass

        spins = _spin_iterations(0.9)
        steal = _steal_share()
        publish_us = _paced(n, rate, pub.publish, _message)
        plain_us = _paced(n, rate, pub.publish, _plain_message)
        trade_us = _paced(n, rate, lambda _: pub.trade("buy", 1.0, symbol="BTCUSDT", price=100.5))
        bare_us = _paced(n, rate, bare_send)
        spin_us = _paced(n, rate, lambda _: _spin(spins))
        steal_share = steal()
        queued = sum(pub.stats().sent.values())  # the timed publish() and trade() calls only
        causes = _tail_causes(n, rate, pub.publish, _message, backlog=pub.backlog)
        bare_causes = _tail_causes(n, rate, bare_send, lambda: None)
        spin_causes = _tail_causes(n, rate, lambda _: _spin(spins), lambda: None)
    finally:
        pub.close()
        bare.close(linger=0)
        context.term()
    return {"publish": _stats(publish_us), "publish_plain": _stats(plain_us), "trade": _stats(trade_us),
            "bare_send": _stats(bare_us), "spin_control": _stats(spin_us), "steal_share": steal_share,
            "queued": queued, "samples": publish_us,
            "tail_causes": {"publish": causes, "bare_send": bare_causes, "spin_control": spin_causes}}


KEYS = ("publish", "publish_plain", "trade", "bare_send", "spin_control")


def run(log_dir: Path, n: int, rate: float, repeats: int) -> dict[str, Any]:
    registry = CollectorRegistry()
    counter = Counter("bench_trades", "B3 baseline", ["side", "symbol"], registry=registry)
    cases: dict[str, list[dict[str, Any]]] = {"up": [], "down": []}
    prom: list[dict[str, float]] = []
    for _ in range(repeats):
        sidecar = start_sidecar(log_dir)
        try:
            cases["up"].append(_one_case(sidecar.zmq, True, n, rate))
        finally:
            sidecar.stop()
        cases["down"].append(_one_case(f"tcp://127.0.0.1:{free_port()}", False, n, rate))
        prom.append(_stats(_paced(n, rate, lambda _: counter.labels("buy", "BTCUSDT").inc())))

    def med(rows: list[dict[str, Any]], key: str, q: str) -> float:
        values = sorted(r[key][q] for r in rows)
        return values[len(values) // 2]

    out: dict[str, Any] = {"n": n, "rate": rate, "repeats": repeats, "timer_overhead_us": _timer_overhead(10_000),
                           "prometheus_labels_inc": {"p50": med([{"x": p} for p in prom], "x", "p50"),
                                                     "p99": med([{"x": p} for p in prom], "x", "p99")}}
    for case, rows in cases.items():
        out[case] = {key: {"p50": med(rows, key, "p50"), "p99": med(rows, key, "p99"),
                           "over_5us": med(rows, key, "over_5us"),
                           "over_20us": med(rows, key, "over_20us")}
                     for key in KEYS}
        out[case]["runs"] = [{key: {q: r[key][q] for q in ("p50", "p99", "over_5us")} for key in KEYS} for r in rows]
        out[case]["steal_share"] = [r["steal_share"] for r in rows]
        out[case]["queued"] = rows[-1]["queued"]
        out[case]["tail_causes"] = [r["tail_causes"] for r in rows]
        out[case]["samples"] = rows[-1]["samples"]
    return out
