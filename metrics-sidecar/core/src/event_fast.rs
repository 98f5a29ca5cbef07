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
use crate::json::{parse_float, Value, MAX_INT_CHARS};

/// Extra (unknown) keys tracked for the repeated-key check; more: not fast.
const MAX_EXTRA: usize = 4;

/// The object at `start` (its `{`) as an event whose `ts_s` is still to be
/// normalised (`event::finish`), and the position after its `}`.
pub(crate) fn object<'a>(
    text: &'a str,
    start: usize,
    rules: &Rules,
) -> Option<(Event<'a>, Seen, usize)> {
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
    let mut event = blank(kind);
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
        let key = reader.string()?;
        reader.colon()?;
        let value = reader.scalar()?;
        let field = field(key);
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
        set_field(&mut event, &mut seen, field, &value, rules).ok()?;
    }
    Some((event, seen, reader.pos))
}

/// One frame holding one such object (whitespace around it allowed).
pub(crate) fn frame<'a>(text: &'a str, rules: &Rules) -> Option<(Event<'a>, Seen)> {
    let bytes = text.as_bytes();
    let start = skip_ws(bytes, 0);
    let (event, seen, end) = object(text, start, rules)?;
    (skip_ws(bytes, end) == bytes.len()).then_some((event, seen))
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
        let (event, _) = frame(FRAMES[0], &rules).unwrap_or_else(|| panic!("not fast"));
        assert_eq!(event.symbol.as_deref(), Some("SYM00042"));
        let batch = format!("[{},{}]", FRAMES[0], FRAMES[0]);
        let fast = |text, start| object(text, start, &rules).map(|(e, s, end)| ((e, s), end));
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
