//! The journal's core records (journal format 3, docs/delivery.md): what the
//! batch ingest did, as compact binary records, so that journaling an event
//! costs no Python object and no Python call. The batch ingest appends them to
//! one buffer (py_ingest.rs) that Python gets once per batch and writes inside
//! a journal frame (journal.py `CoreRec`); replay decodes them here and applies
//! each through the same path, at the recorded apply time.
//!
//! A record is `tag u8, length u32, payload` (little-endian throughout):
//! - `EVENT`: an event that reached the state (applied, refused or a duplicate:
//!   replaying it reproduces which), with its receive and apply times;
//! - `REJECT`: a rejection counted by reason (the reason's UTF-8).
//!
//! The length makes every record skippable: a record this version cannot read
//! is counted and passed over, and a buffer cut short ends in a torn record
//! (counted by its byte count), never a misread.

use std::borrow::Cow;

use crate::event::{Event, Kind, Seq, Ts};

/// `CoreRec.version` in journal.py: bump on any change to the layout below.
pub const VERSION: u8 = 1;

const EVENT: u8 = 1;
const REJECT: u8 = 2;
const HEADER: usize = 5;

const PRODUCER: u16 = 1;
const INSTANCE: u16 = 1 << 1;
const SEQ: u16 = 1 << 2;
const SENT: u16 = 1 << 3;
const EVENT_ID: u16 = 1 << 4;
const TS_TEXT: u16 = 1 << 5;
const SIDE: u16 = 1 << 6;
const SYMBOL: u16 = 1 << 7;
const PRICE: u16 = 1 << 8;
const BID: u16 = 1 << 9;
const ASK: u16 = 1 << 10;

/// One record read back (yielded one at a time, never stored: not boxed).
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Record<'a> {
    Event {
        event: Event<'a>,
        recv: f64,
        applied: f64,
    },
    Reject(&'a str),
}

/// Why a record could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreadable {
    /// Whole, but its tag or payload is not one this version writes.
    Bad,
    /// The buffer ends inside a record (this many bytes): nothing after it.
    Torn(usize),
}

fn begin(out: &mut Vec<u8>, tag: u8) -> usize {
    out.push(tag);
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    at
}

/// Patches the record's length; false (the record removed) if it is too long.
fn finish(out: &mut Vec<u8>, at: usize) -> bool {
    let Ok(length) = u32::try_from(out.len() - at - 4) else {
        out.truncate(at - 1);
        return false;
    };
    out[at..at + 4].copy_from_slice(&length.to_le_bytes());
    true
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    // (A string beyond u32 makes the record too long: `finish` refuses it.)
    let length = u32::try_from(text.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

fn put_f64(out: &mut Vec<u8>, value: f64) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends a rejection counted under `reason`.
pub fn write_reject(out: &mut Vec<u8>, reason: &str) {
    let at = begin(out, REJECT);
    out.extend_from_slice(reason.as_bytes());
    finish(out, at);
}

/// Appends an event received at `recv` and applied at `applied`; false (nothing
/// appended) for one no record holds (a seq beyond u64, a field beyond 4 GiB).
pub fn write_event(out: &mut Vec<u8>, event: &Event<'_>, recv: f64, applied: f64) -> bool {
    let seq = match &event.seq {
        None => None,
        Some(Seq::Small(n)) => Some(*n),
        Some(Seq::Big(_)) => return false,
    };
    let present = |flag: u16, yes: bool| if yes { flag } else { 0 };
    let flags = present(PRODUCER, event.producer.is_some())
        | present(INSTANCE, event.instance.is_some())
        | present(SEQ, seq.is_some())
        | present(SENT, event.sent_ts.is_some())
        | present(EVENT_ID, event.event_id.is_some())
        | present(TS_TEXT, matches!(event.ts, Ts::Text(_)))
        | present(SIDE, event.side.is_some())
        | present(SYMBOL, event.symbol.is_some())
        | present(PRICE, event.price.is_some())
        | present(BID, event.bid.is_some())
        | present(ASK, event.ask.is_some());
    let at = begin(out, EVENT);
    out.push(match event.kind {
        Kind::Trade => 0,
        Kind::Tick => 1,
        Kind::Heartbeat => 2,
    });
    out.extend_from_slice(&flags.to_le_bytes());
    for value in [recv, applied, event.ts_s, event.qty, event.volume] {
        put_f64(out, value);
    }
    if let Some(seq) = seq {
        out.extend_from_slice(&seq.to_le_bytes());
    }
    for value in [event.sent_ts, event.price, event.bid, event.ask]
        .into_iter()
        .flatten()
    {
        put_f64(out, value);
    }
    match &event.ts {
        Ts::Number(seconds) => put_f64(out, *seconds),
        Ts::Text(text) => put_str(out, text),
    }
    put_str(out, &event.source);
    for text in [
        &event.producer,
        &event.instance,
        &event.event_id,
        &event.side,
        &event.symbol,
    ]
    .into_iter()
    .flatten()
    {
        put_str(out, text);
    }
    finish(out, at)
}

/// The records of `data`, in order (see `Unreadable`).
pub fn read(data: &[u8]) -> Reader<'_> {
    Reader { data, at: 0 }
}

pub struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Record<'a>, Unreadable>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.data.get(self.at..).filter(|r| !r.is_empty())?;
        let whole = rest.get(1..HEADER).and_then(|length| {
            let length = u32::from_le_bytes(length.try_into().ok()?);
            let end = HEADER.checked_add(usize::try_from(length).ok()?)?;
            rest.get(HEADER..end)
        });
        let Some(payload) = whole else {
            self.at = self.data.len();
            return Some(Err(Unreadable::Torn(rest.len())));
        };
        self.at += HEADER + payload.len();
        let record = match rest.first() {
            Some(&EVENT) => event(payload),
            Some(&REJECT) => std::str::from_utf8(payload).ok().map(Record::Reject),
            _ => None,
        };
        Some(record.ok_or(Unreadable::Bad))
    }
}

/// A cursor over one record's payload.
struct Fields<'a> {
    data: &'a [u8],
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (self.data.get(..n)?, self.data.get(n..)?);
        self.data = tail;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_bits(self.u64()?))
    }

    fn text(&mut self) -> Option<&'a str> {
        let length = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        std::str::from_utf8(self.take(usize::try_from(length).ok()?)?).ok()
    }

    fn opt_f64(&mut self, flags: u16, flag: u16) -> Option<Option<f64>> {
        if flags & flag == 0 {
            return Some(None);
        }
        self.f64().map(Some)
    }

    fn opt_text(&mut self, flags: u16, flag: u16) -> Option<Option<Cow<'a, str>>> {
        if flags & flag == 0 {
            return Some(None);
        }
        self.text().map(|t| Some(Cow::Borrowed(t)))
    }
}

fn event(payload: &[u8]) -> Option<Record<'_>> {
    let mut f = Fields { data: payload };
    let kind = match f.take(1)?.first()? {
        0 => Kind::Trade,
        1 => Kind::Tick,
        2 => Kind::Heartbeat,
        _ => return None,
    };
    let flags = u16::from_le_bytes(f.take(2)?.try_into().ok()?);
    let (recv, applied, ts_s, qty, volume) = (f.f64()?, f.f64()?, f.f64()?, f.f64()?, f.f64()?);
    let seq = if flags & SEQ == 0 {
        None
    } else {
        Some(Seq::Small(f.u64()?))
    };
    let sent_ts = f.opt_f64(flags, SENT)?;
    let price = f.opt_f64(flags, PRICE)?;
    let bid = f.opt_f64(flags, BID)?;
    let ask = f.opt_f64(flags, ASK)?;
    let ts = if flags & TS_TEXT == 0 {
        Ts::Number(f.f64()?)
    } else {
        Ts::Text(Cow::Borrowed(f.text()?))
    };
    let source = Cow::Borrowed(f.text()?);
    let producer = f.opt_text(flags, PRODUCER)?;
    let instance = f.opt_text(flags, INSTANCE)?;
    let event_id = f.opt_text(flags, EVENT_ID)?;
    let side = f.opt_text(flags, SIDE)?;
    let symbol = f.opt_text(flags, SYMBOL)?;
    if !f.data.is_empty() {
        return None;
    }
    let event = Event {
        kind,
        producer,
        instance,
        seq,
        sent_ts,
        event_id,
        ts,
        ts_s,
        side,
        qty,
        symbol,
        price,
        volume,
        source,
        bid,
        ask,
    };
    Some(Record::Event {
        event,
        recv,
        applied,
    })
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
