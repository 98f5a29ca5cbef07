//! The Python face of the hop-latency histograms: `_core.HopHistograms`.
//!
//! Every method runs under the caller's `state.lock`; a panic inside the core
//! is caught here and raised as `RuntimeError` (an `Exception`, so the socket
//! loops count the frame as `internal_error` and go on).

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use pyo3::exceptions::{PyIndexError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::hops::{HopSet, Keep, NoSuchSeries, HOPS, KINDS};
use crate::text::{write_hop_families, Exemplar};

/// What an observed event leaves in each bucket it lands in: its identity
/// (read into text only at scrape time) and its receive time. Held as Rust
/// values, so it needs no GIL to read or drop; written in place over an
/// earlier event's when no bucket holds that any more (`Identities`), so its
/// buffers are reused.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Identity {
    producer: Option<String>,
    seq: SeqLabel,
    event_id: Option<String>,
    recv: f64,
}

/// An exemplar's `seq`: the core's integer (made text at scrape time), or the
/// text of what `observe_event` was given.
#[derive(Debug, Clone, PartialEq)]
enum SeqLabel {
    Absent,
    Int(i64),
    Text(Box<str>),
}

/// An event's identity as the apply has it (borrowed; nothing is copied until
/// a bucket keeps it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdentityRef<'a> {
    pub(crate) producer: Option<&'a str>,
    pub(crate) seq: Option<i64>,
    /// The text of a seq that is not the core's integer (`observe_event`).
    pub(crate) seq_text: Option<&'a str>,
    pub(crate) event_id: Option<&'a str>,
    pub(crate) recv: f64,
}

impl IdentityRef<'_> {
    fn seq_label(&self) -> SeqLabel {
        match (self.seq, self.seq_text) {
            (Some(n), _) => SeqLabel::Int(n),
            (None, Some(text)) => SeqLabel::Text(Box::from(text)),
            (None, None) => SeqLabel::Absent,
        }
    }
}

fn keep_text(kept: &mut Option<String>, source: Option<&str>) {
    match (kept.as_mut(), source) {
        (Some(text), Some(source)) => {
            text.clear();
            text.push_str(source);
        }
        (None, Some(source)) => *kept = Some(source.to_owned()),
        (_, None) => *kept = None,
    }
}

impl Keep<IdentityRef<'_>> for Identity {
    fn keep(source: &IdentityRef<'_>) -> Identity {
        Identity {
            producer: source.producer.map(str::to_owned),
            seq: source.seq_label(),
            event_id: source.event_id.map(str::to_owned),
            recv: source.recv,
        }
    }

    fn keep_into(&mut self, source: &IdentityRef<'_>) {
        keep_text(&mut self.producer, source.producer);
        match (&mut self.seq, source.seq) {
            (SeqLabel::Int(kept), Some(n)) => *kept = n,
            (seq, _) => *seq = source.seq_label(),
        }
        keep_text(&mut self.event_id, source.event_id);
        self.recv = source.recv;
    }
}

/// One identity per event, shared by the buckets it lands in.
type Histograms = HopSet<Arc<Identity>>;

/// The identities of the last few events, reused: an event's identity is
/// written over the oldest one's when no bucket still holds that (no
/// allocation per event once the buckets have settled).
#[derive(Default)]
pub(crate) struct Identities {
    ring: Vec<Arc<Identity>>,
    next: usize,
}

impl Identities {
    const SIZE: usize = 8;

    /// The shared identity of an event, to hand to the hop histograms.
    pub(crate) fn take(&mut self, source: &IdentityRef<'_>) -> Arc<Identity> {
        if self.ring.len() < Self::SIZE {
            let identity = Arc::new(Identity::keep(source));
            self.ring.push(Arc::clone(&identity));
            return identity;
        }
        let at = self.next % Self::SIZE;
        self.next = at + 1;
        let Some(slot) = self.ring.get_mut(at) else {
            return Arc::new(Identity::keep(source));
        };
        match Arc::get_mut(slot) {
            Some(identity) => identity.keep_into(source),
            None => *slot = Arc::new(Identity::keep(source)),
        }
        Arc::clone(slot)
    }
}

#[pyclass(module = "metrics_sidecar._core")]
pub struct HopHistograms {
    pub(crate) set: Histograms,
    pub(crate) identities: Identities,
    clocks: Vec<String>,
}

fn guard<T>(work: impl FnOnce() -> Result<T, NoSuchSeries>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(NoSuchSeries)) => Err(PyIndexError::new_err("no such hop or message type")),
        Err(_) => Err(PyRuntimeError::new_err(
            "internal error in the core's hop histograms",
        )),
    }
}

fn text_of(py: Python<'_>, value: &Option<PyObject>) -> Option<String> {
    let value = value.as_ref()?.bind(py);
    if let Ok(text) = value.downcast::<PyString>() {
        return text.to_str().ok().map(str::to_owned);
    }
    value.str().ok()?.to_str().ok().map(str::to_owned)
}

#[pymethods]
impl HopHistograms {
    /// `bounds`: the classic bucket bounds; `ring_size`: samples kept per hop
    /// for the exact quantiles; `hop_max`: the largest value a hop can take;
    /// `clocks`: "same"/"cross" per (type, hop), type-major.
    #[new]
    #[pyo3(signature = (*, bounds, ring_size, hop_max, clocks))]
    fn new(
        bounds: Vec<f64>,
        ring_size: usize,
        hop_max: f64,
        clocks: Vec<String>,
    ) -> PyResult<Self> {
        if clocks.len() != HOPS.len() * KINDS.len() {
            return Err(PyValueError::new_err("clocks: one per (type, hop)"));
        }
        if bounds.windows(2).any(|w| matches!(w, [a, b] if a >= b))
            || bounds.iter().any(|b| b.is_nan())
        {
            return Err(PyValueError::new_err("bounds must increase"));
        }
        Ok(HopHistograms {
            set: HopSet::new(bounds, ring_size, hop_max),
            identities: Identities::default(),
            clocks,
        })
    }

    /// One applied event: every hop of its type (the first two only with
    /// `sent`), its negatives, peaks and exemplars, and trade_latency for a trade.
    #[pyo3(signature = (kind, ts, sent, recv, applied, event_id, producer, seq))]
    #[allow(clippy::too_many_arguments)]
    fn observe_event(
        &mut self,
        py: Python<'_>,
        kind: usize,
        ts: f64,
        sent: Option<f64>,
        recv: f64,
        applied: f64,
        event_id: Option<PyObject>,
        producer: Option<PyObject>,
        seq: Option<PyObject>,
    ) -> PyResult<()> {
        let (producer, seq, event_id) = (
            text_of(py, &producer),
            text_of(py, &seq),
            text_of(py, &event_id),
        );
        let identity = Arc::new(Identity::keep(&IdentityRef {
            producer: producer.as_deref(),
            seq: None,
            seq_text: seq.as_deref(),
            event_id: event_id.as_deref(),
            recv,
        }));
        guard(|| {
            self.set
                .observe_event(kind, ts, sent, recv, applied, &identity)
        })
    }

    /// True when applying an event of this type would make a latency sum infinite.
    fn would_overflow(&self, kind: usize) -> PyResult<bool> {
        guard(|| self.set.would_overflow(kind))
    }

    /// Moves the hop-max window on to `now`'s slot.
    fn roll_peaks(&mut self, now: f64) -> PyResult<()> {
        guard(|| {
            self.set.roll_peaks(now);
            Ok(())
        })
    }

    /// (per-bucket counts, sum, count) of one hop.
    fn histogram(&self, hop: usize, kind: usize) -> PyResult<(Vec<u64>, f64, u64)> {
        guard(|| {
            self.set
                .hop(hop, kind)
                .map(|h| (h.counts.clone(), h.sum, h.count))
        })
    }

    /// (per-bucket counts, sum, count) of trade_latency_seconds.
    fn trade_latency(&self) -> (Vec<u64>, f64, u64) {
        let h = &self.set.trade_latency;
        (h.counts.clone(), h.sum, h.count)
    }

    /// The largest sample of the current and previous peak slot, or None.
    fn window_max(&self, hop: usize, kind: usize) -> PyResult<Option<f64>> {
        guard(|| self.set.hop(hop, kind).map(|h| h.window_max()))
    }

    /// Per hop, the samples of this type that came out negative.
    fn negative(&self, kind: usize) -> PyResult<[u64; 4]> {
        guard(|| self.set.negative(kind))
    }

    /// (zero-bucket count, {native bucket index: count}) of one hop.
    fn native(&self, hop: usize, kind: usize) -> PyResult<(u64, BTreeMap<i32, u64>)> {
        guard(|| {
            self.set.hop(hop, kind).map(|h| {
                let buckets = h.native.as_ref().map(|n| n.to_map());
                (h.native_zero, buckets.unwrap_or_default())
            })
        })
    }

    /// The raw sample ring of one hop: (values, pos, filled).
    fn ring(&self, hop: usize, kind: usize) -> PyResult<(Vec<f64>, usize, usize)> {
        guard(|| {
            self.set.hop(hop, kind).map(|h| {
                h.ring
                    .as_ref()
                    .map(|r| (r.values.clone(), r.pos, r.filled))
                    .unwrap_or_default()
            })
        })
    }

    /// The recent samples of one hop, oldest first, as little-endian float64
    /// bytes (`numpy.frombuffer` wraps them without a copy).
    fn samples<'py>(
        &self,
        py: Python<'py>,
        hop: usize,
        kind: usize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let samples = guard(|| {
            self.set
                .hop(hop, kind)
                .map(|h| h.ring.as_ref().map(|r| r.samples()).unwrap_or_default())
        })?;
        let bytes: Vec<u8> = samples.iter().flat_map(|v| v.to_le_bytes()).collect();
        Ok(PyBytes::new(py, &bytes))
    }

    /// Restores one hop's classic buckets; False when the bucket count differs.
    fn restore_histogram(
        &mut self,
        hop: usize,
        kind: usize,
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    ) -> PyResult<bool> {
        guard(|| {
            self.set
                .hop_mut(hop, kind)
                .map(|h| h.restore(counts, sum, count))
        })
    }

    /// Restores trade_latency_seconds; False when the bucket count differs.
    fn restore_trade_latency(&mut self, counts: Vec<u64>, sum: f64, count: u64) -> bool {
        self.set.trade_latency.restore(counts, sum, count)
    }

    /// Restores one hop's native buckets.
    fn restore_native(
        &mut self,
        hop: usize,
        kind: usize,
        zero: u64,
        buckets: BTreeMap<i32, u64>,
    ) -> PyResult<()> {
        guard(|| {
            self.set.hop_mut(hop, kind).map(|h| {
                h.native_zero = zero;
                h.native
                    .get_or_insert_with(Default::default)
                    .restore(buckets);
            })
        })
    }

    /// Restores one hop's sample ring (of another size: its newest samples).
    fn restore_ring(
        &mut self,
        hop: usize,
        kind: usize,
        values: Vec<f64>,
        pos: usize,
        filled: usize,
    ) -> PyResult<()> {
        guard(|| {
            self.set.hop_mut(hop, kind).map(|h| {
                if let Some(ring) = h.ring.as_mut() {
                    ring.restore(values, pos, filled);
                }
            })
        })
    }

    /// Restores the negative counts of one type.
    fn restore_negative(&mut self, kind: usize, counts: [u64; 4]) -> PyResult<()> {
        guard(|| self.set.restore_negative(kind, counts))
    }

    /// The hop families of the text exposition (OpenMetrics, with exemplars,
    /// when `openmetrics`), after moving the hop-max window on to `now`.
    fn write_text(&mut self, openmetrics: bool, now: f64) -> PyResult<String> {
        let mut out = String::new();
        let exemplar = |x: &Arc<Identity>| Exemplar {
            pairs: [
                ("producer", x.producer.clone()),
                (
                    "seq",
                    match &x.seq {
                        SeqLabel::Absent => None,
                        SeqLabel::Int(n) => Some(n.to_string()),
                        SeqLabel::Text(text) => Some(text.to_string()),
                    },
                ),
                ("event_id", x.event_id.clone()),
            ]
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name, v)))
            .collect(),
            timestamp: x.recv,
        };
        guard(|| {
            self.set.roll_peaks(now);
            write_hop_families(&self.set, &self.clocks, openmetrics, exemplar, &mut out);
            Ok(())
        })?;
        Ok(out)
    }
}
