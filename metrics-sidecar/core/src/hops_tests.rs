//! Unit tests of the hop histograms (hops.rs): buckets, native buckets, samples, exemplars.

use super::*;

const BOUNDS: [f64; 3] = [0.001, 0.01, 0.1];
const T0: f64 = 1_700_000_000.0;

fn set() -> HopSet<u32> {
    HopSet::new(BOUNDS.to_vec(), 4, 1e11)
}

#[test]
fn le_buckets_sum_count_and_exemplars() {
    let mut hops = set();
    for (id, delay) in [(1, 0.001), (2, 0.0005), (3, 7.0)] {
        hops.observe_event(2, T0, None, T0, T0 + delay, &id).ok();
    }
    let h = hops
        .hop(2, 2)
        .ok()
        .cloned()
        .unwrap_or_else(|| panic!("no hop"));
    assert_eq!(h.counts, vec![2, 0, 0, 1]); // 0.001 is le="0.001"
    assert_eq!(h.count, 3);
    assert_eq!(h.exemplars[0].map(|(id, _)| id), Some(2));
    assert_eq!(h.exemplars[3].map(|(id, _)| id), Some(3));
    assert_eq!(h.ring.map(|r| r.samples().len()), Some(3));
    // Without sent_ts, the first two hops stay empty.
    assert_eq!(hops.hop(0, 2).map(|h| h.count), Ok(0));
    assert_eq!(hops.hop(4, 0).map(|h| h.count), Err(NoSuchSeries));
    assert!(hops.observe_event(3, T0, None, T0, T0, &0).is_err());
}

#[test]
fn negatives_are_counted_and_observed_as_zero() {
    let mut hops = set();
    // ts after sent_ts, sent_ts after receive.
    hops.observe_event(0, T0 + 0.5, Some(T0 + 0.25), T0, T0 + 0.125, &1)
        .ok();
    assert_eq!(hops.negative(0), Ok([1, 1, 0, 1]));
    let h = hops
        .hop(1, 0)
        .ok()
        .cloned()
        .unwrap_or_else(|| panic!("no hop"));
    assert_eq!((h.counts[0], h.sum, h.native_zero), (1, 0.0, 1));
    assert_eq!(hops.trade_latency.counts[0], 1); // clamped too
}

#[test]
fn native_buckets_follow_schema_3() {
    let mut h: Histogram<u32> = Histogram::new(0, None, true);
    for value in [0.5, 0.05, 0.05, 0.0, 2f64.powi(-9) * 1.01] {
        h.observe(&[], value, None);
    }
    let expected: BTreeMap<i32, u64> = [(-8, 1), (-34, 2), (-71, 1)].into_iter().collect();
    assert_eq!(h.native.map(|n| n.to_map()), Some(expected));
    assert_eq!(h.native_zero, 1);
    assert_eq!(NATIVE_ZERO_THRESHOLD, 2f64.powi(-128));
}

#[test]
fn native_buckets_list_what_they_were_given() {
    let mut buckets = NativeBuckets::default();
    for key in [-257, -256, 0, 319, 320, 2000, -1000, 0] {
        buckets.add(key);
    }
    let listed: BTreeMap<i32, u64> = [
        (-1000, 1),
        (-257, 1),
        (-256, 1),
        (0, 2),
        (319, 1),
        (320, 1),
        (2000, 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(buckets.to_map(), listed);
    let restored: BTreeMap<i32, u64> = [(-300, 0), (-5, 0), (7, 3), (400, 2), (-1, u64::MAX)]
        .into_iter()
        .collect();
    buckets.restore(restored.clone());
    assert_eq!(buckets.to_map(), restored);
    buckets.add(-5);
    buckets.add(7);
    let mut expected = restored;
    expected.insert(-5, 1);
    expected.insert(7, 4);
    assert_eq!(buckets.to_map(), expected);
}

#[test]
fn the_peak_covers_two_slots() {
    let mut hops = set();
    hops.observe_event(2, T0, None, T0, T0 + 0.25, &1).ok();
    hops.observe_event(2, T0, None, T0 + 15.0, T0 + 15.0 + 0.0625, &2)
        .ok();
    assert_eq!(hops.hop(2, 2).map(|h| h.window_max()), Ok(Some(0.25)));
    hops.roll_peaks(T0 + 30.0);
    assert_eq!(hops.hop(2, 2).map(|h| h.window_max()), Ok(Some(0.0625)));
    hops.roll_peaks(T0 + 60.0);
    assert_eq!(hops.hop(2, 2).map(|h| h.window_max()), Ok(None));
}

#[test]
fn overflow_is_seen_before_it_happens() {
    let mut hops = set();
    assert_eq!(hops.would_overflow(2), Ok(false));
    hops.hop_mut(3, 2).map(|h| h.sum = f64::INFINITY).ok();
    assert_eq!(hops.would_overflow(2), Ok(true));
    assert_eq!(hops.would_overflow(0), Ok(false));
    hops.trade_latency.sum = f64::INFINITY;
    assert_eq!(hops.would_overflow(0), Ok(true));
    assert_eq!(hops.would_overflow(1), Ok(false));
    assert_eq!(hops.would_overflow(3), Err(NoSuchSeries));
}

#[test]
fn rings_keep_the_newest_and_restore_across_sizes() {
    let mut ring = Ring::new(4);
    for v in 0..6 {
        ring.add(f64::from(v));
    }
    assert_eq!(ring.samples(), vec![2.0, 3.0, 4.0, 5.0]);
    let mut smaller = Ring::new(3);
    smaller.restore(ring.values.clone(), ring.pos, ring.filled);
    assert_eq!(smaller.samples(), vec![3.0, 4.0, 5.0]);
    let mut same = Ring::new(4);
    same.restore(ring.values.clone(), ring.pos, ring.filled);
    assert_eq!(same, ring);
    let mut empty = Ring::new(0);
    empty.add(1.0);
    assert_eq!(empty.samples(), Vec::<f64>::new());
}

#[test]
fn quantiles_interpolate_like_numpy() {
    assert!(quantile(&[], 0.5).is_nan());
    assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
    assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 1.0), 4.0);
    assert_eq!(quantile(&[5.0], 0.99), 5.0);
}

#[test]
fn a_slot_s_times_are_the_ones_floor_div_puts_in_it() {
    for slot in [
        0.0,
        1.0,
        -1.0,
        113_333_333.0,
        2f64.powi(47),
        -(2f64.powi(47)),
    ] {
        let (from, to) = slot_times(slot);
        for t in [from, from.next_up(), to.next_down(), (from + to) / 2.0] {
            assert_eq!(floor_div(t, PEAK_SLOT_SECONDS), slot, "{t}");
        }
        assert_ne!(floor_div(to, PEAK_SLOT_SECONDS), slot);
        assert_ne!(floor_div(from.next_down(), PEAK_SLOT_SECONDS), slot);
    }
    let (from, to) = slot_times(2f64.powi(60));
    assert!(from.is_nan() && to.is_nan());
    // The peaks roll exactly when the slot changes, with or without the shortcut.
    let mut hops = set();
    hops.observe_event(2, T0, None, T0, 14.75, &1).ok();
    hops.observe_event(2, T0, None, T0, 15.0, &2).ok();
    assert_eq!(hops.peak_slot, 1.0);
}

#[test]
fn floor_div_is_pythons() {
    assert_eq!(floor_div(T0, 15.0), 113_333_333.0);
    assert_eq!(floor_div(-1.0, 15.0), -1.0);
    assert_eq!(floor_div(0.0, 15.0), 0.0);
}
