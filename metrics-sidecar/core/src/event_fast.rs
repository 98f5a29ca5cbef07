//! The decoder's fast path: a message as producers send it (a flat object whose
//! first key is `type`, scalar values, no escapes, no repeated key, every field
//! valid) read straight into its `Event`, with no `Value` tree and no
//! allocation.
//!
//! It answers only when it is sure: `None` for anything else (any syntax or
//! strict problem, a nested value, an escape, a bad or missing field, an
//! unusual layout), and the caller then runs the full reader (`json.rs`) and
//! `event::event_from`, which decide every verdict. Each field goes through
//! the same `event::set_field` as there, so an event read here is the one the
//! full path makes (`event_tests.rs` holds them equal).

use std::borrow::Cow;

use crate::event::{blank, field, kind_of, set_field, Event, Field, Rules, Seen};

/// A key of up to 8 bytes as a little-endian word (the bytes after its quote).
const fn pack(key: &str) -> u64 {
    let bytes = key.as_bytes();
    let mut word = 0u64;
    let mut i = 0;
    while i < bytes.len() {
        word |= (bytes[i] as u64) << (8 * i);
        i += 1;
    }
    word
}

// The schema's keys as words (`key`).
const TS: u64 = pack("ts");
const SEQ: u64 = pack("seq");
const QTY: u64 = pack("qty");
const BID: u64 = pack("bid");
const ASK: u64 = pack("ask");
const SIDE: u64 = pack("side");
const PRICE: u64 = pack("price");
const SYMBOL: u64 = pack("symbol");
const VOLUME: u64 = pack("volume");
const SOURCE: u64 = pack("source");
const SENT_TS: u64 = pack("sent_ts");
const PRODUCER: u64 = pack("producer");
const INSTANCE: u64 = pack("instance");
const EVENT_ID: u64 = pack("event_id");

/// The field of a key packed as a word (`pack`).
fn field_of_word(word: u64) -> Field {
    match word {
        TS => Field::Ts,
        SEQ => Field::Seq,
        QTY => Field::Qty,
        BID => Field::Bid,
        ASK => Field::Ask,
        SIDE => Field::Side,
        PRICE => Field::Price,
        SYMBOL => Field::Symbol,
        VOLUME => Field::Volume,
        SOURCE => Field::Source,
        SENT_TS => Field::SentTs,
        PRODUCER => Field::Producer,
        INSTANCE => Field::Instance,
        EVENT_ID => Field::EventId,
        _ => Field::Other,
    }
}
use crate::json::{parse_float, Value, MAX_INT_CHARS};

/// Extra (unknown) keys tracked for the repeated-key check; more: not fast.
const MAX_EXTRA: usize = 4;

/// The object at `start` (its `{`) read into `event` (its `ts_s` still to be
/// normalised: `event::finish`): the required fields seen, and the position
/// after its `}`. On None, `event` holds whatever was read.
pub(crate) fn object<'a>(
    text: &'a str,
    start: usize,
    rules: &Rules,
    event: &mut Event<'a>,
) -> Option<(Seen, usize)> {
    if rules.max_depth < 1 {
        return None;
    }
    let mut reader = Flat {
        text,
        bytes: text.as_bytes(),
        pos: start,
    };
    reader.expect(b'{')?;
    reader.skip_ws();
    if reader.string()? != "type" {
        return None;
    }
    reader.colon()?;
    let kind = match reader.scalar()? {
        Value::Str(Cow::Borrowed(name)) => kind_of(name)?,
        _ => return None,
    };
    *event = blank(kind);
    let mut seen = Seen::default();
    let mut known: u32 = 0;
    let mut extra: [&str; MAX_EXTRA] = [""; MAX_EXTRA];
    let mut extras = 0;
    loop {
        reader.skip_ws();
        match reader.next()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
        reader.skip_ws();
        let (key, field) = reader.key()?;
        reader.colon()?;
        let value = reader.scalar()?;
        if field == Field::Other {
            if key == "type" || extra.get(..extras)?.contains(&key) {
                return None;
            }
            *extra.get_mut(extras)? = key;
            extras += 1;
        } else {
            let bit = 1u32 << (field as u32);
            if known & bit != 0 {
                return None;
            }
            known |= bit;
        }
        set_field(event, &mut seen, field, &value, rules).ok()?;
    }
    Some((seen, reader.pos))
}

/// One frame holding one such object (whitespace around it allowed), read
/// into `event`.
pub(crate) fn frame<'a>(text: &'a str, rules: &Rules, event: &mut Event<'a>) -> Option<Seen> {
    let bytes = text.as_bytes();
    let start = skip_ws(bytes, 0);
    let (seen, end) = object(text, start, rules, event)?;
    (skip_ws(bytes, end) == bytes.len()).then_some(seen)
}

fn skip_ws(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(pos) {
        pos += 1;
    }
    pos
}

struct Flat<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that is below `n` (n <= 128); exact for
/// the lowest such byte, which is all a scan needs.
fn below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS
}

fn zero_bytes(word: u64) -> u64 {
    below(word, 1)
}

impl<'a> Flat<'a> {
    fn skip_ws(&mut self) {
        self.pos = skip_ws(self.bytes, self.pos);
    }

    fn next(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    fn colon(&mut self) -> Option<()> {
        self.skip_ws();
        self.expect(b':')?;
        self.skip_ws();
        Some(())
    }

    /// A string without escapes or control characters, borrowed from the frame.
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let open = self.pos;
        let bytes = self.bytes;
        let mut end = open;
        // Eight bytes at a time: stop at the first quote, backslash or control byte.
        while let Some(chunk) = bytes.get(end..end + 8) {
            let word = u64::from_le_bytes(chunk.try_into().ok()?);
            let hits = zero_bytes(word ^ (ONES * u64::from(b'"')))
                | zero_bytes(word ^ (ONES * u64::from(b'\\')))
                | below(word, 0x20);
            if hits != 0 {
                end += (hits.trailing_zeros() / 8) as usize;
                break;
            }
            end += 8;
        }
        loop {
            match *bytes.get(end)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => end += 1,
            }
        }
        self.pos = end + 1;
        // The quotes are ASCII, so the cut is on character boundaries.
        self.text.get(open..end)
    }

    /// A key and its field: a key of up to 8 plain bytes is matched as one
    /// word (no byte loop, no string comparison); any other through `string`.
    fn key(&mut self) -> Option<(&'a str, Field)> {
        let open = self.pos + 1;
        if let (Some(b'"'), Some(chunk)) =
            (self.bytes.get(self.pos), self.bytes.get(open..open + 8))
        {
            let word = u64::from_le_bytes(chunk.try_into().ok()?);
            let hits = zero_bytes(word ^ (ONES * u64::from(b'"')))
                | zero_bytes(word ^ (ONES * u64::from(b'\\')))
                | below(word, 0x20);
            let len = if hits == 0 {
                (self.bytes.get(open + 8) == Some(&b'"')).then_some(8)
            } else {
                let at = (hits.trailing_zeros() / 8) as usize;
                (self.bytes.get(open + at) == Some(&b'"')).then_some(at)
            };
            if let Some(len) = len {
                let key = self.text.get(open..open + len)?;
                self.pos = open + len + 1;
                let word = if len == 8 {
                    word
                } else {
                    word & ((1u64 << (8 * len)) - 1)
                };
                return Some((key, field_of_word(word)));
            }
        }
        let key = self.string()?;
        Some((key, field(key)))
    }

    fn literal(&mut self, word: &[u8], value: Value<'a>) -> Option<Value<'a>> {
        let rest = self.bytes.get(self.pos..)?;
        if !rest.starts_with(word) {
            return None;
        }
        self.pos += word.len();
        Some(value)
    }

    /// A value that is not an object or array, read as the strict reader does.
    fn scalar(&mut self) -> Option<Value<'a>> {
        match *self.bytes.get(self.pos)? {
            b'"' => self.string().map(|text| Value::Str(Cow::Borrowed(text))),
            b'-' | b'0'..=b'9' => self.number(),
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'n' => self.literal(b"null", Value::Null),
            _ => None,
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// The JSON number grammar, and the strict checks (`json.rs`): an integer
    /// of at most `MAX_INT_CHARS` characters, any other number finite.
    fn number(&mut self) -> Option<Value<'a>> {
        let start = self.pos;
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.bytes.get(self.pos)? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        let mut integer = true;
        if self.bytes.get(self.pos) == Some(&b'.') {
            integer = false;
            self.pos += 1;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            integer = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        let text = self.text.get(start..self.pos)?;
        if integer {
            return (text.len() <= MAX_INT_CHARS).then_some(Value::Number(text, None));
        }
        let parsed = parse_float(text).filter(|value| value.is_finite())?;
        Some(Value::Number(text, Some(parsed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::depth::nesting_deeper_than;
    use crate::event::{decode, decode_batch, event_from, Reason};
    use crate::json;

    fn iso(text: &str) -> Result<Option<f64>, ()> {
        Ok((text == "2023-11-14T22:13:20Z").then_some(1_700_000_000.0))
    }

    /// The full reader alone (no fast path).
    fn full<'a>(frame: &'a [u8], rules: &Rules) -> Result<Event<'a>, Reason> {
        let text = std::str::from_utf8(frame).map_err(|_| Reason::BadJson)?;
        if nesting_deeper_than(frame, rules.max_depth) {
            return Err(Reason::TooDeep);
        }
        event_from(json::parse(text, true)?, rules, &iso)
    }

    const FRAMES: [&str; 3] = [
        r#"{"type":"trade","side":"sell","qty":3.0,"ts":1765148483.1234567,"symbol":"SYM00042","price":105.0,"producer":"bench","instance":"i1","seq":42,"event_id":"i1-42","sent_ts":1765148483.1234567}"#,
        r#"{ "type" : "tick", "symbol":"A.B", "price":1e2, "volume":0, "ts":"2023-11-14T22:13:20Z", "source":"feed1", "bid":null, "ask":99.5, "x":[1], "seq":-0 }"#,
        r#"{"type":"heartbeat","ts":1700000000123,"producer":"p","y":true,"z":false,"w":null,"v":"\u0041"}"#,
    ];

    #[test]
    fn publisher_frames_take_the_fast_path() {
        let rules = Rules::example();
        let mut event = blank(crate::event::Kind::Heartbeat);
        assert!(frame(FRAMES[0], &rules, &mut event).is_some());
        assert_eq!(event.symbol.as_deref(), Some("SYM00042"));
        let batch = format!("[{},{}]", FRAMES[0], FRAMES[0]);
        let fast = |text, start| {
            let mut event = blank(crate::event::Kind::Heartbeat);
            object(text, start, &rules, &mut event).map(|(seen, end)| ((event, seen), end))
        };
        let items = json::split_array_with(&batch, fast).ok().flatten();
        assert!(items.is_some_and(|items| items
            .iter()
            .all(|item| matches!(item, json::Split::Fast(_)))));
    }

    /// Every one-byte change (and cut) of a few frames: the decoder with its
    /// fast path gives what the full reader gives, alone and in a batch.
    #[test]
    fn mutated_frames_agree_with_the_full_reader() {
        let rules = Rules::example();
        let bytes = b"\"\\,:{}[] 1-.eE0x\x01\xc3nlt";
        for original in FRAMES {
            let original = original.as_bytes();
            for at in 0..original.len() {
                let mut variants = vec![[&original[..at], &original[at + 1..]].concat()];
                for &byte in bytes {
                    let mut changed = original.to_vec();
                    changed[at] = byte;
                    variants.push(changed);
                }
                for variant in variants {
                    let shown = String::from_utf8_lossy(&variant).into_owned();
                    assert_eq!(
                        decode(&variant, &rules, &iso),
                        full(&variant, &rules),
                        "{shown}"
                    );
                    let batch = [&b"["[..], &variant, b",", original, b"]"].concat();
                    let expected: Vec<_> =
                        match json::split_array(std::str::from_utf8(&batch).unwrap_or("x")) {
                            Ok(Some(items)) => items
                                .into_iter()
                                .map(|item| match item.object {
                                    None => Err(Reason::NotObject),
                                    Some(_) if nesting_deeper_than(item.text.as_bytes(), 32) => {
                                        Err(Reason::TooDeep)
                                    }
                                    Some(parsed) => event_from(parsed?, &rules, &iso),
                                })
                                .collect(),
                            Ok(None) => vec![Err(Reason::NotObject)],
                            Err(problem) => vec![Err(problem.into())],
                        };
                    if std::str::from_utf8(&batch).is_ok() {
                        assert_eq!(decode_batch(&batch, &rules, &iso), expected, "{shown}");
                    }
                }
            }
        }
    }

    #[test]
    fn keys_are_matched_as_words() {
        for (text, expected) in [
            ("\"ts\":", Some(("ts", Field::Ts))),
            ("\"producer\":", Some(("producer", Field::Producer))),
            ("\"event_id\"", Some(("event_id", Field::EventId))),
            ("\"event_idx\":", Some(("event_idx", Field::Other))),
            ("\"sent_t\":1234", Some(("sent_t", Field::Other))),
            ("\"\":1234567", Some(("", Field::Other))),
            ("\"t\\u0073\":12345", None),
            ("\"ts", None),
            ("\"producer", None),
        ] {
            let mut reader = Flat {
                text,
                bytes: text.as_bytes(),
                pos: 0,
            };
            assert_eq!(reader.key(), expected, "{text:?}");
            if let Some((key, _)) = expected {
                assert_eq!(reader.pos, key.len() + 2);
            }
        }
    }

    #[test]
    fn the_scan_stops_at_the_first_quote_backslash_or_control_byte() {
        for (text, expected) in [
            ("\"abcdefghijklmnop\"", Some("abcdefghijklmnop")),
            ("\"abcdefgh\"", Some("abcdefgh")),
            ("\"\"", Some("")),
            ("\"é€😀abcdefgh\"", Some("é€😀abcdefgh")),
            ("\"abcdefghi\\\"\"", None),
            ("\"abc\x01defghijk\"", None),
            ("\"abcdefghijk\x1f\"", None),
            ("\"abcdefghijk", None),
        ] {
            let mut reader = Flat {
                text,
                bytes: text.as_bytes(),
                pos: 0,
            };
            assert_eq!(reader.string(), expected, "{text:?}");
        }
    }
}
