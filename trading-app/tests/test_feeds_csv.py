"""Stooq CSV parsing (table-driven, every skip reason), the replay schedule, the
replay itself through a real publisher, and the progress line."""

from __future__ import annotations

import io
import itertools
import time
from datetime import datetime
from pathlib import Path

import pytest
import zmq

from telemetry_testkit.sockets import recv_json
from trading_app.feeds import stooq
from trading_app.feeds.base import FeedStats, TickSink
from trading_app.feeds.csv_replay import CsvReplayFeed, load_bars, parse_speed, sample_path, schedule
from trading_app.feeds.progress import Progress, format_duration, render
from trading_app.prices import LastPrices
from trading_app.telemetry.push import PushPublisher as Publisher

SAMPLE = Path(__file__).resolve().parents[2] / "testdata" / "csv" / "aapl.us.csv"
HEADER = "Date,Time,Open,High,Low,Close,Volume"


drain = recv_json


def parse(text: str, symbol: str = "X") -> list[stooq.Bar | str]:
    return list(stooq.parse_lines(io.StringIO(text), symbol))


@pytest.mark.parametrize(("row", "expected"), [
    ("2024-05-13,15:35:00,185.44,185.54,184.87,184.98,2511587", (datetime(2024, 5, 13, 15, 35), 184.98, 2511587.0)),
    ("2024-05-13,15:35,1,1,1,2.5,0", (datetime(2024, 5, 13, 15, 35), 2.5, 0.0)),
    ("20240513,153500,1,1,1,2.5,10", (datetime(2024, 5, 13, 15, 35), 2.5, 10.0)),
    ("20240513,93000,1,1,1,2.5,10", (datetime(2024, 5, 13, 9, 30), 2.5, 10.0)),  # Stooq drops the leading 0
    (" 2024-05-13 , 15:35:00 ,1,1,1, 7 , 1e3", (datetime(2024, 5, 13, 15, 35), 7.0, 1000.0)),
    ("2024-05-13,15:35:00,1,1,1,2.5,", stooq.BAD_NUMBER),
    ("2024-05-13,15:35:00,1,1,1,2.5", stooq.BAD_COLUMNS),
    ("2024-05-13,15:35:00,1,1,1,2.5,1,9", stooq.BAD_COLUMNS),
    ("2024-13-13,15:35:00,1,1,1,2.5,1", stooq.BAD_TIMESTAMP),
    ("yesterday,15:35:00,1,1,1,2.5,1", stooq.BAD_TIMESTAMP),
    ("2024-05-13,25:00:00,1,1,1,2.5,1", stooq.BAD_TIMESTAMP),
    ("2024-05-13,15:35:00,1,1,1,abc,1", stooq.BAD_NUMBER),
    ("2024-05-13,15:35:00,1,1,1,nan,1", stooq.BAD_NUMBER),
    ("2024-05-13,15:35:00,1,1,1,inf,1", stooq.BAD_NUMBER),
    ("2024-05-13,15:35:00,1,1,1,1e999,1", stooq.BAD_NUMBER),
    ("2024-05-13,15:35:00,1,1,1,0,1", stooq.BAD_PRICE),
    ("2024-05-13,15:35:00,1,1,1,-3,1", stooq.BAD_PRICE),
    ("2024-05-13,15:35:00,1,1,1,2.5,-1", stooq.BAD_VOLUME),
])
def test_one_row(row: str, expected: tuple[datetime, float, float] | str) -> None:
    (item,) = parse(f"{HEADER}\n{row}\n", "AAPL.US")
    if isinstance(expected, str):
        assert item == expected
    else:
        assert isinstance(item, stooq.Bar)
        assert (item.at, item.close, item.volume, item.symbol, item.row) == (*expected, "AAPL.US", 1)


@pytest.mark.parametrize(("text", "expected"), [
    # Stooq's bulk .txt layout: <TICKER>,<PER>,<DATE>,<TIME>,...,<VOL>,<OPENINT>
    ("<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>\n"
     "AAPL.US,5,20240513,153500,185.44,185.54,184.87,184.98,2511587,0\n",
     (datetime(2024, 5, 13, 15, 35), 184.98, 2511587.0)),
    # A daily file: no Time column.
    ("Date,Open,High,Low,Close,Volume\n2024-05-13,1,2,0.5,1.5,100\n", (datetime(2024, 5, 13), 1.5, 100.0)),
    # An index: no Volume column.
    ("Date,Time,Open,High,Low,Close\n2024-05-13,15:35:00,1,2,0.5,1.5\n", (datetime(2024, 5, 13, 15, 35), 1.5, 0.0)),
])
def test_header_variants(text: str, expected: tuple[datetime, float, float]) -> None:
    (item,) = parse(text)
    assert isinstance(item, stooq.Bar)
    assert (item.at, item.close, item.volume) == expected


def test_not_a_price_file_is_an_error_not_a_crash() -> None:
    with pytest.raises(stooq.StooqFormatError, match="Date and Close"):
        parse("name,value\nx,1\n")
    with pytest.raises(stooq.StooqFormatError, match="empty"):
        parse("\n\n")


def test_blank_lines_are_ignored_and_rows_numbered() -> None:
    items = parse(f"\n{HEADER}\n2024-05-13,15:35:00,1,1,1,2,3\n\n2024-05-13,15:40:00,1,1,1,oops,3\n"
                  "2024-05-13,15:45:00,1,1,1,4,3\n")
    assert [i if isinstance(i, str) else (i.row, i.close) for i in items] == [(1, 2.0), stooq.BAD_NUMBER, (3, 4.0)]


@pytest.mark.parametrize(("path", "symbol"), [
    ("data/aapl.us.csv", "AAPL.US"), ("btcusd.txt", "BTCUSD"), ("x/My File.CSV", "MY-FILE"), ("...csv", "UNKNOWN"),
])
def test_symbol_from_the_file_name(path: str, symbol: str) -> None:
    assert stooq.symbol_from_path(path) == symbol


def test_the_shipped_sample() -> None:
    assert sample_path() == SAMPLE
    stats = FeedStats("csv")
    bars = load_bars([SAMPLE], stats)
    assert stooq.count_data_rows(SAMPLE) == len(bars) == 312
    assert stats.skipped == {}
    assert {b.symbol for b in bars} == {"AAPL.US"}
    assert bars[-1].close == float(SAMPLE.read_text().strip().splitlines()[-1].split(",")[5])
    assert all(a.at < b.at for a, b in itertools.pairwise(bars))


def test_several_files_merge_by_time_and_bad_rows_are_counted(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text(f"{HEADER}\n2024-01-01,10:00:00,1,1,1,1,1\n2024-01-01,10:10:00,1,1,1,3,1\n"
                                    "2024-01-01,10:15:00,1,1,1,0,1\n")
    (tmp_path / "b.csv").write_text(f"{HEADER}\n2024-01-01,10:05:00,1,1,1,2,1\nbroken\n"
                                    "2024-01-01,10:20:00,1,1,1,4,1\n")
    stats = FeedStats("csv")
    bars = load_bars([tmp_path / "a.csv", tmp_path / "b.csv"], stats)
    assert [(b.symbol, b.close) for b in bars] == [("A", 1.0), ("B", 2.0), ("A", 3.0), ("B", 4.0)]
    assert stats.skipped == {stooq.BAD_PRICE: 1, stooq.BAD_COLUMNS: 1}
    assert [b.symbol for b in load_bars([tmp_path / "a.csv"], FeedStats("csv"), symbol="ZZZ")] == ["ZZZ", "ZZZ"]


def test_schedule_keeps_gaps_scaled_by_speed_and_capped() -> None:
    bars = load_bars([SAMPLE], FeedStats("csv"))[76:81]  # last bars of day 1, first of day 2
    assert [b.at.strftime("%d %H:%M") for b in bars] == ["13 21:55", "13 22:00", "14 15:35", "14 15:40", "14 15:45"]
    overnight = (bars[2].at - bars[1].at).total_seconds()
    assert schedule(bars, 1.0) == [0.0, 300.0, 300.0 + overnight, 600.0 + overnight, 900.0 + overnight]
    assert schedule(bars, 60.0) == [0.0, 5.0, 5.0 + overnight / 60, 10.0 + overnight / 60, 15.0 + overnight / 60]
    assert schedule(bars, 60.0, max_gap=30.0) == [0.0, 5.0, 35.0, 40.0, 45.0]
    assert schedule(bars, None) == [0.0] * 5
    assert schedule([], 1.0) == []
    backwards = [bars[1], bars[0], bars[2]]  # time going backwards: no wait, never a negative one
    assert schedule(backwards, 1.0)[:2] == [0.0, 0.0]


@pytest.mark.parametrize(("text", "speed"), [("max", None), ("MAX", None), ("1", 1.0), ("60", 60.0),
                                             ("60x", 60.0), ("0.5", 0.5), (2, 2.0), (None, 1.0)])
def test_parse_speed(text: str | None, speed: float | None) -> None:
    assert parse_speed(text) == speed


@pytest.mark.parametrize("text", ["0", "-1", "fast", "inf", "nan"])
def test_parse_speed_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_speed(text)


def test_replay_at_max_speed_sends_every_row_with_now_as_event_time(pull: tuple[zmq.Socket, str]) -> None:
    sock, address = pull
    prices = LastPrices()
    progress: list[tuple[int, float | None]] = []
    with Publisher(address, producer="test-csv", heartbeat_interval=0) as pub:
        assert pub.wait_connected(5)
        feed = CsvReplayFeed(TickSink(pub, prices, FeedStats("csv")), [SAMPLE], speed=None,
                             on_progress=lambda done, left: progress.append((done, left)))
        assert feed.load() == 312
        feed.run()
        messages = drain(sock, 312)
    bars = feed.bars
    assert [m["price"] for m in messages] == [b.close for b in bars]
    assert [m["volume"] for m in messages] == [b.volume for b in bars]
    assert {(m["symbol"], m["source"]) for m in messages} == {("AAPL.US", "csv")}
    ts = [float(m["ts"]) for m in messages]
    assert ts == sorted(ts) and all(float(m["sent_ts"]) - t < 5 for m, t in zip(messages, ts, strict=True))
    ids = [str(m["event_id"]) for m in messages]
    assert ids[0] == f"csv-{feed.run_id}-AAPL.US-20240513T153500-1"
    assert ids[-1] == f"csv-{feed.run_id}-AAPL.US-20240516T220000-312"
    assert len(set(ids)) == 312
    assert prices.get("AAPL.US") == bars[-1].close
    assert progress[-1] == (312, None) and len(progress) == 312


def test_replay_at_nx_waits_the_scaled_gaps(tmp_path: Path, pull: tuple[zmq.Socket, str]) -> None:
    sock, address = pull
    csv = tmp_path / "btcusd.csv"
    csv.write_text(f"{HEADER}\n2024-01-01,00:00:00,1,1,1,100,1\n2024-01-01,00:00:02,1,1,1,101,1\n"
                   "2024-01-01,00:00:03,1,1,1,102,1\n")
    with Publisher(address, heartbeat_interval=0) as pub:
        assert pub.wait_connected(5)
        left: list[float | None] = []
        feed = CsvReplayFeed(TickSink(pub, None, FeedStats("csv")), [csv], speed=20.0,
                             on_progress=lambda _done, eta: left.append(eta))
        started = time.time()
        feed.run()
        messages = drain(sock, 3)
    ts = [float(m["ts"]) for m in messages]
    # Row i is never sent before its scheduled offset (0, 2 s / 20, 3 s / 20) from the start;
    # only that lower bound is asserted (a late row is followed by a catch-up, not a drift).
    assert [t - started >= offset - 0.002 for t, offset in zip(ts, (0.0, 0.1, 0.15), strict=True)] == [True] * 3
    assert left == [pytest.approx(0.15), pytest.approx(0.05), 0.0]


def test_replay_count_stops_early(pull: tuple[zmq.Socket, str]) -> None:
    sock, address = pull
    with Publisher(address, heartbeat_interval=0) as pub:
        assert pub.wait_connected(5)
        feed = CsvReplayFeed(TickSink(pub, None, FeedStats("csv")), [SAMPLE], speed=None, count=10)
        feed.run()
        assert len(drain(sock, 10)) == 10
        assert not sock.poll(100)
    assert feed.rows_done == 10


def test_progress_line() -> None:
    assert format_duration(None) == "--:--"
    assert format_duration(65.4) == "01:05"
    assert format_duration(3 * 3600 + 5) == "3:00:05"
    assert render(156, 312, 1234.4, 90) == "156/312 rows ( 50.0%)  1,234 rows/s  ETA 01:30"
    out = io.StringIO()  # not a terminal: plain lines, throttled, and a final one
    bar = Progress(312, out, label="replay")
    bar.update(1, 10.0)
    bar.update(2, 9.0)  # within 5 s of the last line: not drawn
    bar.finish(312)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("replay: 1/312 rows") and "ETA 00:10" in lines[0]
    assert lines[1].startswith("replay: 312/312 rows (100.0%)") and lines[1].endswith("ETA 00:00")
