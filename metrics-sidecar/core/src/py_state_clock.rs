//! The Python face of the clock-offset windows: `_core.ClockWindows`
//! (subclassed by `clock_offset.py`, which adds the read views by name).

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::state_clock::{self, ClockOffsets, Detail};

fn guard<T>(work: impl FnOnce() -> T) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(work))
        .map_err(|_| PyRuntimeError::new_err("internal error in the core's clock offsets"))
}

#[pyclass(module = "metrics_sidecar._core", subclass)]
pub struct ClockWindows {
    pub(crate) offsets: ClockOffsets,
}

#[pymethods]
impl ClockWindows {
    #[new]
    fn new(max_producers: usize) -> Self {
        ClockWindows {
            offsets: ClockOffsets::new(max_producers),
        }
    }

    #[getter]
    fn max_producers(&self) -> usize {
        self.offsets.max_producers
    }

    /// One message with `sent_ts`: the one-way sample `recv - sent`.
    fn observe(&mut self, producer: &str, sent: f64, recv: f64) -> PyResult<()> {
        guard(|| self.offsets.observe(producer, sent, recv))
    }

    /// One probe exchange (clock_probe.py).
    fn observe_round_trip(
        &mut self,
        producer: &str,
        offset: f64,
        round_trip: f64,
        now: f64,
    ) -> PyResult<()> {
        guard(|| {
            self.offsets
                .observe_round_trip(producer, offset, round_trip, now)
        })
    }

    /// (producer, offset, round trip or None) per producer with a sample in
    /// the window at `now`.
    fn rows(&self, now: f64) -> PyResult<Vec<Detail>> {
        guard(|| self.offsets.details(now))
    }
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<ClockWindows>()?;
    module.add("CLOCK_SLOT_SECONDS", state_clock::SLOT_SECONDS)?;
    module.add("CLOCK_SLOTS", state_clock::SLOTS)?;
    Ok(())
}
