//! The Python face of the core: `metrics_sidecar._core`.

use pyo3::exceptions::PyValueError;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyString, PyTuple};
use pyo3::{ffi, IntoPyObjectExt};

use crate::event::{self, Event, Kind, Reason, Rules, Seq, Ts};
use crate::guarded;
use crate::pattern::Pattern;

/// Decodes frames into the sidecar's event objects (built by calling the event
/// classes given at construction), or answers the rejection reason as a str.
#[pyclass(frozen, module = "metrics_sidecar._core")]
pub(crate) struct Decoder {
    pub(crate) rules: Rules,
    trade: EventClass,
    tick: EventClass,
    heartbeat: EventClass,
    normalize_ts: PyObject,
}

/// Set once the first traceback of a failure inside the core has been printed:
/// input can trigger the failure, so later ones are only counted
/// (`internal_error`, logged rate-limited by the socket loops), never a log flood.
static REPORTED: AtomicBool = AtomicBool::new(false);

pub(crate) fn report(py: Python<'_>, error: PyErr) {
    if !REPORTED.swap(true, Ordering::Relaxed) {
        error.print(py);
    }
}

fn pattern(regex: &str) -> PyResult<Pattern> {
    Pattern::parse(regex).map_err(PyValueError::new_err)
}

#[pymethods]
impl Decoder {
    #[new]
    #[pyo3(signature = (*, trade, tick, heartbeat, normalize_ts, max_depth, symbol_pattern, producer_pattern,
        instance_pattern, source_pattern, event_id_max_len, seq_max=None, qty_max=f64::INFINITY,
        price_max=f64::INFINITY, sent_ts_below=f64::INFINITY, ts_seconds_below, ts_millis_below))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        trade: PyObject,
        tick: PyObject,
        heartbeat: PyObject,
        normalize_ts: PyObject,
        max_depth: usize,
        symbol_pattern: &str,
        producer_pattern: &str,
        instance_pattern: &str,
        source_pattern: &str,
        event_id_max_len: usize,
        seq_max: Option<u64>,
        qty_max: f64,
        price_max: f64,
        sent_ts_below: f64,
        ts_seconds_below: f64,
        ts_millis_below: f64,
    ) -> PyResult<Self> {
        let rules = Rules {
            max_depth,
            symbol: pattern(symbol_pattern)?,
            producer: pattern(producer_pattern)?,
            instance: pattern(instance_pattern)?,
            source: pattern(source_pattern)?,
            event_id_max_len,
            seq_max,
            qty_max,
            price_max,
            sent_ts_below,
            ts_seconds_below,
            ts_millis_below,
        };
        Ok(Decoder {
            rules,
            trade: EventClass::new(py, trade, &TRADE_NAMES)?,
            tick: EventClass::new(py, tick, &TICK_NAMES)?,
            heartbeat: EventClass::new(py, heartbeat, &HEARTBEAT_NAMES)?,
            normalize_ts,
        })
    }

    /// One JSON object -> event, or the reason it was rejected. Never raises.
    fn decode(&self, py: Python<'_>, frame: &[u8]) -> PyObject {
        let iso = |text: &str| self.iso(py, text);
        let decoded = guarded(|| event::decode(frame, &self.rules, &iso));
        self.answer(py, decoded)
    }

    /// A JSON array of objects -> one result per element (see `decode`).
    fn decode_batch(&self, py: Python<'_>, frame: &[u8]) -> Vec<PyObject> {
        let iso = |text: &str| self.iso(py, text);
        match guarded(|| Ok(event::decode_batch(frame, &self.rules, &iso))) {
            Ok(results) => results
                .into_iter()
                .map(|result| self.answer(py, result))
                .collect(),
            Err(reason) => vec![reason_str(py, reason)],
        }
    }
}

impl Decoder {
    pub(crate) fn iso(&self, py: Python<'_>, text: &str) -> Result<Option<f64>, ()> {
        let seconds = self
            .normalize_ts
            .call1(py, (text,))
            .map_err(|error| report(py, error))?;
        seconds
            .extract::<Option<f64>>(py)
            .map_err(|error| report(py, error))
    }

    fn answer(&self, py: Python<'_>, decoded: Result<Event<'_>, Reason>) -> PyObject {
        let built = decoded.map(|event| self.build(py, &event, 0.0));
        match built {
            Ok(Ok(object)) => object,
            Ok(Err(error)) => {
                report(py, error); // an event class refused its fields: a bug, not bad input
                reason_str(py, Reason::InternalError)
            }
            Err(reason) => reason_str(py, reason),
        }
    }

    /// The event object of `event`, received at `recv` (`recv_ts`).
    pub(crate) fn build(&self, py: Python<'_>, event: &Event<'_>, recv: f64) -> PyResult<PyObject> {
        // The values in the order of the class's `*_NAMES` (its field order, so
        // msgspec finds each keyword at its first guess).
        let mut values = Vec::with_capacity(MAX_FIELDS);
        values.push(event.producer.as_deref().into_bound_py_any(py)?);
        values.push(event.instance.as_deref().into_bound_py_any(py)?);
        values.push(match &event.seq {
            Some(Seq::Small(n)) => n.into_bound_py_any(py)?,
            Some(Seq::Big(digits)) => py.get_type::<PyInt>().call1((digits,))?,
            None => py.None().into_bound(py),
        });
        values.push(event.sent_ts.into_bound_py_any(py)?);
        values.push(event.event_id.as_deref().into_bound_py_any(py)?);
        values.push(event.ts_s.into_bound_py_any(py)?);
        values.push(recv.into_bound_py_any(py)?);
        let class = match event.kind {
            Kind::Trade => {
                values.push(match event.side.as_deref() {
                    Some("buy") => intern!(py, "buy").clone().into_any(),
                    Some("sell") => intern!(py, "sell").clone().into_any(),
                    side => side.into_bound_py_any(py)?,
                });
                values.push(event.qty.into_bound_py_any(py)?);
                values.push(ts(py, &event.ts)?);
                values.push(event.symbol.as_deref().into_bound_py_any(py)?);
                values.push(event.price.into_bound_py_any(py)?);
                &self.trade
            }
            Kind::Tick => {
                values.push(event.symbol.as_deref().into_bound_py_any(py)?);
                values.push(event.price.into_bound_py_any(py)?);
                values.push(event.volume.into_bound_py_any(py)?);
                values.push(ts(py, &event.ts)?);
                values.push(event.source.as_ref().into_bound_py_any(py)?);
                values.push(event.bid.into_bound_py_any(py)?);
                values.push(event.ask.into_bound_py_any(py)?);
                &self.tick
            }
            Kind::Heartbeat => {
                values.push(ts(py, &event.ts)?);
                &self.heartbeat
            }
        };
        class.call(py, &values)
    }
}

fn ts<'py>(py: Python<'py>, ts: &Ts<'_>) -> PyResult<Bound<'py, PyAny>> {
    match ts {
        Ts::Number(seconds) => seconds.into_bound_py_any(py),
        Ts::Text(text) => text.as_ref().into_bound_py_any(py),
    }
}

const ENVELOPE_NAMES: [&str; 7] = [
    "producer", "instance", "seq", "sent_ts", "event_id", "ts_s", "recv_ts",
];
const TRADE_NAMES: [&str; 5] = ["side", "qty", "ts", "symbol", "price"];
const TICK_NAMES: [&str; 7] = ["symbol", "price", "volume", "ts", "source", "bid", "ask"];
const HEARTBEAT_NAMES: [&str; 1] = ["ts"];
/// The most keyword arguments of any event class (a tick's).
const MAX_FIELDS: usize = ENVELOPE_NAMES.len() + TICK_NAMES.len();

extern "C" {
    // In the stable ABI from Python 3.12, and exported (`PyAPI_FUNC`) by
    // libpython 3.11, this build's floor: pyo3-ffi hides it under abi3-py311.
    fn PyObject_Vectorcall(
        callable: *mut ffi::PyObject,
        args: *const *mut ffi::PyObject,
        nargsf: usize,
        kwnames: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject;
}

/// An event class called with keyword arguments through vectorcall: the names
/// are one interned tuple made at construction, so no dict is built per event
/// (a dict per event also fed the cyclic collector, which tracks dicts).
struct EventClass {
    class: PyObject,
    names: Py<PyTuple>,
}

impl EventClass {
    fn new(py: Python<'_>, class: PyObject, own: &[&str]) -> PyResult<Self> {
        let names: Vec<_> = ENVELOPE_NAMES
            .iter()
            .chain(own)
            .map(|name| PyString::intern(py, name))
            .collect();
        let names = PyTuple::new(py, names)?.unbind();
        Ok(EventClass { class, names })
    }

    fn call(&self, py: Python<'_>, values: &[Bound<'_, PyAny>]) -> PyResult<PyObject> {
        if values.len() != self.names.bind(py).len() || values.len() > MAX_FIELDS {
            return Err(PyValueError::new_err("event field count mismatch"));
        }
        let mut args = [std::ptr::null_mut::<ffi::PyObject>(); MAX_FIELDS];
        for (arg, value) in args.iter_mut().zip(values) {
            *arg = value.as_ptr();
        }
        // SAFETY: the GIL is held (`py`); `args` holds `values.len()` borrowed,
        // live references (kept alive by `values` across the call), matching the
        // keyword names one to one (checked above); no positional arguments;
        // the result is a new reference or NULL with an exception set.
        unsafe {
            let result =
                PyObject_Vectorcall(self.class.as_ptr(), args.as_ptr(), 0, self.names.as_ptr());
            Bound::from_owned_ptr_or_err(py, result).map(Bound::unbind)
        }
    }
}

fn reason_str(py: Python<'_>, reason: Reason) -> PyObject {
    PyString::intern(py, reason.as_str()).into_any().unbind()
}

/// True if brackets (outside strings) nest deeper than `limit` (see depth.rs).
#[pyfunction]
fn nesting_deeper_than(frame: &[u8], limit: usize) -> bool {
    crate::depth::nesting_deeper_than(frame, limit)
}

/// A sample value as the exposition writes it (Python's `repr`, Prometheus's
/// `+Inf`, `-Inf`, `NaN`): what `textformat.fmt` gives.
#[pyfunction]
fn format_value(value: f64) -> String {
    let mut out = String::new();
    crate::text::fmt_value(value, &mut out);
    out
}

#[pymodule]
fn _core(module: &Bound<'_, PyModule>) -> PyResult<()> {
    // A panic is caught and counted (`guarded`); its message is printed the first
    // time only, as for any failure inside the core (see `report`).
    let print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !REPORTED.swap(true, Ordering::Relaxed) {
            print(info);
        }
    }));
    module.add_class::<Decoder>()?;
    module.add_function(wrap_pyfunction!(nesting_deeper_than, module)?)?;
    module.add_function(wrap_pyfunction!(format_value, module)?)?;
    crate::py_exposition::register(module)?;
    module.add_class::<crate::py_hops::HopHistograms>()?;
    module.add_class::<crate::py_dedup::RecentIds>()?;
    module.add_class::<crate::py_analytics::Analytics>()?;
    crate::py_producers::register(module)?;
    crate::py_state::register(module)?;
    module.add("HOP_NAMES", crate::hops::HOPS.to_vec())?;
    module.add("KIND_NAMES", crate::hops::KINDS.to_vec())?;
    module.add("NATIVE_SCHEMA", crate::hops::NATIVE_SCHEMA)?;
    module.add("NATIVE_ZERO_THRESHOLD", crate::hops::NATIVE_ZERO_THRESHOLD)?;
    module.add("PARSE_DEPTH_LIMIT", crate::json::PARSE_DEPTH_LIMIT)?;
    Ok(())
}
