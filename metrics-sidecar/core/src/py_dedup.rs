//! The Python face of the dedup window: `_core.RecentIds`. A panic inside is
//! raised as `RuntimeError` (an `Exception`: the socket loops count the message
//! as `internal_error` and go on), never pyo3's `PanicException`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::dedup;

fn guard<T>(work: impl FnOnce() -> T) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(work))
        .map_err(|_| PyRuntimeError::new_err("internal error in the core's dedup window"))
}

#[pyclass(module = "metrics_sidecar._core")]
pub struct RecentIds {
    pub(crate) window: dedup::RecentIds,
}

#[pymethods]
impl RecentIds {
    #[new]
    fn new(capacity: usize) -> Self {
        RecentIds {
            window: dedup::RecentIds::new(capacity),
        }
    }

    /// True if (producer, event_id) is in the window; otherwise remember it.
    #[pyo3(signature = (producer, event_id))]
    fn seen_before(&mut self, producer: Option<&str>, event_id: &str) -> PyResult<bool> {
        guard(|| self.window.seen_before(&dedup::key(producer, event_id)))
    }

    /// Remembers a key as `keys()` gave it (a snapshot being restored).
    fn remember(&mut self, key: &str) -> PyResult<()> {
        guard(|| {
            self.window.seen_before(key);
        })
    }

    /// The keys in the window, oldest first.
    fn keys(&self) -> Vec<String> {
        self.window.keys().map(str::to_owned).collect()
    }

    fn __len__(&self) -> usize {
        self.window.len()
    }
}
