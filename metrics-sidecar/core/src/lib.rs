//! The sidecar's compiled core (issue 13): the decoder (frame bytes ->
//! validated, normalised events, or the reason for each rejection, with exactly
//! the verdicts of the pydantic models in `schema.py`;
//! `tests/test_core_differential.py` holds it to them), and the hop-latency
//! histograms with their part of the text exposition (`hops`, `text`).
//!
//! The pure-Rust API (`event::decode`, `event::decode_batch`) is what `cargo
//! test` and the fuzz target use; the `python` feature adds the extension module
//! `metrics_sidecar._core` (built by maturin).

pub mod analytics;
pub mod analytics_ohlc;
pub mod analytics_ring;
pub mod analytics_series;
pub mod analytics_trades;
pub mod dedup;
pub mod depth;
pub mod event;
pub mod exposition_columns;
pub mod hops;
pub mod journal;
pub mod json;
pub mod pattern;
pub mod producers;
pub mod state;
pub mod state_clock;
pub mod text;
pub mod zmq_drain;

#[cfg(feature = "python")]
mod py_analytics;
#[cfg(feature = "python")]
mod py_dedup;
#[cfg(feature = "python")]
mod py_exposition;
#[cfg(feature = "python")]
mod py_hops;
#[cfg(feature = "python")]
mod py_ingest;
#[cfg(feature = "python")]
mod py_producers;
#[cfg(feature = "python")]
mod py_state;
#[cfg(feature = "python")]
mod py_state_clock;
#[cfg(feature = "python")]
mod py_state_recent;
#[cfg(feature = "python")]
mod python;

use std::panic::{catch_unwind, AssertUnwindSafe};

use event::Reason;

/// Runs `work`, turning a panic into `internal_error`: a bug in the core costs
/// one frame, never the process.
pub fn guarded<T>(work: impl FnOnce() -> Result<T, Reason>) -> Result<T, Reason> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or(Err(Reason::InternalError))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_an_internal_error() {
        let quiet = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let result: Result<(), Reason> = guarded(|| panic!("a bug"));
        std::panic::set_hook(quiet);
        assert_eq!(result, Err(Reason::InternalError));
        assert_eq!(guarded(|| Ok(1)), Ok(1));
    }
}
