//! Journal replay (journal format 3): the records `ingest` wrote, applied
//! through the batch's own path (`Batch::settle`) at their recorded apply times.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;

use super::{Batch, Hooks};
use crate::journal;
use crate::py_state::StateCore;

/// Applies journal records (journal.rs) written by `ingest`, in one call:
/// (records replayed, records this version cannot read, bytes of a torn record
/// at the end). Each event goes through the path `ingest` took, at its recorded
/// apply time, with no analytics, stream or journal (replay is start-up's).
pub fn replay(
    py: Python<'_>,
    core: &mut StateCore,
    data: &[u8],
) -> PyResult<(usize, usize, usize)> {
    let decoder = core.decoder.clone_ref(py);
    let hooks = Hooks {
        journal: None,
        clock: None,
        analytics: None,
        published: None,
    };
    let mut batch = Batch {
        py,
        core,
        decoder: decoder.get(),
        hooks: &hooks,
        analytics: None,
        rejected: Vec::new(),
        records: None,
        replaying: true,
    };
    let (mut replayed, mut bad, mut torn) = (0, 0, 0);
    for record in journal::read(data) {
        match record {
            Ok(journal::Record::Event {
                event,
                recv,
                applied,
            }) => {
                // A panic here was counted when it happened (its REJECT record follows).
                let _ = catch_unwind(AssertUnwindSafe(|| batch.settle(event, recv, applied)));
                replayed += 1;
            }
            Ok(journal::Record::Reject(reason)) if batch.core.aggregates.reject(reason) => {
                replayed += 1;
            }
            Ok(journal::Record::Reject(_)) | Err(journal::Unreadable::Bad) => bad += 1,
            Err(journal::Unreadable::Torn(bytes)) => torn += bytes,
        }
        batch.rejected.clear();
    }
    Ok((replayed, bad, torn))
}
