"""GET /events on a real sidecar with filters: type=, producer= and instance=
pick exactly the matching events, newest first, at most limit, however many
other events arrived after them; a bad filter is a 422 naming the parameter."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import zmq

from telemetry_testkit.procs import Service, wait_until


def _send(push: zmq.Socket, message: dict[str, object]) -> None:
    push.send(json.dumps(message).encode())


def test_filters_pick_one_producer_instances_trades(sidecar: Service, push: zmq.Socket) -> None:
    now = time.time()
    mine = {"producer": "ui-a", "instance": "inst1"}
    for seq in range(1, 4):  # three trades of ours, each followed by noise from others
        # One seq per producer instance: ours goes 1 (trade), 2 (heartbeat), 3 (trade), ...
        _send(push, {"type": "trade", "side": "buy" if seq % 2 else "sell", "qty": seq, "symbol": "BTCUSDT",
                     "ts": now, "seq": 2 * seq - 1, **mine})
        _send(push, {"type": "heartbeat", "ts": now, "seq": 2 * seq, **mine})
        _send(push, {"type": "trade", "side": "buy", "qty": 9, "ts": now, "producer": "ui-a", "instance": "inst2",
                     "seq": seq})
        _send(push, {"type": "trade", "side": "sell", "qty": 7, "ts": now, "producer": "other", "seq": seq})
        _send(push, {"type": "tick", "symbol": "BTCUSDT", "price": 100 + seq, "ts": now, "producer": "feed",
                     "seq": seq})
    url = sidecar.http + "/events"
    wait_until(lambda: len(httpx.get(url, params={"limit": 100}).json()["events"]) == 15, 10,
               message="all 15 events received")

    def get(**params: Any) -> list[dict[str, object]]:
        response = httpx.get(url, params=params)
        assert response.status_code == 200, response.text
        return list(response.json()["events"])

    rows = get(type="trade", producer="ui-a", instance="inst1", limit=10)
    assert [(e["seq"], e["side"], e["qty"], e["symbol"]) for e in rows] == [
        (5, "buy", 3.0, "BTCUSDT"), (3, "sell", 2.0, "BTCUSDT"), (1, "buy", 1.0, "BTCUSDT")]
    assert all(e["type"] == "trade" and e["producer"] == "ui-a" and e["instance"] == "inst1" for e in rows)
    assert [e["seq"] for e in get(type="trade", producer="ui-a", instance="inst1", limit=2)] == [5, 3]
    assert [(e["instance"], e["seq"]) for e in get(type="trade", producer="ui-a", limit=4)] == [
        ("inst2", 3), ("inst1", 5), ("inst2", 2), ("inst1", 3)]
    assert [e["seq"] for e in get(producer="ui-a", instance="inst1", limit=3)] == [6, 5, 4]
    assert [e["price"] for e in get(type="tick")] == [103.0, 102.0, 101.0]
    assert [e["seq"] for e in get(type="trade", producer="other")] == [3, 2, 1]
    assert get(type="trade", producer="nobody") == []
    assert len(get()) == 15  # no filter: every recent event, as before

    for params, name in (({"type": "order"}, "type"), ({"producer": "bad name"}, "producer"),
                         ({"instance": "x" * 65}, "instance"), ({"limit": 0}, "limit")):
        response = httpx.get(url, params=params)
        assert response.status_code == 422
        assert name in response.text
