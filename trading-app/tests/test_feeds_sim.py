"""The simulated feed: GBM step statistics for a seed, and the feed itself
publishing through a real publisher to a real PULL socket."""

from __future__ import annotations

import itertools
import math
import random
import statistics
import threading

import pytest
import zmq

from telemetry_testkit.sockets import recv_json
from trading_app.feeds.base import FeedStats, TickSink
from trading_app.feeds.sim import SECONDS_PER_YEAR, START_PRICES, GbmWalk, SimFeed, walks_for
from trading_app.prices import LastPrices
from trading_app.telemetry.push import PushPublisher as Publisher

drain = recv_json


@pytest.mark.parametrize(("mu", "sigma", "dt"), [(0.0, 0.8, 1.0), (0.5, 0.3, 60.0), (-1.0, 2.0, 3600.0)])
def test_gbm_log_returns_have_the_textbook_mean_and_variance(mu: float, sigma: float, dt: float) -> None:
    walk = GbmWalk(100.0, random.Random(42), mu=mu, sigma=sigma)
    n = 20_000
    prices = [walk.price] + [walk.step(dt) for _ in range(n)]
    returns = [math.log(b / a) for a, b in itertools.pairwise(prices)]
    years = dt / SECONDS_PER_YEAR
    expected_mean = (mu - sigma**2 / 2) * years
    expected_sd = sigma * math.sqrt(years)
    # Sample statistics of n normal draws: the mean is within 4 standard errors,
    # the standard deviation within 3 % (its relative standard error is ~0.5 %).
    assert abs(statistics.fmean(returns) - expected_mean) < 4 * expected_sd / math.sqrt(n)
    assert statistics.stdev(returns) == pytest.approx(expected_sd, rel=0.03)


def test_gbm_is_reproducible_for_a_seed_and_always_positive() -> None:
    a = walks_for(["BTCUSDT", "XYZ"], seed=7)
    b = walks_for(["BTCUSDT", "XYZ"], seed=7)
    c = walks_for(["BTCUSDT", "XYZ"], seed=8)
    path_a = [(a["BTCUSDT"].step(1), a["XYZ"].step(1)) for _ in range(100)]
    path_b = [(b["BTCUSDT"].step(1), b["XYZ"].step(1)) for _ in range(100)]
    path_c = [(c["BTCUSDT"].step(1), c["XYZ"].step(1)) for _ in range(100)]
    assert path_a == path_b
    assert path_a != path_c
    assert a["BTCUSDT"].price != START_PRICES["BTCUSDT"]
    wild = GbmWalk(1.0, random.Random(1), sigma=5.0)
    assert all(wild.step(86_400) > 0 for _ in range(1000))  # exact solution: never <= 0


def test_walks_start_at_realistic_levels() -> None:
    walks = walks_for(["BTCUSDT", "ethusdt", "NEWCOIN"], seed=1)
    assert [w.price for w in walks.values()] == [65_000.0, 3_200.0, 100.0]


def test_sim_feed_publishes_exactly_count_ticks_round_robin(pull: tuple[zmq.Socket, str]) -> None:
    sock, address = pull
    prices = LastPrices()
    with Publisher(address, producer="test-sim", heartbeat_interval=0) as pub:
        assert pub.wait_connected(5)
        feed = SimFeed(TickSink(pub, prices, FeedStats("sim")), ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
                       tps=1000, seed=3, count=30)
        feed.run()
        messages = drain(sock, 30)
    assert not sock.poll(100)
    assert feed.stats.snapshot()["ticks_sent"] == 30
    assert [m["symbol"] for m in messages] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"] * 10
    assert {m["source"] for m in messages} == {"sim"}
    assert all(m["type"] == "tick" and m["price"] > 0 and m["volume"] >= 0 for m in messages)
    last = {m["symbol"]: m["price"] for m in messages}
    assert prices.all() == last
    # Same seed, same prices: tests downstream can assert exact values.
    again = walks_for(["BTCUSDT", "ETHUSDT", "SOLUSDT"], seed=3)
    expected = [again[s].step(1 / 1000) for _ in range(10) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")]
    assert [m["price"] for m in messages] == expected


def test_sim_feed_stops_promptly_from_another_thread(pull: tuple[zmq.Socket, str]) -> None:
    _sock, address = pull
    with Publisher(address, heartbeat_interval=0) as pub:
        feed = SimFeed(TickSink(pub, None, FeedStats("sim")), ["BTCUSDT"], tps=0.5, seed=1)
        thread = threading.Thread(target=feed.run)
        thread.start()
        feed.stop()  # the feed is waiting 2 s for its next round: stop must cut that short
        thread.join(2)
        assert not thread.is_alive()
    assert feed.emitted <= 1


def test_sim_feed_rejects_nonsense() -> None:
    sink = TickSink(None, None, FeedStats("sim"))  # type: ignore[arg-type]  # never used
    with pytest.raises(ValueError, match="symbol"):
        SimFeed(sink, [], tps=1)
    with pytest.raises(ValueError, match="tps"):
        SimFeed(sink, ["A"], tps=0)
