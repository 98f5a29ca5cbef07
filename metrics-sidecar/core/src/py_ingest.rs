//! One core call per drained batch (issue 13, "one ingest entry"): received
//! frames, each with its receive time (and, on the reliable channel, the
//! (producer, instance, seq) stamp its header gives it), are decoded into Rust
//! structs and applied (state.rs), and every rejection is counted by reason
//! here, in one place. A panic costs its frame (`internal_error`), never the
//! batch.
//!
//! Each applied trade and tick feeds the analytics (`_core.Analytics`) here, as
//! Rust values. A Python event object is built only for a consumer that still
//! needs one: the SSE stream while it has clients (every trade, and the ticks
//! that moved the analytics), the recent-events ring (which otherwise keeps the
//! decoded struct). What Python still does with the outcome: log the
//! rejections (rate-limited) from the (reason, frame prefix) list returned.
//!
//! The journal (SIDECAR_STATE_DIR) costs no Python per event either: every event
//! that reaches the state and every rejection is appended as a binary record
//! (journal.rs) to one buffer, handed to `journal.core_records(bytes)` once per
//! call; `replay` applies such a buffer through the same path, at the recorded
//! apply times.

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{SystemTime, UNIX_EPOCH};

use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::event::{self, Event, Kind, Reason, Seq};
use crate::journal;

#[path = "py_ingest_replay.rs"]
mod replay;
use crate::py_analytics::Analytics;
use crate::py_state::StateCore;
use crate::py_state_recent::Held;
use crate::python::{report, Decoder};
use crate::state::{Input, Outcome};
pub use replay::replay;

/// (producer, instance, seq) a reliable batch header gives its payload.
pub type Stamp = (String, String, i64);
/// A rejection for the log: its reason, and the frame's first bytes when the
/// frame itself was refused (a refusal of a decoded event logs no bytes).
pub type Rejected<'py> = (&'static str, Option<Bound<'py, PyBytes>>);

const LOGGED_PREFIX: usize = 120;
const TOO_LARGE: &str = "too_large";

/// What the Python side hands over with a batch (all optional).
pub struct Hooks<'py> {
    /// Gets the batch's journal records (journal.rs), `journal.core_records(bytes)`,
    /// once per call; the apply times are the system clock's (and recorded).
    pub journal: Option<Bound<'py, PyAny>>,
    /// The apply clock (without a journal); None: the system clock (`time.time`).
    pub clock: Option<Bound<'py, PyAny>>,
    /// The analytics each applied trade and tick feeds (None: analytics off, or
    /// detached, as during journal replay).
    pub analytics: Option<Bound<'py, Analytics>>,
    /// With stream clients: gets what they are sent, as event objects.
    pub published: Option<Bound<'py, PyList>>,
}

fn system_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

struct Batch<'a, 'py> {
    py: Python<'py>,
    core: &'a mut StateCore,
    decoder: &'a Decoder,
    hooks: &'a Hooks<'py>,
    analytics: Option<PyRefMut<'py, Analytics>>,
    rejected: Vec<Rejected<'py>>,
    /// The journal records of this call (with a journal hook).
    records: Option<Vec<u8>>,
    /// Replaying records: a failure is not counted again (its REJECT record follows).
    replaying: bool,
}

impl<'a, 'py> Batch<'a, 'py> {
    /// The batch of one `ingest` or `drain` call: it borrows the analytics for
    /// the call, and collects journal records when there is a journal.
    fn open(
        py: Python<'py>,
        core: &'a mut StateCore,
        decoder: &'a Decoder,
        hooks: &'a Hooks<'py>,
    ) -> PyResult<Self> {
        Ok(Batch {
            py,
            core,
            decoder,
            hooks,
            analytics: match &hooks.analytics {
                Some(analytics) => Some(analytics.try_borrow_mut()?),
                None => None,
            },
            rejected: Vec::new(),
            records: hooks.journal.as_ref().map(|_| Vec::new()),
            replaying: false,
        })
    }

    /// Ends the call: the journal gets the call's records in one hand-over, and
    /// the rejections go back for the log.
    fn close(self) -> Vec<Rejected<'py>> {
        if let (Some(journal), Some(records)) = (&self.hooks.journal, &self.records) {
            if !records.is_empty() {
                let records = PyBytes::new(self.py, records);
                if let Err(error) =
                    journal.call_method1(intern!(self.py, "core_records"), (records,))
                {
                    report(self.py, error); // (a list append in journal.py: nothing input can reach)
                }
            }
        }
        self.rejected
    }
}

impl<'py> Batch<'_, 'py> {
    fn reject(&mut self, reason: &'static str, frame: Option<&[u8]>) {
        self.core.aggregates.reject(reason);
        if let Some(records) = self.records.as_mut() {
            journal::write_reject(records, reason);
        }
        let prefix = frame.map(|f| PyBytes::new(self.py, f.get(..LOGGED_PREFIX).unwrap_or(f)));
        self.rejected.push((reason, prefix));
    }

    fn frame<'a>(
        &mut self,
        frame: &'a [u8],
        recv: f64,
        stamp: Option<&'a Stamp>,
        arrays: bool,
    ) -> usize {
        let py = self.py;
        let decoder = self.decoder;
        let iso = |text: &str| decoder.iso(py, text);
        if arrays && frame.first() == Some(&b'[') {
            let results = catch_unwind(AssertUnwindSafe(|| {
                event::decode_batch(frame, &decoder.rules, &iso)
            }))
            .unwrap_or_else(|_| vec![Err(Reason::InternalError)]);
            let count = results.len();
            for result in results {
                self.one(result, frame, recv, None);
            }
            return count;
        }
        let result = crate::guarded(|| event::decode(frame, &decoder.rules, &iso));
        self.one(result, frame, recv, stamp);
        1
    }

    fn one<'a>(
        &mut self,
        result: Result<Event<'a>, Reason>,
        frame: &[u8],
        recv: f64,
        stamp: Option<&'a Stamp>,
    ) {
        let done = catch_unwind(AssertUnwindSafe(|| match result {
            Err(reason) => self.reject(reason.as_str(), Some(frame)),
            Ok(event) => self.apply(event, frame, recv, stamp),
        }));
        if done.is_err() {
            self.reject(Reason::InternalError.as_str(), None);
        }
    }

    fn apply<'a>(
        &mut self,
        mut event: Event<'a>,
        frame: &[u8],
        recv: f64,
        stamp: Option<&'a Stamp>,
    ) {
        let py = self.py;
        if let Some((producer, instance, seq)) = stamp {
            event.producer = Some(Cow::Borrowed(producer));
            event.instance = Some(Cow::Borrowed(instance));
            match u64::try_from(*seq) {
                Ok(seq) => event.seq = Some(Seq::Small(seq)),
                Err(_) => return self.reject(Reason::BadField.as_str(), Some(frame)),
            }
        }
        let applied = match self.hooks.clock.as_ref().filter(|_| self.records.is_none()) {
            None => system_now(),
            Some(clock) => match clock.call0().and_then(|t| t.extract::<f64>()) {
                Ok(t) => t,
                Err(error) => {
                    report(py, error);
                    return self.reject(Reason::InternalError.as_str(), None);
                }
            },
        };
        self.settle(event, recv, applied);
    }

    /// Applies a decoded (or replayed) event at `applied`. With a journal, its
    /// record goes first: replaying it repeats this very call, refusals and
    /// duplicates included.
    fn settle(&mut self, event: Event<'_>, recv: f64, applied: f64) {
        let py = self.py;
        let seq = match &event.seq {
            None => None,
            Some(Seq::Small(n)) => match i64::try_from(*n) {
                Ok(n) => Some(n),
                Err(_) => return self.reject(Reason::InternalError.as_str(), None),
            },
            Some(Seq::Big(_)) => return self.reject(Reason::InternalError.as_str(), None),
        };
        let kind = match event.kind {
            Kind::Trade => 0,
            Kind::Tick => 1,
            Kind::Heartbeat => 2,
        };
        let input = Input {
            kind,
            ts_s: event.ts_s,
            sent: event.sent_ts,
            recv,
            side: usize::from(event.side.as_deref() == Some("sell")),
            qty: event.qty,
            symbol: event.symbol.as_deref(),
            price: event.price.unwrap_or(0.0),
            source: &event.source,
            producer: event.producer.as_deref(),
            instance: event.instance.as_deref(),
            seq,
            event_id: event.event_id.as_deref(),
        };
        if let Some(records) = self.records.as_mut() {
            if !journal::write_event(records, &event, recv, applied) {
                return self.reject(Reason::InternalError.as_str(), None); // (seq checked above)
            }
        }
        match self.core.apply_input(py, &input, applied) {
            Ok(Outcome::Applied) => self.hand_on(&event, recv),
            Ok(Outcome::Duplicate) => {}
            Ok(Outcome::Refused(refusal)) => self.rejected.push((refusal.as_str(), None)),
            Err(error) => {
                report(py, error);
                if !self.replaying {
                    self.reject(Reason::InternalError.as_str(), None);
                }
            }
        }
    }

    /// An applied event to the consumers that read it: the analytics (Rust
    /// values), the stream's clients (an object), the recent-events ring (the
    /// object if one was built, else the decoded struct).
    fn hand_on(&mut self, event: &Event<'_>, recv: f64) {
        let py = self.py;
        let publish = self.feed(event, recv) && self.hooks.published.is_some();
        let object = if publish {
            self.decoder
                .build(py, event, recv)
                .map_err(|error| report(py, error))
                .ok()
        } else {
            None
        };
        match object {
            Some(object) => {
                if let Some(published) = self.hooks.published.as_ref().filter(|_| publish) {
                    if let Err(error) = published.append(&object) {
                        report(py, error);
                    }
                }
                self.core.recent.push(Held::Object(object));
            }
            None => self.core.recent.push_decoded(event, recv),
        }
    }

    /// Feeds an applied trade or tick to the analytics, with symbol admission
    /// from the state's symbol table (a symbol counted under __overflow__ is not
    /// in it: no analytics). True: the stream gets it (every trade, and the ticks
    /// that moved the analytics).
    fn feed(&mut self, event: &Event<'_>, recv: f64) -> bool {
        let Some(analytics) = self.analytics.as_mut() else {
            return false;
        };
        let aggregates = &self.core.aggregates;
        let admitted = |name: &str| aggregates.symbol(name).is_some();
        let fed = catch_unwind(AssertUnwindSafe(|| match event.kind {
            Kind::Trade => {
                let buy = event.side.as_deref() == Some("buy");
                let symbol = event.symbol.as_deref();
                analytics.feed_trade(symbol, admitted, buy, event.qty, event.price, recv);
                true
            }
            Kind::Tick => match (event.symbol.as_deref(), event.price) {
                (Some(symbol), Some(price)) => {
                    analytics.feed_tick(symbol, admitted, event.ts_s, price, event.volume)
                }
                _ => false,
            },
            Kind::Heartbeat => false,
        }));
        fed.unwrap_or_else(|_| {
            let error = PyRuntimeError::new_err("internal error in the core's analytics");
            report(self.py, error);
            false
        })
    }
}

/// Decodes and applies `frames` (bytes, with `recv[i]` and `stamps[i]`): the
/// number of messages they held (a batch frame counts its elements), and the
/// rejections for the log. `arrays`: a frame starting with `[` is a JSON array
/// of messages, each judged on its own.
#[allow(clippy::too_many_arguments)]
pub fn ingest<'py>(
    py: Python<'py>,
    core: &mut StateCore,
    frames: &Bound<'py, PyList>,
    recv: &[f64],
    stamps: Option<&[Option<Stamp>]>,
    arrays: bool,
    max_bytes: usize,
    hooks: &Hooks<'py>,
) -> PyResult<(usize, Vec<Rejected<'py>>)> {
    let decoder = core.decoder.clone_ref(py);
    let mut batch = Batch::open(py, core, decoder.get(), hooks)?;
    let mut messages = 0;
    for (i, item) in frames.iter().enumerate() {
        let at = recv.get(i).copied().unwrap_or_else(system_now);
        let stamp = stamps.and_then(|s| s.get(i)).and_then(Option::as_ref);
        let Ok(bytes) = item.downcast::<PyBytes>() else {
            messages += 1;
            batch.reject(Reason::InternalError.as_str(), None);
            continue;
        };
        let frame = bytes.as_bytes();
        if frame.len() > max_bytes {
            messages += 1;
            batch.reject(TOO_LARGE, Some(frame));
            continue;
        }
        messages += batch.frame(frame, at, stamp, arrays);
    }
    Ok((messages, batch.close()))
}

/// The PULL socket's drain (zmq_drain.rs) into one batch: `first` (the frame
/// the Python loop's blocking receive took, with its more-flag) and then
/// whatever is queued on `socket`, up to `budget` messages, each frame handed
/// to the batch as a slice of the libzmq message. Returns what the drain did
/// and the rejections for the log.
///
/// `socket`: pyzmq's `Socket.underlying`, open, used only by this (the
/// ingest) thread; see zmq_drain.rs for the invariants the caller keeps.
#[allow(clippy::too_many_arguments)]
pub fn drain<'py>(
    py: Python<'py>,
    core: &mut StateCore,
    api: &crate::zmq_drain::Api,
    socket: usize,
    first: Option<(&[u8], bool)>,
    in_multipart: bool,
    budget: usize,
    max_bytes: usize,
    delay: f64,
    hooks: &Hooks<'py>,
) -> PyResult<(crate::zmq_drain::Drained, Vec<Rejected<'py>>)> {
    use crate::zmq_drain::{self, Receiver};
    let decoder = core.decoder.clone_ref(py);
    let mut batch = Batch::open(py, core, decoder.get(), hooks)?;
    let delay = (delay > 0.0)
        .then(|| std::time::Duration::try_from_secs_f64(delay).ok())
        .flatten();
    let mut sink = DrainSink {
        batch: &mut batch,
        delay,
    };
    // SAFETY: the caller's promise above (zmq_drain.rs, "Safety invariants").
    let mut receiver = unsafe { Receiver::new(api, socket as *mut std::ffi::c_void) };
    let drained = zmq_drain::drain(
        &mut receiver,
        &mut sink,
        first,
        in_multipart,
        budget,
        max_bytes,
    );
    drop(receiver);
    Ok((drained, batch.close()))
}

/// The batch as the drain's sink.
struct DrainSink<'b, 'a, 'py> {
    batch: &'b mut Batch<'a, 'py>,
    /// `settings.test_apply_delay_seconds` (test-only): each frame waits this
    /// long after its receive time, the GIL released as `time.sleep` does.
    delay: Option<std::time::Duration>,
}

impl crate::zmq_drain::Sink for DrainSink<'_, '_, '_> {
    fn received(&mut self) -> f64 {
        let now = system_now();
        if let Some(delay) = self.delay {
            self.batch.py.allow_threads(|| std::thread::sleep(delay));
        }
        now
    }

    fn frame(&mut self, data: &[u8], recv: f64) -> usize {
        self.batch.frame(data, recv, None, true)
    }

    fn reject(&mut self, reason: &'static str, data: Option<&[u8]>) {
        self.batch.reject(reason, data);
    }
}
