//! The hop-latency histograms: for each of the four hops of each of the three
//! message types, the classic buckets, sum and count, the native (schema 3)
//! buckets, the exact-quantile sample ring, the per-bucket exemplar and the
//! two-slot peak; the negative-sample counts; and `trade_latency_seconds`.
//!
//! One `observe_event` per applied event does all of it (the rules are in
//! docs/metrics.md, "Clock skew" and the hop families). The exemplar payload `X`
//! is whatever the caller keeps per event (the Python layer: its identity
//! fields), written into each bucket it lands in (`Keep`).

use std::collections::BTreeMap;

/// In the order of the sidecar's `state.HOPS` (tests/test_hop_core.py holds them equal).
pub const HOPS: [&str; 4] = [
    "event_to_send",
    "send_to_receive",
    "receive_to_apply",
    "event_to_apply",
];
/// In the order of `state.MESSAGE_TYPES`.
pub const KINDS: [&str; 3] = ["trade", "tick", "heartbeat"];
/// Native buckets: bucket i = (2**((i-1)/8), 2**(i/8)].
pub const NATIVE_SCHEMA: i32 = 3;
const NATIVE_SCALE: f64 = 8.0;
/// 2**-128: values at or below it (and clamped negatives, 0) go to the zero bucket.
pub const NATIVE_ZERO_THRESHOLD: f64 = f64::from_bits((1023 - 128) << 52);
/// hop_latency_max_seconds: the max over the current and the previous 15 s slot.
pub const PEAK_SLOT_SECONDS: f64 = 15.0;

/// What a bucket keeps of the observation that lands in it (`X`), made from
/// what the caller hands over per event (`S`): `keep_into` overwrites the
/// bucket's previous exemplar in place, reusing its buffers, so an exemplar
/// costs no allocation once its bucket has held one.
pub trait Keep<S: ?Sized> {
    fn keep(source: &S) -> Self;
    fn keep_into(&mut self, source: &S);
}

impl<X: Clone> Keep<X> for X {
    fn keep(source: &X) -> X {
        source.clone()
    }

    fn keep_into(&mut self, source: &X) {
        self.clone_from(source);
    }
}

/// A histogram index the core does not have.
#[derive(Debug, PartialEq, Eq)]
pub struct NoSuchSeries;

/// The last `size` raw samples, for exact recent quantiles.
#[derive(Clone, Debug, PartialEq)]
pub struct Ring {
    pub values: Vec<f64>,
    pub pos: usize,
    pub filled: usize,
}

impl Ring {
    pub fn new(size: usize) -> Self {
        Ring {
            values: vec![0.0; size],
            pos: 0,
            filled: 0,
        }
    }

    pub fn add(&mut self, value: f64) {
        let size = self.values.len();
        if let Some(slot) = self.values.get_mut(self.pos) {
            *slot = value;
            self.pos = if self.pos + 1 < size { self.pos + 1 } else { 0 };
            if self.filled < size {
                self.filled += 1;
            }
        }
    }

    /// Oldest first.
    pub fn samples(&self) -> Vec<f64> {
        if self.filled < self.values.len() {
            return self.values.get(..self.filled).unwrap_or_default().to_vec();
        }
        let (head, tail) = self.values.split_at(self.pos.min(self.values.len()));
        tail.iter().chain(head).copied().collect()
    }

    /// A saved ring (`values`, `pos`, `filled`); of a ring of another size, the
    /// newest samples that fit.
    pub fn restore(&mut self, values: Vec<f64>, pos: usize, filled: usize) {
        if values.len() == self.values.len() && pos < values.len().max(1) && filled <= values.len()
        {
            self.values = values;
            self.pos = pos;
            self.filled = filled;
            return;
        }
        let old = Ring {
            pos: pos.min(values.len().saturating_sub(1)),
            filled: filled.min(values.len()),
            values,
        };
        *self = Ring::new(self.values.len());
        let samples = old.samples();
        let keep = samples.len().saturating_sub(self.values.len());
        for value in samples.into_iter().skip(keep) {
            self.add(value);
        }
    }
}

/// Linear-interpolated quantile (numpy's default method) of sorted data; NaN when empty.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let k = last as f64 * q;
    let lo = (k as usize).min(last);
    let hi = (lo + 1).min(last);
    match (sorted.get(lo), sorted.get(hi)) {
        (Some(a), Some(b)) => a + (b - a) * (k - lo as f64),
        _ => f64::NAN,
    }
}

/// Native bucket indexes kept in an array (no map look-up per observation):
/// values from 2**-32 s to 2**40 s, far beyond any hop.
const DENSE_LOW: i32 = -256;
const DENSE_LEN: usize = 576;

/// A histogram's native buckets, index -> count: an array over the usual
/// indexes (made on first use), and a map for any other index and for an
/// index restored with a count of 0 (so that it is still listed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NativeBuckets {
    dense: Vec<u64>,
    /// Indexes outside the array, and restored zeros inside it (whose counts
    /// the array's add to: only zeros are kept here for those).
    sparse: BTreeMap<i32, u64>,
}

impl NativeBuckets {
    fn add(&mut self, key: i32) {
        let slot = usize::try_from(key.wrapping_sub(DENSE_LOW))
            .ok()
            .filter(|i| *i < DENSE_LEN);
        if let Some(i) = slot {
            if self.dense.is_empty() {
                self.dense = vec![0; DENSE_LEN];
            }
            if let Some(count) = self.dense.get_mut(i) {
                *count = count.saturating_add(1);
                return;
            }
        }
        let count = self.sparse.entry(key).or_insert(0);
        *count = count.saturating_add(1);
    }

    /// Every listed index with its count.
    pub fn to_map(&self) -> BTreeMap<i32, u64> {
        let mut map = self.sparse.clone();
        for (key, count) in (DENSE_LOW..).zip(&self.dense) {
            if *count > 0 {
                let total = map.entry(key).or_insert(0);
                *total = total.saturating_add(*count);
            }
        }
        map
    }

    /// Replaces every bucket (a snapshot being restored).
    pub fn restore(&mut self, buckets: BTreeMap<i32, u64>) {
        *self = NativeBuckets::default();
        for (key, count) in buckets {
            let slot = usize::try_from(key.wrapping_sub(DENSE_LOW))
                .ok()
                .filter(|i| *i < DENSE_LEN);
            match slot {
                Some(i) if count > 0 => {
                    if self.dense.is_empty() {
                        self.dense = vec![0; DENSE_LEN];
                    }
                    if let Some(slot) = self.dense.get_mut(i) {
                        *slot = count;
                    }
                }
                _ => {
                    self.sparse.insert(key, count);
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Histogram<X> {
    /// Per bucket (the last is +Inf), not cumulative.
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
    /// Native buckets: index -> count (hop histograms only).
    pub native: Option<NativeBuckets>,
    pub native_zero: u64,
    peak: f64,
    previous_peak: f64,
    /// Per bucket, the last exemplar observed in it, with its value.
    pub exemplars: Vec<Option<(X, f64)>>,
    pub ring: Option<Ring>,
}

impl<X: Clone> Histogram<X> {
    fn new(buckets: usize, ring: Option<Ring>, native: bool) -> Self {
        Histogram {
            counts: vec![0; buckets + 1],
            sum: 0.0,
            count: 0,
            native: native.then(NativeBuckets::default),
            native_zero: 0,
            peak: f64::NEG_INFINITY,
            previous_peak: f64::NEG_INFINITY,
            exemplars: vec![None; buckets + 1],
            ring,
        }
    }

    fn observe(&mut self, bounds: &[f64], value: f64, exemplar: Option<&X>) {
        let index = self.record(bounds, value);
        if let (Some(exemplar), Some(slot)) = (exemplar, self.exemplars.get_mut(index)) {
            *slot = Some((exemplar.clone(), value));
        }
    }

    /// `observe`, the exemplar kept from `source` (in place, see `Keep`).
    fn observe_keeping<S: ?Sized>(&mut self, bounds: &[f64], value: f64, source: &S)
    where
        X: Keep<S>,
    {
        let index = self.record(bounds, value);
        if let Some(slot) = self.exemplars.get_mut(index) {
            match slot {
                Some((kept, at)) => {
                    kept.keep_into(source);
                    *at = value;
                }
                None => *slot = Some((X::keep(source), value)),
            }
        }
    }

    /// Everything an observation changes but the exemplar: the index of its bucket.
    fn record(&mut self, bounds: &[f64], value: f64) -> usize {
        // Prometheus buckets are "le": a value equal to a bound belongs to it.
        let index = bounds.partition_point(|bound| *bound < value);
        if let Some(count) = self.counts.get_mut(index) {
            *count = count.saturating_add(1);
        }
        self.sum += value;
        self.count = self.count.saturating_add(1);
        if value > self.peak {
            self.peak = value;
        }
        if let Some(native) = self.native.as_mut() {
            if value > NATIVE_ZERO_THRESHOLD {
                native.add((value.log2() * NATIVE_SCALE).ceil() as i32);
            } else {
                self.native_zero = self.native_zero.saturating_add(1);
            }
        }
        if let Some(ring) = self.ring.as_mut() {
            ring.add(value);
        }
        index
    }

    fn roll_peak(&mut self, slots: u32) {
        self.previous_peak = if slots == 1 {
            self.peak
        } else {
            f64::NEG_INFINITY
        };
        self.peak = f64::NEG_INFINITY;
    }

    /// Largest value of the current and previous peak slots, None when both are empty.
    pub fn window_max(&self) -> Option<f64> {
        let top = self.peak.max(self.previous_peak);
        (top != f64::NEG_INFINITY).then_some(top)
    }

    /// Restores counts, sum and count; false (nothing changed) when the bucket count differs.
    pub fn restore(&mut self, counts: Vec<u64>, sum: f64, count: u64) -> bool {
        if counts.len() != self.counts.len() {
            return false;
        }
        self.counts = counts;
        self.sum = sum;
        self.count = count;
        true
    }
}

/// Python's float `//` (CPython's `_float_div_mod`), so a slot boundary falls
/// exactly where the Python code put it.
pub fn floor_div(vx: f64, wx: f64) -> f64 {
    let modulo = vx % wx;
    let mut div = (vx - modulo) / wx;
    if modulo != 0.0 && ((wx < 0.0) != (modulo < 0.0)) {
        div -= 1.0;
    }
    if div != 0.0 {
        let floor = div.floor();
        if div - floor > 0.5 {
            floor + 1.0
        } else {
            floor
        }
    } else {
        0.0f64.copysign(vx / wx)
    }
}

/// `[slot * 15, (slot + 1) * 15)`: the times `floor_div(t, 15)` puts in
/// `slot`. Exact while every number involved is an integer below 2**53 (then
/// the fmod, the subtraction and the division are all exact, and floor_div is
/// floor(t / 15)); otherwise an empty range, so the caller divides.
fn slot_times(slot: f64) -> (f64, f64) {
    const EXACT: f64 = (1u64 << 48) as f64;
    if slot.abs() < EXACT {
        (slot * PEAK_SLOT_SECONDS, (slot + 1.0) * PEAK_SLOT_SECONDS)
    } else {
        (f64::NAN, f64::NAN)
    }
}

/// Every hop histogram, the negative counts and trade_latency_seconds.
pub struct HopSet<X> {
    pub bounds: Vec<f64>,
    /// Index `kind * 4 + hop`.
    hops: Vec<Histogram<X>>,
    pub trade_latency: Histogram<X>,
    /// Per kind, per hop: samples that came out negative (observed as 0).
    negative: [[u64; 4]; 3],
    peak_slot: f64,
    /// The times whose slot is `peak_slot`, known without a division (`slot_times`).
    slot_times: (f64, f64),
    /// The largest value a histogram can be given (see `would_overflow`).
    hop_max: f64,
}

impl<X: Clone> HopSet<X> {
    pub fn new(bounds: Vec<f64>, ring_size: usize, hop_max: f64) -> Self {
        let buckets = bounds.len();
        let hops = (0..HOPS.len() * KINDS.len())
            .map(|_| Histogram::new(buckets, Some(Ring::new(ring_size)), true))
            .collect();
        HopSet {
            trade_latency: Histogram::new(buckets, None, false),
            bounds,
            hops,
            negative: [[0; 4]; 3],
            peak_slot: 0.0,
            slot_times: slot_times(0.0),
            hop_max,
        }
    }

    pub fn hop(&self, hop: usize, kind: usize) -> Result<&Histogram<X>, NoSuchSeries> {
        if hop >= HOPS.len() {
            return Err(NoSuchSeries);
        }
        self.hops.get(kind * HOPS.len() + hop).ok_or(NoSuchSeries)
    }

    pub fn hop_mut(&mut self, hop: usize, kind: usize) -> Result<&mut Histogram<X>, NoSuchSeries> {
        if hop >= HOPS.len() {
            return Err(NoSuchSeries);
        }
        self.hops
            .get_mut(kind * HOPS.len() + hop)
            .ok_or(NoSuchSeries)
    }

    pub fn negative(&self, kind: usize) -> Result<[u64; 4], NoSuchSeries> {
        self.negative.get(kind).copied().ok_or(NoSuchSeries)
    }

    pub fn restore_negative(&mut self, kind: usize, counts: [u64; 4]) -> Result<(), NoSuchSeries> {
        *self.negative.get_mut(kind).ok_or(NoSuchSeries)? = counts;
        Ok(())
    }

    /// True when a histogram this event would feed could not take one more
    /// value without its sum becoming infinite: the event is refused whole.
    /// Every hop value is a difference of two times below `hop_max` (the schema
    /// bounds and the future check): a sum that can take `hop_max` more can
    /// take any of them.
    pub fn would_overflow(&self, kind: usize) -> Result<bool, NoSuchSeries> {
        let start = kind * HOPS.len();
        let hops = self
            .hops
            .get(start..start + HOPS.len())
            .ok_or(NoSuchSeries)?;
        let full = |h: &Histogram<X>| h.sum + self.hop_max > f64::MAX;
        Ok((kind == 0 && full(&self.trade_latency)) || hops.iter().any(full))
    }

    /// One applied event: its four hops (the first two only with `sent`), and
    /// for a trade, trade_latency_seconds. A negative hop is counted and
    /// observed as 0, so the histogram's count stays exact.
    #[allow(clippy::too_many_arguments)]
    pub fn observe_event<S: ?Sized>(
        &mut self,
        kind: usize,
        ts: f64,
        sent: Option<f64>,
        recv: f64,
        applied: f64,
        exemplar: &S,
    ) -> Result<(), NoSuchSeries>
    where
        X: Keep<S>,
    {
        let start = kind * HOPS.len();
        if kind >= KINDS.len() {
            return Err(NoSuchSeries);
        }
        let (from, to) = self.slot_times;
        let same_slot = from <= applied && applied < to;
        if !same_slot && floor_div(applied, PEAK_SLOT_SECONDS) != self.peak_slot {
            self.roll_peaks(applied);
        }
        let bounds = &self.bounds;
        let negative = self.negative.get_mut(kind).ok_or(NoSuchSeries)?;
        let hops = self
            .hops
            .get_mut(start..start + HOPS.len())
            .ok_or(NoSuchSeries)?;
        let mut observe = |hop: usize, value: f64| {
            let value = if value < 0.0 {
                if let Some(n) = negative.get_mut(hop) {
                    *n = n.saturating_add(1);
                }
                0.0
            } else {
                value
            };
            if let Some(histogram) = hops.get_mut(hop) {
                histogram.observe_keeping(bounds, value, exemplar);
            }
        };
        if let Some(sent) = sent {
            observe(0, sent - ts);
            observe(1, recv - sent);
        }
        observe(2, applied - recv);
        observe(3, applied - ts);
        if kind == 0 {
            let latency = recv - ts;
            let latency = if latency > 0.0 { latency } else { 0.0 };
            self.trade_latency.observe(&self.bounds, latency, None);
        }
        Ok(())
    }

    /// Moves the peak window on to `now`'s slot.
    pub fn roll_peaks(&mut self, now: f64) {
        let slot = floor_div(now, PEAK_SLOT_SECONDS);
        let passed = slot - self.peak_slot;
        if passed == 0.0 {
            return;
        }
        self.peak_slot = slot;
        self.slot_times = slot_times(slot);
        // A clock that went back (replay, a step) starts afresh, as a long gap does.
        let slots = if passed == 1.0 { 1 } else { 2 };
        for histogram in &mut self.hops {
            histogram.roll_peak(slots);
        }
    }
}

#[cfg(test)]
#[path = "hops_tests.rs"]
mod tests;
