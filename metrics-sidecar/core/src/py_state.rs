//! The Python face of the sidecar's state: `_core.StateCore`, the aggregates
//! (state.rs) plus the dedup window, producer tracker, hop histograms and
//! clock offsets it holds (the same objects Python reads them through), so one
//! core call applies an event (`apply`). The read API hands out copies (rows
//! and tuples), taken under the caller's `state.lock`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyKeyError, PyRuntimeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use crate::py_analytics::Analytics;
use crate::py_dedup::RecentIds;
use crate::py_hops::{HopHistograms, IdentityRef};
use crate::py_ingest::{self, Hooks, Rejected, Stamp};
use crate::py_producers::ProducerTracker;
use crate::py_state_clock::ClockWindows;
use crate::py_state_recent::{Held, RecentRing};
use crate::python::Decoder;
use crate::state::{
    self, Aggregates, Input, Limits, Outcome, SymbolTicks, TradeRow, OVERFLOW_KINDS, SIDES,
};

fn guard<T>(work: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Err(PyRuntimeError::new_err(
            "internal error in the core's state",
        ))
    })
}

/// (name, last_price, last_ts, last_recv, spikes, out_of_order, [(source, ticks)])
pub type SymbolRow = (String, f64, f64, f64, u64, u64, Vec<(String, u64)>);

fn symbol_row(name: &str, s: &SymbolTicks) -> SymbolRow {
    (
        name.to_owned(),
        s.last_price,
        s.last_ts,
        s.last_recv,
        s.spikes,
        s.out_of_order,
        s.by_source.clone(),
    )
}

fn side_index(side: &str) -> PyResult<usize> {
    SIDES
        .iter()
        .position(|s| *s == side)
        .ok_or_else(|| PyValueError::new_err(format!("no such side: {side:?}")))
}

#[pyclass(module = "metrics_sidecar._core")]
pub struct StateCore {
    pub(crate) aggregates: Aggregates,
    pub(crate) dedup: Py<RecentIds>,
    pub(crate) producers: Py<ProducerTracker>,
    pub(crate) hops: Py<HopHistograms>,
    pub(crate) clocks: Py<ClockWindows>,
    pub(crate) recent: RecentRing,
    pub(crate) decoder: Py<Decoder>,
}

impl StateCore {
    /// Applies one event given as borrowed fields (the one apply of state.rs).
    pub(crate) fn apply_input(
        &mut self,
        py: Python<'_>,
        event: &Input,
        applied: f64,
    ) -> PyResult<Outcome> {
        let mut dedup = self.dedup.bind(py).try_borrow_mut()?;
        let mut producers = self.producers.bind(py).try_borrow_mut()?;
        let mut hops = self.hops.bind(py).try_borrow_mut()?;
        let mut clocks = self.clocks.bind(py).try_borrow_mut()?;
        let hops = &mut *hops;
        let parts = state::Parts {
            aggregates: &mut self.aggregates,
            dedup: &mut dedup.window,
            producers: &mut producers.tracker,
            hops: &mut hops.set,
            clocks: &mut clocks.offsets,
        };
        let identities = &mut hops.identities;
        let exemplar = || {
            identities.take(&IdentityRef {
                producer: event.producer,
                seq: event.seq,
                seq_text: None,
                event_id: event.event_id,
                recv: event.recv,
            })
        };
        guard(|| {
            state::apply(parts, event, applied, exemplar)
                .map_err(|_| PyValueError::new_err("no such message type"))
        })
    }
}

fn optional_str<'py>(value: &'py Bound<'py, PyAny>) -> PyResult<Option<&'py str>> {
    if value.is_none() {
        return Ok(None);
    }
    Ok(Some(value.downcast::<PyString>()?.to_str()?))
}

#[pymethods]
impl StateCore {
    #[new]
    #[pyo3(signature = (*, max_symbols, max_age, max_future, spike, reasons, dedup, producers, hops, clocks,
        events_buffer, decoder))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        max_symbols: usize,
        max_age: f64,
        max_future: f64,
        spike: f64,
        reasons: Vec<String>,
        dedup: Py<RecentIds>,
        producers: Py<ProducerTracker>,
        hops: Py<HopHistograms>,
        clocks: Py<ClockWindows>,
        events_buffer: usize,
        decoder: Py<Decoder>,
    ) -> Self {
        let limits = Limits {
            max_symbols,
            max_age,
            max_future,
            spike,
        };
        StateCore {
            aggregates: Aggregates::new(limits, reasons),
            dedup,
            producers,
            hops,
            clocks,
            recent: RecentRing::new(events_buffer),
            decoder,
        }
    }

    /// Applies one decoded event object (events.py) at `applied`: None when
    /// applied, "" when dropped as a duplicate, else the refusal reason.
    fn apply<'py>(
        &mut self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
        applied: f64,
    ) -> PyResult<Option<&'static str>> {
        let kind_name = event.getattr(intern!(py, "kind"))?;
        let kind = match kind_name.downcast::<PyString>()?.to_str()? {
            "trade" => 0,
            "tick" => 1,
            "heartbeat" => 2,
            other => return Err(PyValueError::new_err(format!("no such kind: {other:?}"))),
        };
        let field = |name: &Bound<'py, PyString>| event.getattr(name);
        let producer = field(intern!(py, "producer"))?;
        let instance = field(intern!(py, "instance"))?;
        let event_id = field(intern!(py, "event_id"))?;
        let (side, symbol, source);
        let (mut side_i, mut qty, mut price) = (0, 0.0, 0.0);
        let mut source_str = "unknown";
        if kind == 0 {
            side = field(intern!(py, "side"))?;
            side_i = side_index(side.downcast::<PyString>()?.to_str()?)?;
            qty = field(intern!(py, "qty"))?.extract()?;
        }
        if kind != 2 {
            symbol = field(intern!(py, "symbol"))?;
        } else {
            symbol = py.None().into_bound(py);
        }
        if kind == 1 {
            price = field(intern!(py, "price"))?.extract()?;
            source = field(intern!(py, "source"))?;
            source_str = source.downcast::<PyString>()?.to_str()?;
        }
        let input = Input {
            kind,
            ts_s: field(intern!(py, "ts_s"))?.extract()?,
            sent: field(intern!(py, "sent_ts"))?.extract()?,
            recv: field(intern!(py, "recv_ts"))?.extract()?,
            side: side_i,
            qty,
            symbol: optional_str(&symbol)?,
            price,
            source: source_str,
            producer: optional_str(&producer)?,
            instance: optional_str(&instance)?,
            seq: field(intern!(py, "seq"))?.extract()?,
            event_id: optional_str(&event_id)?,
        };
        Ok(match self.apply_input(py, &input, applied)? {
            Outcome::Applied => {
                self.recent.push(Held::Object(event.clone().unbind()));
                None
            }
            Outcome::Duplicate => Some(""),
            Outcome::Refused(refusal) => Some(refusal.as_str()),
        })
    }

    /// Decodes and applies a drained batch of frames in one call (py_ingest.rs):
    /// (messages the frames held, [(reason, frame prefix or None)] rejected).
    #[pyo3(signature = (frames, recv, stamps=None, arrays=true, *, max_bytes, journal=None, clock=None,
        analytics=None, published=None))]
    #[allow(clippy::too_many_arguments)]
    fn ingest<'py>(
        &mut self,
        py: Python<'py>,
        frames: &Bound<'py, PyList>,
        recv: Vec<f64>,
        stamps: Option<Vec<Option<Stamp>>>,
        arrays: bool,
        max_bytes: usize,
        journal: Option<Bound<'py, PyAny>>,
        clock: Option<Bound<'py, PyAny>>,
        analytics: Option<Bound<'py, Analytics>>,
        published: Option<Bound<'py, PyList>>,
    ) -> PyResult<(usize, Vec<Rejected<'py>>)> {
        let hooks = Hooks {
            journal,
            clock,
            analytics,
            published,
        };
        py_ingest::ingest(
            py,
            self,
            frames,
            &recv,
            stamps.as_deref(),
            arrays,
            max_bytes,
            &hooks,
        )
    }

    /// Replays journal records `ingest` wrote (py_ingest.rs) in one call: (records
    /// replayed, records this version cannot read, bytes of a torn record at the end).
    fn replay(&mut self, py: Python<'_>, records: &[u8]) -> PyResult<(usize, usize, usize)> {
        py_ingest::replay(py, self, records)
    }

    /// The PULL socket's drain (zmq_drain.rs, py_ingest.rs): `first` (with its
    /// more-flag), then what is queued on `socket` (pyzmq's `Socket.underlying`:
    /// open, and used by this thread only), up to `budget` messages, as one batch:
    /// (messages taken, rejected as `ingest`, in_multipart after, errno or 0).
    #[pyo3(signature = (libzmq, socket, first, first_more, in_multipart, budget, *, max_bytes, delay=0.0,
        journal=None, clock=None, analytics=None, published=None))]
    #[allow(clippy::too_many_arguments)]
    fn drain<'py>(
        &mut self,
        py: Python<'py>,
        libzmq: PyRef<'py, crate::zmq_drain::LibZmq>,
        socket: usize,
        first: Option<Bound<'py, pyo3::types::PyBytes>>,
        first_more: bool,
        in_multipart: bool,
        budget: usize,
        max_bytes: usize,
        delay: f64,
        journal: Option<Bound<'py, PyAny>>,
        clock: Option<Bound<'py, PyAny>>,
        analytics: Option<Bound<'py, Analytics>>,
        published: Option<Bound<'py, PyList>>,
    ) -> PyResult<(usize, Vec<Rejected<'py>>, bool, i32)> {
        let hooks = Hooks {
            journal,
            clock,
            analytics,
            published,
        };
        let first = first.as_ref().map(|f| (f.as_bytes(), first_more));
        let (out, rejected) = guard(|| {
            py_ingest::drain(
                py,
                self,
                &libzmq.api,
                socket,
                first,
                in_multipart,
                budget,
                max_bytes,
                delay,
                &hooks,
            )
        })?;
        Ok((out.messages, rejected, out.in_multipart, out.errno))
    }

    /// Up to `limit` (default: all) recent events, newest first unless `newest_first`
    /// is false; the objects are built here for events the batch ingest kept decoded.
    #[pyo3(signature = (limit=None, newest_first=true))]
    fn recent(
        &self,
        py: Python<'_>,
        limit: Option<usize>,
        newest_first: bool,
    ) -> PyResult<Vec<PyObject>> {
        let decoder = self.decoder.get();
        let limit = limit.unwrap_or(usize::MAX);
        self.recent.objects(py, decoder, newest_first, limit)
    }

    fn recent_len(&self) -> usize {
        self.recent.len()
    }

    /// Replaces the recent events (a snapshot being restored), oldest first.
    fn set_recent(&mut self, events: Vec<PyObject>) {
        self.recent.clear();
        for event in events {
            self.recent.push(Held::Object(event));
        }
    }

    /// Counts one rejected message by reason; an unknown reason is a KeyError.
    fn reject(&mut self, reason: &str) -> PyResult<()> {
        if self.aggregates.reject(reason) {
            Ok(())
        } else {
            Err(PyKeyError::new_err(reason.to_owned()))
        }
    }

    // -- reads (copies) and restores -------------------------------------------
    /// (side, symbol, count, volume) per trade series, in the order they were made.
    fn trades(&self) -> Vec<(&'static str, String, u64, f64)> {
        let side = |i: usize| SIDES.get(i).copied().unwrap_or("");
        self.aggregates
            .trades()
            .iter()
            .map(|r| (side(r.side), r.symbol.clone(), r.count, r.volume))
            .collect()
    }

    fn set_trades(&mut self, rows: Vec<(String, String, u64, f64)>) -> PyResult<()> {
        let rows = rows
            .into_iter()
            .map(|(side, symbol, count, volume)| {
                Ok(TradeRow {
                    side: side_index(&side)?,
                    symbol,
                    count,
                    volume,
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        self.aggregates.set_trades(rows);
        Ok(())
    }

    #[getter]
    fn get_last_trade_ts(&self) -> Option<f64> {
        self.aggregates.last_trade_ts
    }

    #[setter]
    fn set_last_trade_ts(&mut self, value: Option<f64>) {
        self.aggregates.last_trade_ts = value;
    }

    #[getter]
    fn get_duplicates(&self) -> u64 {
        self.aggregates.duplicates
    }

    #[setter]
    fn set_duplicates(&mut self, value: u64) {
        self.aggregates.duplicates = value;
    }

    /// (type, count) per message type.
    fn received(&self) -> Vec<(&'static str, u64)> {
        crate::hops::KINDS
            .iter()
            .copied()
            .zip(self.aggregates.received)
            .collect()
    }

    fn set_received(&mut self, kind: &str, value: u64) -> PyResult<()> {
        let i = crate::hops::KINDS.iter().position(|k| *k == kind);
        let slot = i.and_then(|i| self.aggregates.received.get_mut(i));
        let slot = slot.ok_or_else(|| PyKeyError::new_err(kind.to_owned()))?;
        *slot = value;
        Ok(())
    }

    /// (reason, count) per reason.
    fn invalid(&self) -> Vec<(String, u64)> {
        self.aggregates
            .invalid()
            .map(|(r, n)| (r.to_owned(), n))
            .collect()
    }

    fn set_invalid(&mut self, reason: &str, value: u64) -> PyResult<()> {
        if self.aggregates.set_invalid(reason, value) {
            Ok(())
        } else {
            Err(PyKeyError::new_err(reason.to_owned()))
        }
    }

    /// (kind, count) of series_overflow_total: symbol, producer, source.
    fn overflow(&self) -> Vec<(&'static str, u64)> {
        OVERFLOW_KINDS
            .iter()
            .copied()
            .zip(self.aggregates.overflow)
            .collect()
    }

    fn set_overflow(&mut self, kind: &str, value: u64) -> PyResult<()> {
        let i = OVERFLOW_KINDS.iter().position(|k| *k == kind);
        let slot = i.and_then(|i| self.aggregates.overflow.get_mut(i));
        let slot = slot.ok_or_else(|| PyKeyError::new_err(kind.to_owned()))?;
        *slot = value;
        Ok(())
    }

    /// Every symbol series, in the order they were made.
    fn symbols(&self) -> Vec<SymbolRow> {
        self.aggregates
            .symbols()
            .iter()
            .map(|(name, s)| symbol_row(name, s))
            .collect()
    }

    fn symbol_names(&self) -> Vec<String> {
        self.aggregates
            .symbols()
            .iter()
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn symbol(&self, name: &str) -> Option<SymbolRow> {
        self.aggregates.symbol(name).map(|s| symbol_row(name, s))
    }

    fn has_symbol(&self, name: &str) -> bool {
        self.aggregates.symbol(name).is_some()
    }

    fn symbol_count(&self) -> usize {
        self.aggregates.symbols().len()
    }

    fn set_symbols(&mut self, rows: Vec<SymbolRow>) {
        let rows = rows
            .into_iter()
            .map(
                |(name, last_price, last_ts, last_recv, spikes, out_of_order, by_source)| {
                    let ticks = SymbolTicks {
                        last_price,
                        last_ts,
                        last_recv,
                        spikes,
                        out_of_order,
                        by_source,
                    };
                    (name, ticks)
                },
            )
            .collect();
        self.aggregates.set_symbols(rows);
    }
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<StateCore>()?;
    module.add_class::<crate::zmq_drain::LibZmq>()?;
    module.add("MAX_SOURCES", state::MAX_SOURCES)?;
    crate::py_state_clock::register(module)
}
