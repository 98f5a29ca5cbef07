//! The Python face of the dedup window: `_core.RecentIds`.

use pyo3::prelude::*;

use crate::dedup;

#[pyclass(module = "metrics_sidecar._core")]
pub struct RecentIds {
    window: dedup::RecentIds,
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
    fn seen_before(&mut self, producer: Option<&str>, event_id: &str) -> bool {
        self.window.seen_before(&dedup::key(producer, event_id))
    }

    /// Remembers a key as `keys()` gave it (a snapshot being restored).
    fn remember(&mut self, key: &str) {
        self.window.seen_before(key);
    }

    /// The keys in the window, oldest first.
    fn keys(&self) -> Vec<String> {
        self.window.keys().map(str::to_owned).collect()
    }

    fn __len__(&self) -> usize {
        self.window.len()
    }
}
