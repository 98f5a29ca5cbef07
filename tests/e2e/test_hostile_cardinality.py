"""A producer that sends 100,000 random (pattern-valid) symbols cannot explode the
sidecar's series: with the default SIDECAR_MAX_SYMBOLS=1000, the first 1,000
distinct symbols become series, everything after goes to ``__overflow__`` and is
counted, exactly, in ``series_overflow_total{kind="symbol"}``."""

from __future__ import annotations

import json
import random
import re
import string
import time
from collections import Counter, defaultdict

import httpx
import zmq

from telemetry_testkit.procs import Service, wait_until
from telemetry_testkit.prom import scrape

MESSAGES = 100_000
CAP = 1000  # the default SIDECAR_MAX_SYMBOLS (the sidecar fixture sets no SIDECAR_* but ports)
FIRST = string.ascii_letters + string.digits
REST = FIRST + "._:/-"
SYMBOL_LABEL = re.compile(r'\bsymbol="((?:[^"\\]|\\.)*)"')


def random_symbol(rng: random.Random) -> str:
    return rng.choice(FIRST) + "".join(rng.choices(REST, k=rng.randint(0, 31)))


def test_100k_random_symbols_stay_within_the_series_cap(sidecar: Service, push: zmq.Socket) -> None:
    rng = random.Random(2024)
    used: list[str] = []
    series: set[str] = set()
    overflow: Counter[str] = Counter()
    frames: list[bytes] = []
    now = time.time()
    for i in range(MESSAGES):
        # One message in five reuses a symbol already seen: those never overflow if it has a series.
        symbol = rng.choice(used) if used and rng.random() < 0.2 else random_symbol(rng)
        used.append(symbol)
        kind = "tick" if i % 2 else "trade"
        if symbol not in series:
            if len(series) < CAP:
                series.add(symbol)
            else:
                overflow[kind] += 1
        if kind == "tick":
            message = {"type": "tick", "symbol": symbol, "price": 100 + rng.random(), "ts": now, "source": "sim"}
        else:
            message = {"type": "trade", "side": "buy", "qty": 1, "ts": now, "symbol": symbol}
        frames.append(json.dumps(message).encode())
    for frame in frames:
        push.send(frame)

    metrics = wait_until(
        lambda: (m := scrape(sidecar.http + "/metrics/"))
        and m.get('messages_received_total{type="trade"}', 0) + m.get('messages_received_total{type="tick"}', 0)
        == MESSAGES and m, 120, interval=0.5, message=f"{MESSAGES} messages")
    assert sum(v for k, v in metrics.items() if k.startswith("messages_invalid_total")) == 0
    assert metrics['series_overflow_total{kind="symbol"}'] == overflow["trade"] + overflow["tick"]
    assert metrics['trades_total{side="buy",symbol="__overflow__"}'] == overflow["trade"]
    assert metrics['ticks_total{source="sim",symbol="__overflow__"}'] == overflow["tick"]

    started = time.perf_counter()
    response = httpx.get(sidecar.http + "/metrics/", timeout=30)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    per_family: dict[str, set[str]] = defaultdict(set)
    for line in response.text.splitlines():
        if not line.startswith("#") and (match := SYMBOL_LABEL.search(line)):
            per_family[line.split("{", 1)[0]].add(match.group(1))
    assert per_family, "no symbol series at all"
    for family, symbols in per_family.items():
        assert len(symbols) <= CAP + 1, (family, len(symbols))  # the cap, plus __overflow__
    assert set().union(*per_family.values()) <= series | {"__overflow__", ""}
    print(f"\n{MESSAGES} messages, {len(set(used))} distinct symbols, {sum(overflow.values())} overflowed; "
          f"scrape: {len(response.content) / 1e6:.2f} MB, {len(response.text.splitlines())} lines, "
          f"{elapsed * 1000:.0f} ms; most symbols in one family: {max(len(s) for s in per_family.values())}")
