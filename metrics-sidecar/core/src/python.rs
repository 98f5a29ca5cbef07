//! The Python face of the core: `metrics_sidecar._core`.

use pyo3::exceptions::PyValueError;
use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::event::{self, Event, Kind, Reason, Rules, Seq, Ts};
use crate::guarded;
use crate::pattern::Pattern;

/// Decodes frames into the sidecar's event objects (built by calling the event
/// classes given at construction), or answers the rejection reason as a str.
#[pyclass(frozen, module = "metrics_sidecar._core")]
struct Decoder {
    rules: Rules,
    trade: PyObject,
    tick: PyObject,
    heartbeat: PyObject,
    normalize_ts: PyObject,
}

/// Set once the first traceback of a failure inside the core has been printed:
/// input can trigger the failure, so later ones are only counted
/// (`internal_error`, logged rate-limited by the socket loops), never a log flood.
static REPORTED: AtomicBool = AtomicBool::new(false);

fn report(py: Python<'_>, error: PyErr) {
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
            trade,
            tick,
            heartbeat,
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
    fn iso(&self, py: Python<'_>, text: &str) -> Result<Option<f64>, ()> {
        let seconds = self
            .normalize_ts
            .call1(py, (text,))
            .map_err(|error| report(py, error))?;
        seconds
            .extract::<Option<f64>>(py)
            .map_err(|error| report(py, error))
    }

    fn answer(&self, py: Python<'_>, decoded: Result<Event, Reason>) -> PyObject {
        let built = decoded.map(|event| self.build(py, event));
        match built {
            Ok(Ok(object)) => object,
            Ok(Err(error)) => {
                report(py, error); // an event class refused its fields: a bug, not bad input
                reason_str(py, Reason::InternalError)
            }
            Err(reason) => reason_str(py, reason),
        }
    }

    fn build(&self, py: Python<'_>, event: Event) -> PyResult<PyObject> {
        // Interned keys: no new str per field per event.
        let fields = PyDict::new(py);
        fields.set_item(intern!(py, "producer"), event.producer)?;
        fields.set_item(intern!(py, "instance"), event.instance)?;
        match event.seq {
            Some(Seq::Small(n)) => fields.set_item(intern!(py, "seq"), n)?,
            Some(Seq::Big(digits)) => fields.set_item(
                intern!(py, "seq"),
                py.get_type::<pyo3::types::PyInt>().call1((digits,))?,
            )?,
            None => fields.set_item(intern!(py, "seq"), py.None())?,
        }
        fields.set_item(intern!(py, "sent_ts"), event.sent_ts)?;
        fields.set_item(intern!(py, "event_id"), event.event_id)?;
        match event.ts {
            Ts::Number(seconds) => fields.set_item(intern!(py, "ts"), seconds)?,
            Ts::Text(text) => fields.set_item(intern!(py, "ts"), text)?,
        }
        fields.set_item(intern!(py, "ts_s"), event.ts_s)?;
        let class = match event.kind {
            Kind::Trade => {
                fields.set_item(intern!(py, "side"), event.side)?;
                fields.set_item(intern!(py, "qty"), event.qty)?;
                fields.set_item(intern!(py, "symbol"), event.symbol)?;
                fields.set_item(intern!(py, "price"), event.price)?;
                &self.trade
            }
            Kind::Tick => {
                fields.set_item(intern!(py, "symbol"), event.symbol)?;
                fields.set_item(intern!(py, "price"), event.price)?;
                fields.set_item(intern!(py, "volume"), event.volume)?;
                fields.set_item(intern!(py, "source"), event.source)?;
                fields.set_item(intern!(py, "bid"), event.bid)?;
                fields.set_item(intern!(py, "ask"), event.ask)?;
                &self.tick
            }
            Kind::Heartbeat => &self.heartbeat,
        };
        class.call(py, (), Some(&fields))
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
    module.add("PARSE_DEPTH_LIMIT", crate::json::PARSE_DEPTH_LIMIT)?;
    Ok(())
}
