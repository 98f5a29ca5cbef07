//! The rules of `state.rs`: caps, refusals and their order, out-of-order ticks.

use super::*;

const BOUNDS: [f64; 3] = [0.001, 0.01, 0.1];

struct World {
    aggregates: Aggregates,
    dedup: RecentIds,
    producers: Tracker,
    hops: HopSet<()>,
    clocks: ClockOffsets,
}

fn world(max_symbols: usize) -> World {
    let limits = Limits {
        max_symbols,
        max_age: 60.0,
        max_future: 5.0,
        spike: 0.1,
    };
    let reasons = ["bad_json", "stale", "future_timestamp", "overflow"];
    World {
        aggregates: Aggregates::new(limits, reasons.iter().map(|r| r.to_string()).collect()),
        dedup: RecentIds::new(100),
        producers: Tracker::new(4, 16),
        hops: HopSet::new(BOUNDS.to_vec(), 8, 1e11),
        clocks: ClockOffsets::new(4),
    }
}

impl World {
    fn apply(&mut self, event: &Input) -> Outcome {
        let parts = Parts {
            aggregates: &mut self.aggregates,
            dedup: &mut self.dedup,
            producers: &mut self.producers,
            hops: &mut self.hops,
            clocks: &mut self.clocks,
        };
        apply(parts, event, event.recv + 0.001, || ()).unwrap_or_else(|_| panic!("no such series"))
    }

    fn invalid(&self, reason: &str) -> u64 {
        self.aggregates
            .invalid()
            .find(|(r, _)| *r == reason)
            .map_or(u64::MAX, |(_, n)| n)
    }
}

fn trade(symbol: Option<&str>, qty: f64) -> Input<'_> {
    Input {
        kind: 0,
        ts_s: 1000.0,
        sent: None,
        recv: 1000.0,
        side: 0,
        qty,
        symbol,
        price: 0.0,
        source: "unknown",
        producer: None,
        instance: None,
        seq: None,
        event_id: None,
    }
}

fn tick<'a>(symbol: &'a str, source: &'a str, ts: f64, price: f64) -> Input<'a> {
    Input {
        kind: 1,
        ts_s: ts,
        symbol: Some(symbol),
        source,
        price,
        ..trade(None, 0.0)
    }
}

#[test]
fn trades_aggregate_per_side_and_symbol_seed_messages_under_empty() {
    let mut w = world(10);
    assert_eq!(w.apply(&trade(Some("A"), 2.0)), Outcome::Applied);
    assert_eq!(w.apply(&trade(Some("A"), 3.0)), Outcome::Applied);
    assert_eq!(
        w.apply(&Input {
            side: 1,
            ..trade(None, 1.5)
        }),
        Outcome::Applied
    );
    let rows: Vec<_> = w
        .aggregates
        .trades()
        .iter()
        .map(|r| (r.side, r.symbol.as_str(), r.count, r.volume))
        .collect();
    assert_eq!(rows, vec![(0, "A", 2, 5.0), (1, "", 1, 1.5)]);
    assert_eq!(w.aggregates.received, [3, 0, 0]);
    assert_eq!(w.aggregates.last_trade_ts, Some(1000.0));
}

#[test]
fn symbols_beyond_the_cap_share_the_overflow_series() {
    let mut w = world(2);
    w.apply(&trade(Some("A"), 1.0));
    w.apply(&tick("B", "x", 1000.0, 1.0));
    w.apply(&trade(Some("C"), 1.0));
    w.apply(&tick("D", "x", 1000.0, 2.0));
    w.apply(&trade(Some("A"), 1.0)); // known: no overflow
    let names: Vec<_> = w
        .aggregates
        .symbols()
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names, vec!["A", "B", OVERFLOW_LABEL]);
    assert_eq!(w.aggregates.overflow, [2, 0, 0]);
    assert_eq!(
        w.aggregates.trade(0, OVERFLOW_LABEL).map(|r| r.count),
        Some(1)
    );
    assert_eq!(
        w.aggregates.symbol(OVERFLOW_LABEL).map(|s| s.last_price),
        Some(2.0)
    );
}

#[test]
fn sources_beyond_sixteen_share_the_overflow_label() {
    let mut w = world(10);
    let names: Vec<String> = (0..MAX_SOURCES + 2).map(|i| format!("s{i}")).collect();
    for name in &names {
        w.apply(&tick("A", name, 1000.0, 1.0));
    }
    let sym = w.aggregates.symbol("A").cloned().unwrap_or_default();
    assert_eq!(sym.by_source.len(), MAX_SOURCES + 1);
    assert_eq!(sym.by_source.last(), Some(&(OVERFLOW_LABEL.to_owned(), 2)));
    assert_eq!(w.aggregates.overflow, [0, 0, 2]);
}

#[test]
fn an_out_of_order_tick_is_counted_and_never_rewinds_the_last_price() {
    let mut w = world(10);
    w.apply(&tick("A", "x", 1000.0, 100.0));
    w.apply(&tick("A", "x", 999.0, 50.0)); // older: out of order
    w.apply(&tick("A", "x", 1000.0, 120.0)); // a spike (> 10 %)
    let sym = w.aggregates.symbol("A").cloned().unwrap_or_default();
    assert_eq!(
        (sym.last_price, sym.last_ts, sym.out_of_order, sym.spikes),
        (120.0, 1000.0, 1, 1)
    );
    assert_eq!(sym.by_source, vec![("x".to_owned(), 3)]);
}

#[test]
fn refusals_are_counted_and_change_nothing_else() {
    let mut w = world(10);
    let future = Input {
        ts_s: 1005.5,
        ..trade(Some("A"), 1.0)
    };
    assert_eq!(w.apply(&future), Outcome::Refused(Refusal::FutureTimestamp));
    let sent_future = Input {
        sent: Some(1006.0),
        ..trade(Some("A"), 1.0)
    };
    assert_eq!(
        w.apply(&sent_future),
        Outcome::Refused(Refusal::FutureTimestamp)
    );
    let stale = tick("A", "x", 939.0, 1.0);
    assert_eq!(w.apply(&stale), Outcome::Refused(Refusal::Stale));
    assert_eq!((w.invalid("future_timestamp"), w.invalid("stale")), (2, 1));
    assert!(w.aggregates.trades().is_empty() && w.aggregates.symbols().is_empty());
    assert_eq!(w.aggregates.received, [0, 0, 0]);
}

#[test]
fn a_volume_sum_that_would_overflow_is_refused_whole() {
    let mut w = world(10);
    let event = Input {
        producer: Some("p"),
        seq: Some(1),
        event_id: Some("e1"),
        ..trade(Some("A"), 1e308)
    };
    assert_eq!(w.apply(&event), Outcome::Applied);
    let again = Input {
        seq: Some(2),
        event_id: Some("e2"),
        ..event
    };
    assert_eq!(w.apply(&again), Outcome::Refused(Refusal::Overflow));
    // Nothing of it: no seq, no event id, no aggregate.
    assert_eq!(
        w.aggregates.trade(0, "A").map(|r| (r.count, r.volume)),
        Some((1, 1e308))
    );
    assert_eq!(w.dedup.len(), 1);
    let i = w.producers.index_of("p").unwrap_or(usize::MAX);
    assert_eq!(w.producers.stats(i).map(|s| s.received), Some(1));
    assert_eq!(w.invalid("overflow"), 1);
    // The other side is a different sum.
    assert_eq!(w.apply(&Input { side: 1, ..again }), Outcome::Applied);
}

#[test]
fn the_future_check_comes_before_stale_and_overflow() {
    let mut w = world(10);
    w.apply(&trade(Some("A"), 1e308));
    let both = Input {
        ts_s: 2000.0,
        ..trade(Some("A"), 1e308)
    };
    assert_eq!(w.apply(&both), Outcome::Refused(Refusal::FutureTimestamp));
}

#[test]
fn duplicates_by_event_id_then_by_seq() {
    let mut w = world(10);
    let first = Input {
        producer: Some("p"),
        instance: Some("i"),
        seq: Some(1),
        event_id: Some("e"),
        sent: Some(999.9),
        ..trade(Some("A"), 1.0)
    };
    assert_eq!(w.apply(&first), Outcome::Applied);
    assert_eq!(
        w.apply(&Input {
            seq: Some(2),
            ..first
        }),
        Outcome::Duplicate
    );
    // seq 2 moved the stream on: seq 3 is no loss; seq 3 again is a resend.
    let third = Input {
        seq: Some(3),
        event_id: None,
        ..first
    };
    assert_eq!(w.apply(&third), Outcome::Applied);
    assert_eq!(w.apply(&third), Outcome::Duplicate);
    let i = w.producers.index_of("p").unwrap_or(usize::MAX);
    let stats = w.producers.stats(i).copied().unwrap_or_default();
    assert_eq!((stats.received, stats.lost), (2, 0));
    assert_eq!(w.aggregates.duplicates, 2);
    assert_eq!(w.aggregates.trade(0, "A").map(|r| r.count), Some(2));
    let offsets = w.clocks.details(1000.0);
    assert_eq!(offsets.len(), 1);
    assert!((offsets[0].1 - -0.1).abs() < 1e-9);
}

#[test]
fn a_rejection_by_an_unknown_reason_is_not_counted() {
    let mut w = world(10);
    assert!(w.aggregates.reject("bad_json"));
    assert!(!w.aggregates.reject("no_such_reason"));
    assert_eq!(w.invalid("bad_json"), 1);
}
