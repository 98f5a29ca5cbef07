//! Frame -> normalised event, or the reason it is rejected: the rules of the
//! pydantic models in `schema.py`, in the order the sidecar reports them.
//!
//! 1. Not UTF-8 -> `bad_json`.
//! 2. Brackets nesting deeper than `max_depth` -> `too_deep` (measured by the
//!    parse itself when it succeeds, by `depth.rs` otherwise).
//! 3. The strict parse (`json.rs`): the first of `bad_json`, `non_finite`,
//!    `duplicate_key` in reading order.
//! 4. Not an object -> `not_object`; `type` missing or unknown -> `unknown_type`.
//! 5. The fields in the order the frame has them: the first bad one decides
//!    (`bad_field`; `bad_timestamp` for a `ts` that is not a number or string;
//!    `non_finite` for an integer too big for a float).
//! 6. A required field absent -> `missing_field`.
//! 7. `ts` that does not normalise to epoch seconds -> `bad_timestamp`.
//!
//! Unknown keys are allowed (as `extra="allow"`) and ignored.

use crate::depth::nesting_deeper_than;
use std::borrow::Cow;

use crate::json::{self, is_integer, Problem, Split, Value};
use crate::pattern::Pattern;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    BadJson,
    TooDeep,
    DuplicateKey,
    NotObject,
    UnknownType,
    MissingField,
    BadField,
    BadTimestamp,
    NonFinite,
    /// A bug in the core (a caught panic, or a failing callback), never bad input.
    InternalError,
}

impl Reason {
    /// The `reason` label (`metrics_sidecar/reasons.py`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadJson => "bad_json",
            Reason::TooDeep => "too_deep",
            Reason::DuplicateKey => "duplicate_key",
            Reason::NotObject => "not_object",
            Reason::UnknownType => "unknown_type",
            Reason::MissingField => "missing_field",
            Reason::BadField => "bad_field",
            Reason::BadTimestamp => "bad_timestamp",
            Reason::NonFinite => "non_finite",
            Reason::InternalError => "internal_error",
        }
    }
}

impl From<Problem> for Reason {
    fn from(problem: Problem) -> Reason {
        match problem {
            Problem::BadJson => Reason::BadJson,
            Problem::TooDeep => Reason::TooDeep,
            Problem::NonFinite => Reason::NonFinite,
            Problem::DuplicateKey => Reason::DuplicateKey,
        }
    }
}

/// What the schema allows, handed over from `schema.py` (its one definition).
#[derive(Debug, Clone)]
pub struct Rules {
    pub max_depth: usize,
    pub symbol: Pattern,
    pub producer: Pattern,
    pub instance: Pattern,
    pub source: Pattern,
    pub event_id_max_len: usize,
    /// Inclusive upper bound of `seq`; None: any non-negative integer.
    pub seq_max: Option<u64>,
    /// Inclusive upper bounds of qty/volume and of price/bid/ask.
    pub qty_max: f64,
    pub price_max: f64,
    /// Exclusive upper bound of `sent_ts`.
    pub sent_ts_below: f64,
    /// Numeric `ts`: epoch seconds below this, epoch milliseconds from it ...
    pub ts_seconds_below: f64,
    /// ... up to (not including) this.
    pub ts_millis_below: f64,
}

impl Rules {
    /// The values of `schema.py` when this was written, for the Rust tests and the
    /// fuzz target (the sidecar always passes the schema's own).
    pub fn example() -> Rules {
        let pattern = |regex: &str| Pattern::parse(regex).unwrap_or_else(|error| panic!("{error}"));
        Rules {
            max_depth: 32,
            symbol: pattern(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,31}$"),
            producer: pattern(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$"),
            instance: pattern(r"^[A-Za-z0-9._-]{1,64}$"),
            source: pattern(r"^[a-z0-9_-]{1,16}$"),
            event_id_max_len: 128,
            seq_max: Some(i64::MAX as u64),
            qty_max: 1e15,
            price_max: 1e12,
            sent_ts_below: 1e11,
            ts_seconds_below: 1e11,
            ts_millis_below: 1e14,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Trade,
    Tick,
    Heartbeat,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Seq {
    Small(u64),
    /// Above u64 (only when the schema sets no bound): the decimal digits.
    Big(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ts<'a> {
    Number(f64),
    Text(Cow<'a, str>),
}

/// A validated event, with defaults filled in; fields a kind does not have stay
/// at their defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    pub kind: Kind,
    pub producer: Option<Cow<'a, str>>,
    pub instance: Option<Cow<'a, str>>,
    pub seq: Option<Seq>,
    pub sent_ts: Option<f64>,
    pub event_id: Option<Cow<'a, str>>,
    pub ts: Ts<'a>,
    /// `ts` normalised to epoch seconds.
    pub ts_s: f64,
    pub side: Option<Cow<'a, str>>,
    pub qty: f64,
    pub symbol: Option<Cow<'a, str>>,
    pub price: Option<f64>,
    pub volume: f64,
    pub source: Cow<'a, str>,
    pub bid: Option<f64>,
    pub ask: Option<f64>,
}

/// Normalises an ISO 8601 `ts` (the sidecar's `timestamps.normalize_ts`):
/// Ok(None) if it is not a usable time, Err if the normaliser itself failed.
pub type IsoTime<'f> = &'f dyn Fn(&str) -> Result<Option<f64>, ()>;

/// One frame holding one JSON object.
pub fn decode<'a>(frame: &'a [u8], rules: &Rules, iso: IsoTime) -> Result<Event<'a>, Reason> {
    let text = std::str::from_utf8(frame).map_err(|_| Reason::BadJson)?;
    let mut event = blank(Kind::Heartbeat);
    if let Some(seen) = fast::frame(text, rules, &mut event) {
        finish_in_place(&mut event, seen, rules, iso)?;
        return Ok(event);
    }
    // One pass for the usual frame: a parse that succeeds within max_depth
    // proves it is not too deep. Any other outcome asks the depth scan first
    // (too_deep outranks every parse problem), then parses in full.
    let value = match json::parse_shallow(text, rules.max_depth) {
        Ok(value) => value,
        Err(_) if nesting_deeper_than(frame, rules.max_depth) => return Err(Reason::TooDeep),
        Err(Some(problem)) => return Err(problem.into()),
        Err(None) => json::parse(text, true)?, // deep, but its brackets do not all close
    };
    event_from(value, rules, iso)
}

/// A parsed object -> the event it describes, or why it is not one.
pub(crate) fn event_from<'a>(
    value: Value<'a>,
    rules: &Rules,
    iso: IsoTime,
) -> Result<Event<'a>, Reason> {
    let Value::Object(pairs) = value else {
        return Err(Reason::NotObject);
    };
    let kind = match pairs.iter().find(|(key, _)| key == "type").map(|(_, v)| v) {
        Some(Value::Str(kind)) => kind_of(kind).ok_or(Reason::UnknownType)?,
        _ => return Err(Reason::UnknownType),
    };
    let mut event = blank(kind);
    let mut seen = Seen::default();
    for (key, value) in &pairs {
        set_field(&mut event, &mut seen, field(key), value, rules)?;
    }
    finish(event, seen, rules, iso)
}

/// The message type a `type` value names.
pub(crate) fn kind_of(text: &str) -> Option<Kind> {
    match text {
        "trade" => Some(Kind::Trade),
        "tick" => Some(Kind::Tick),
        "heartbeat" => Some(Kind::Heartbeat),
        _ => None,
    }
}

/// An event of `kind` with every field at its default.
pub(crate) fn blank<'a>(kind: Kind) -> Event<'a> {
    Event {
        kind,
        producer: None,
        instance: None,
        seq: None,
        sent_ts: None,
        event_id: None,
        ts: Ts::Number(0.0),
        ts_s: 0.0,
        side: None,
        qty: 0.0,
        symbol: None,
        price: None,
        volume: 0.0,
        source: Cow::Borrowed("unknown"),
        bid: None,
        ask: None,
    }
}

/// The required fields met so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    ts: bool,
    side: bool,
    qty: bool,
    symbol: bool,
    price: bool,
}

/// One field of the object, in the frame's order: its value checked and set
/// (the first bad one decides the verdict).
pub(crate) fn set_field<'a>(
    event: &mut Event<'a>,
    seen: &mut Seen,
    field: Field,
    value: &Value<'a>,
    rules: &Rules,
) -> Result<(), Reason> {
    let trade = event.kind == Kind::Trade;
    let tick = event.kind == Kind::Tick;
    match field {
        Field::Producer => event.producer = optional(value, |v| label(v, &rules.producer))?,
        Field::Instance => event.instance = optional(value, |v| label(v, &rules.instance))?,
        Field::Seq => event.seq = optional(value, |v| seq(v, rules.seq_max))?,
        Field::SentTs => {
            event.sent_ts = optional(value, |v| {
                bounded(v, 0.0, false, rules.sent_ts_below, false)
            })?
        }
        Field::EventId => {
            event.event_id = optional(value, |v| event_id(v, rules.event_id_max_len))?
        }
        Field::Ts => {
            event.ts = match value {
                Value::Number(text, parsed) => Ts::Number(float(text, *parsed)?),
                Value::Str(text) => Ts::Text(share(text)),
                _ => return Err(Reason::BadTimestamp),
            };
            seen.ts = true;
        }
        Field::Side if trade => {
            event.side = match value {
                Value::Str(side) if side == "buy" || side == "sell" => Some(share(side)),
                _ => return Err(Reason::BadField),
            };
            seen.side = true;
        }
        Field::Qty if trade => {
            event.qty = bounded(value, 0.0, false, rules.qty_max, true)?;
            seen.qty = true;
        }
        Field::Symbol if trade => event.symbol = optional(value, |v| label(v, &rules.symbol))?,
        Field::Symbol if tick => {
            event.symbol = Some(label(value, &rules.symbol)?);
            seen.symbol = true;
        }
        Field::Price if trade => {
            event.price = optional(value, |v| bounded(v, 0.0, true, rules.price_max, true))?
        }
        Field::Price if tick => {
            event.price = Some(bounded(value, 0.0, true, rules.price_max, true)?);
            seen.price = true;
        }
        Field::Volume if tick => event.volume = bounded(value, 0.0, false, rules.qty_max, true)?,
        Field::Source if tick => event.source = label(value, &rules.source)?,
        Field::Bid if tick => {
            event.bid = optional(value, |v| bounded(v, 0.0, true, rules.price_max, true))?
        }
        Field::Ask if tick => {
            event.ask = optional(value, |v| bounded(v, 0.0, true, rules.price_max, true))?
        }
        _ => {} // "type", and extra keys
    }
    Ok(())
}

/// The object read whole: its required fields present, its `ts` normalised.
pub(crate) fn finish<'a>(
    mut event: Event<'a>,
    seen: Seen,
    rules: &Rules,
    iso: IsoTime,
) -> Result<Event<'a>, Reason> {
    finish_in_place(&mut event, seen, rules, iso)?;
    Ok(event)
}

/// `finish` on an event in place (no move of it).
fn finish_in_place(
    event: &mut Event<'_>,
    seen: Seen,
    rules: &Rules,
    iso: IsoTime,
) -> Result<(), Reason> {
    let complete = match event.kind {
        Kind::Trade => seen.side && seen.qty && seen.ts,
        Kind::Tick => seen.symbol && seen.price && seen.ts,
        Kind::Heartbeat => seen.ts,
    };
    if !complete {
        return Err(Reason::MissingField);
    }
    event.ts_s = match &event.ts {
        Ts::Number(seconds) => epoch_seconds(*seconds, rules),
        Ts::Text(text) => iso(text).map_err(|()| Reason::InternalError)?,
    }
    .ok_or(Reason::BadTimestamp)?;
    Ok(())
}

/// The schema's field names (`Other`: "type", and any extra key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Producer,
    Instance,
    Seq,
    SentTs,
    EventId,
    Ts,
    Side,
    Qty,
    Symbol,
    Price,
    Volume,
    Source,
    Bid,
    Ask,
    Other,
}

/// A key's field, by its length first (one comparison per key, not one per name).
pub(crate) fn field(key: &str) -> Field {
    match (key.len(), key) {
        (2, "ts") => Field::Ts,
        (3, "seq") => Field::Seq,
        (3, "qty") => Field::Qty,
        (3, "bid") => Field::Bid,
        (3, "ask") => Field::Ask,
        (4, "side") => Field::Side,
        (5, "price") => Field::Price,
        (6, "symbol") => Field::Symbol,
        (6, "volume") => Field::Volume,
        (6, "source") => Field::Source,
        (7, "sent_ts") => Field::SentTs,
        (8, "producer") => Field::Producer,
        (8, "instance") => Field::Instance,
        (8, "event_id") => Field::EventId,
        _ => Field::Other,
    }
}

/// One frame holding a JSON array: each element judged on its own (an element
/// that is not an object is rejected without a parse).
pub fn decode_batch<'a>(
    frame: &'a [u8],
    rules: &Rules,
    iso: IsoTime,
) -> Vec<Result<Event<'a>, Reason>> {
    let Ok(text) = std::str::from_utf8(frame) else {
        return vec![Err(Reason::BadJson)];
    };
    // The results are made in place, one per element in order: an element the
    // fast path read is its event (its ts normalised once the whole frame is
    // known to be valid, as the full reader's are); any other is judged from
    // what the full reader made of it.
    let mut out: Vec<Result<Event<'a>, Reason>> = Vec::with_capacity(text.len() / 128 + 1);
    let mut fast_seen: Vec<Option<Seen>> = Vec::with_capacity(out.capacity());
    let fast = |text, start| {
        out.push(Ok(blank(Kind::Heartbeat)));
        let read = match out.last_mut() {
            Some(Ok(event)) => fast::object(text, start, rules, event),
            _ => None,
        };
        fast_seen.push(read.map(|(seen, _)| seen));
        read.map(|(_, end)| ((), end))
    };
    let items = match json::split_array_with(text, fast) {
        Err(problem) => return vec![Err(problem.into())],
        Ok(None) => return vec![Err(Reason::NotObject)],
        Ok(Some(items)) => items,
    };
    if out.is_empty() {
        return vec![Err(Reason::NotObject)];
    }
    let mut others = items.into_iter().filter_map(|item| match item {
        Split::Element(element) => Some(element),
        Split::Fast(()) => None,
    });
    for (result, seen) in out.iter_mut().zip(fast_seen) {
        let verdict = match (&mut *result, seen) {
            (Ok(event), Some(seen)) => match finish_in_place(event, seen, rules, iso) {
                Ok(()) => continue,
                Err(reason) => Err(reason),
            },
            _ => match others.next() {
                Some(element) => element_verdict(element, rules, iso),
                None => Err(Reason::InternalError), // never: one element each
            },
        };
        *result = verdict;
    }
    out
}

/// An element the full reader read (or, not an object, only checked).
fn element_verdict<'a>(
    item: json::Element<'a>,
    rules: &Rules,
    iso: IsoTime,
) -> Result<Event<'a>, Reason> {
    match item.object {
        None => Err(Reason::NotObject),
        // A parsed element is valid JSON: its measured depth is the scan's.
        Some(Ok(_)) if item.depth > rules.max_depth => Err(Reason::TooDeep),
        Some(Err(_)) if nesting_deeper_than(item.text.as_bytes(), rules.max_depth) => {
            Err(Reason::TooDeep)
        }
        Some(parsed) => event_from(parsed?, rules, iso),
    }
}

/// Numeric `ts` -> epoch seconds (seconds, or milliseconds from `ts_seconds_below`).
fn epoch_seconds(value: f64, rules: &Rules) -> Option<f64> {
    if !value.is_finite() || value < 0.0 {
        None
    } else if value < rules.ts_seconds_below {
        Some(value)
    } else if value < rules.ts_millis_below {
        Some(value / 1000.0)
    } else {
        None
    }
}

fn optional<'a, T>(
    value: &Value<'a>,
    read: impl Fn(&Value<'a>) -> Result<T, Reason>,
) -> Result<Option<T>, Reason> {
    match value {
        Value::Null => Ok(None),
        other => read(other).map(Some),
    }
}

/// A JSON number as a float: an integer converts exactly as Python's float(int)
/// (one that overflows is `non_finite`).
fn float(text: &str, parsed: Option<f64>) -> Result<f64, Reason> {
    if let Some(value) = parsed {
        return Ok(value); // the reader's own parse, already checked finite
    }
    if is_integer(text) {
        if let Ok(small) = text.parse::<i64>() {
            return Ok(small as f64); // also "-0" -> 0.0, as int("-0") is 0
        }
    }
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        _ => Err(Reason::NonFinite),
    }
}

/// A number in `low..=high` (`low_open`: `low` itself excluded; `high_closed`:
/// `high` itself included).
fn bounded(
    value: &Value,
    low: f64,
    low_open: bool,
    high: f64,
    high_closed: bool,
) -> Result<f64, Reason> {
    let Value::Number(text, parsed) = value else {
        return Err(Reason::BadField);
    };
    let number = float(text, *parsed)?;
    let above_low = if low_open {
        number > low
    } else {
        number >= low
    };
    let below_high = if high_closed {
        number <= high
    } else {
        number < high
    };
    if above_low && below_high {
        Ok(number)
    } else {
        Err(Reason::BadField)
    }
}

fn seq(value: &Value, max: Option<u64>) -> Result<Seq, Reason> {
    let Value::Number(text, _) = value else {
        return Err(Reason::BadField);
    };
    if !is_integer(text) {
        return Err(Reason::BadField);
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    if text.starts_with('-') {
        return if digits.bytes().all(|b| b == b'0') {
            Ok(Seq::Small(0))
        } else {
            Err(Reason::BadField)
        };
    }
    match (digits.parse::<u64>(), max) {
        (Ok(n), Some(max)) if n > max => Err(Reason::BadField),
        (Ok(n), _) => Ok(Seq::Small(n)),
        (Err(_), Some(_)) => Err(Reason::BadField),
        (Err(_), None) => Ok(Seq::Big(digits.to_owned())),
    }
}

/// A string of the frame as the event's own: borrowed from the frame (no copy)
/// unless the reader had to decode escapes.
fn share<'a>(text: &Cow<'a, str>) -> Cow<'a, str> {
    match text {
        Cow::Borrowed(text) => Cow::Borrowed(text),
        Cow::Owned(text) => Cow::Owned(text.clone()),
    }
}

fn label<'a>(value: &Value<'a>, pattern: &Pattern) -> Result<Cow<'a, str>, Reason> {
    match value {
        Value::Str(text) if pattern.matches(text) => Ok(share(text)),
        _ => Err(Reason::BadField),
    }
}

fn event_id<'a>(value: &Value<'a>, max_len: usize) -> Result<Cow<'a, str>, Reason> {
    match value {
        Value::Str(text) if !text.is_empty() && text.chars().count() <= max_len => Ok(share(text)),
        _ => Err(Reason::BadField),
    }
}

/// The fast path for messages as producers send them.
#[path = "event_fast.rs"]
mod fast;

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
