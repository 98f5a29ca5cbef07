//! The Python face of the per-producer sequence tracker: `_core.ProducerTracker`
//! (subclassed by `producers.py`, which adds the `stats` mapping view). A panic
//! inside is raised as `RuntimeError` (the socket loops count the message as
//! `internal_error` and go on), never pyo3's `PanicException`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyKeyError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::producers::{self, ProducerStats, Tracker};

fn guard<T>(work: impl FnOnce() -> T) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(work))
        .map_err(|_| PyRuntimeError::new_err("internal error in the core's producer tracker"))
}

/// (lost, received, last_seen, instances_seen, restarts)
type StatsTuple = (i64, i64, f64, i64, i64);

fn as_tuple(s: &ProducerStats) -> StatsTuple {
    (
        s.lost,
        s.received,
        s.last_seen,
        s.instances_seen,
        s.restarts,
    )
}

#[pyclass(module = "metrics_sidecar._core", subclass)]
pub struct ProducerTracker {
    pub(crate) tracker: Tracker,
    /// The labels as Python strings, by index: `observe` hands out the same
    /// object every time instead of a new str per message.
    names: Vec<Py<PyString>>,
}

impl ProducerTracker {
    fn name(&mut self, py: Python<'_>, label: usize) -> PyResult<Py<PyString>> {
        while self.names.len() <= label {
            let text = self
                .tracker
                .label(self.names.len())
                .ok_or_else(|| PyRuntimeError::new_err("producer label out of range"))?;
            self.names.push(PyString::new(py, text).unbind());
        }
        self.names
            .get(label)
            .map(|name| name.clone_ref(py))
            .ok_or_else(|| PyRuntimeError::new_err("producer label out of range"))
    }

    fn index(&self, label: &str) -> PyResult<usize> {
        self.tracker
            .index_of(label)
            .ok_or_else(|| PyKeyError::new_err(label.to_owned()))
    }
}

#[pymethods]
impl ProducerTracker {
    #[new]
    #[pyo3(signature = (max_producers, max_instances = 4096))]
    fn new(max_producers: usize, max_instances: usize) -> Self {
        ProducerTracker {
            tracker: Tracker::new(max_producers, max_instances),
            names: Vec::new(),
        }
    }

    #[getter]
    fn max_producers(&self) -> usize {
        self.tracker.max_producers()
    }

    #[getter]
    fn max_instances(&self) -> usize {
        self.tracker.max_instances()
    }

    /// Messages counted under the overflow label (a name beyond the cap).
    #[getter]
    fn get_overflowed(&self) -> i64 {
        self.tracker.overflowed
    }

    #[setter]
    fn set_overflowed(&mut self, value: i64) {
        self.tracker.overflowed = value;
    }

    /// The label a name is counted under (made on first sight).
    fn label_for(&mut self, py: Python<'_>, name: &str) -> PyResult<Py<PyString>> {
        let label = guard(|| self.tracker.label_for(name))?;
        self.name(py, label)
    }

    /// Records one message: (label, is_duplicate). `count=False`: dropped as a
    /// duplicate by its event id; its seq moves the stream on, not received.
    #[pyo3(signature = (name, instance, seq, now, count = true))]
    fn observe(
        &mut self,
        py: Python<'_>,
        name: &str,
        instance: Option<&str>,
        seq: Option<i64>,
        now: f64,
        count: bool,
    ) -> PyResult<(Py<PyString>, bool)> {
        let seen = guard(|| self.tracker.observe(name, instance, seq, now, count))?;
        Ok((self.name(py, seen.label)?, seen.duplicate))
    }

    /// (lost, received, last_seen, instances_seen, restarts) of a label.
    fn counts(&self, label: &str) -> PyResult<StatsTuple> {
        let i = self.index(label)?;
        self.tracker
            .stats(i)
            .map(as_tuple)
            .ok_or_else(|| PyKeyError::new_err(label.to_owned()))
    }

    /// Overwrites a label's counters (made if new).
    fn set_counts(&mut self, label: &str, stats: StatsTuple) -> PyResult<()> {
        let (lost, received, last_seen, instances_seen, restarts) = stats;
        let value = ProducerStats {
            lost,
            received,
            last_seen,
            instances_seen,
            restarts,
        };
        guard(|| {
            self.tracker.put(label, value);
        })
    }

    /// The labels, in the order they were made.
    fn labels(&self) -> Vec<String> {
        self.tracker.rows().map(|(n, _)| n.to_owned()).collect()
    }

    /// (label, lost, received, last_seen, instances_seen, restarts) per label.
    fn rows(&self) -> Vec<(String, i64, i64, f64, i64, i64)> {
        self.tracker
            .rows()
            .map(|(n, s)| {
                let (a, b, c, d, e) = as_tuple(s);
                (n.to_owned(), a, b, c, d, e)
            })
            .collect()
    }

    /// (producer, instance, last seq) per stream, oldest first.
    fn last_seqs(&self) -> Vec<(String, String, i64)> {
        self.tracker.last_seqs()
    }

    /// Replaces everything with a saved image (a snapshot being restored).
    fn restore(
        &mut self,
        rows: Vec<(String, StatsTuple)>,
        last_seqs: Vec<(String, String, i64)>,
        overflowed: i64,
    ) -> PyResult<()> {
        let rows: Vec<(String, ProducerStats)> = rows
            .into_iter()
            .map(
                |(name, (lost, received, last_seen, instances_seen, restarts))| {
                    let stats = ProducerStats {
                        lost,
                        received,
                        last_seen,
                        instances_seen,
                        restarts,
                    };
                    (name, stats)
                },
            )
            .collect();
        self.names.clear();
        guard(|| self.tracker.restore(&rows, &last_seqs, overflowed))
    }

    fn __contains__(&self, label: &str) -> bool {
        self.tracker.index_of(label).is_some()
    }

    fn __len__(&self) -> usize {
        self.tracker.len()
    }
}

/// Registers the class, the overflow label and the tracker's constants (for
/// `producers.py`).
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<ProducerTracker>()?;
    module.add("PRODUCER_OVERFLOW_LABEL", producers::OVERFLOW_LABEL)?;
    module.add("PRODUCER_LOST_MAX", producers::LOST_MAX)?;
    module.add("PRODUCER_RESTART_BEHIND", producers::RESTART_BEHIND)?;
    module.add("PRODUCER_RESTART_AHEAD", producers::RESTART_AHEAD)?;
    Ok(())
}
