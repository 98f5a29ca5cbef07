//! The recent-events ring (GET /events, the snapshot): the last
//! `SIDECAR_EVENTS_BUFFER` applied events. The batch ingest keeps each as the
//! decoded Rust struct (no Python object per event); the event object is
//! built when a reader asks (`objects`). An event that already has its object
//! (applied through `StateCore.apply`, restored from a snapshot, or built for
//! the journal or the analytics) keeps that object.

use std::borrow::Cow;
use std::collections::VecDeque;

use pyo3::prelude::*;

use crate::event::{Event, Ts};
use crate::python::Decoder;

pub(crate) enum Held {
    Object(PyObject),
    Decoded(Box<Event<'static>>, f64),
}

pub(crate) struct RecentRing {
    capacity: usize,
    ring: VecDeque<Held>,
}

impl RecentRing {
    pub(crate) fn new(capacity: usize) -> Self {
        RecentRing {
            capacity,
            ring: VecDeque::new(),
        }
    }

    pub(crate) fn push(&mut self, held: Held) {
        if self.capacity == 0 {
            return;
        }
        if self.ring.len() >= self.capacity {
            self.ring.pop_front();
        }
        self.ring.push_back(held);
    }

    /// An applied event kept decoded: when the ring is full, the oldest
    /// decoded event's buffers are reused (no allocation per event).
    pub(crate) fn push_decoded(&mut self, event: &Event<'_>, recv: f64) {
        if self.capacity == 0 {
            return;
        }
        if self.ring.len() >= self.capacity {
            if let Some(Held::Decoded(mut old, _)) = self.ring.pop_front() {
                refill(&mut old, event);
                self.ring.push_back(Held::Decoded(old, recv));
                return;
            }
        }
        self.push(Held::Decoded(Box::new(owned(event)), recv));
    }

    pub(crate) fn clear(&mut self) {
        self.ring.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    /// Up to `limit` event objects, newest first (`newest_first`) or oldest first.
    pub(crate) fn objects(
        &self,
        py: Python<'_>,
        decoder: &Decoder,
        newest_first: bool,
        limit: usize,
    ) -> PyResult<Vec<PyObject>> {
        let object = |held: &Held| match held {
            Held::Object(object) => Ok(object.clone_ref(py)),
            Held::Decoded(event, recv) => decoder.build(py, event, *recv),
        };
        if newest_first {
            self.ring.iter().rev().take(limit).map(object).collect()
        } else {
            self.ring.iter().take(limit).map(object).collect()
        }
    }
}

fn own(text: &str) -> Cow<'static, str> {
    Cow::Owned(text.to_owned())
}

/// The label itself when it is one of `common` (no copy), else a copy.
fn own_common(text: &str, common: &[&'static str]) -> Cow<'static, str> {
    match common.iter().find(|c| **c == text) {
        Some(c) => Cow::Borrowed(c),
        None => own(text),
    }
}

fn set(dst: &mut Cow<'static, str>, src: &str) {
    match dst {
        Cow::Owned(text) => {
            text.clear();
            text.push_str(src);
        }
        Cow::Borrowed(_) => *dst = own(src),
    }
}

fn set_optional(dst: &mut Option<Cow<'static, str>>, src: Option<&str>) {
    match (dst.as_mut(), src) {
        (Some(text), Some(src)) => set(text, src),
        (None, Some(src)) => *dst = Some(own(src)),
        (_, None) => *dst = None,
    }
}

/// `owned(src)` into `dst`, reusing its string buffers.
fn refill(dst: &mut Event<'static>, src: &Event<'_>) {
    dst.kind = src.kind;
    set_optional(&mut dst.producer, src.producer.as_deref());
    set_optional(&mut dst.instance, src.instance.as_deref());
    dst.seq = src.seq.clone();
    dst.sent_ts = src.sent_ts;
    set_optional(&mut dst.event_id, src.event_id.as_deref());
    dst.ts = match &src.ts {
        Ts::Number(seconds) => Ts::Number(*seconds),
        Ts::Text(text) => Ts::Text(own(text)),
    };
    dst.ts_s = src.ts_s;
    dst.side = src
        .side
        .as_deref()
        .map(|side| own_common(side, &["buy", "sell"]));
    dst.qty = src.qty;
    set_optional(&mut dst.symbol, src.symbol.as_deref());
    dst.price = src.price;
    dst.volume = src.volume;
    if src.source == "unknown" {
        dst.source = Cow::Borrowed("unknown");
    } else {
        set(&mut dst.source, &src.source);
    }
    dst.bid = src.bid;
    dst.ask = src.ask;
}

/// An event that outlives its frame.
pub(crate) fn owned(event: &Event<'_>) -> Event<'static> {
    Event {
        kind: event.kind,
        producer: event.producer.as_deref().map(own),
        instance: event.instance.as_deref().map(own),
        seq: event.seq.clone(),
        sent_ts: event.sent_ts,
        event_id: event.event_id.as_deref().map(own),
        ts: match &event.ts {
            Ts::Number(seconds) => Ts::Number(*seconds),
            Ts::Text(text) => Ts::Text(own(text)),
        },
        ts_s: event.ts_s,
        side: event
            .side
            .as_deref()
            .map(|side| own_common(side, &["buy", "sell"])),
        qty: event.qty,
        symbol: event.symbol.as_deref().map(own),
        price: event.price,
        volume: event.volume,
        source: own_common(&event.source, &["unknown"]),
        bid: event.bid,
        ask: event.ask,
    }
}
