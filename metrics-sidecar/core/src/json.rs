//! A strict JSON reader for one frame: what Python's `json.loads` accepts, minus
//! NaN/Infinity literals and lone surrogates, with the sidecar's hostile-input
//! checks reported in reading order (the first problem in the frame wins):
//! syntax (`BadJson`), a number that is not finite or has more than 4,300
//! characters (`NonFinite`), a repeated key, found when its object closes
//! (`DuplicateKey`), and runaway nesting (`TooDeep`).
//!
//! Numbers are kept as their text, so a field decides how to read them (an
//! integer `seq` must not pass through a float).

use std::borrow::Cow;
use std::collections::HashSet;

/// Past this many open brackets the reader stops (the frame is junk: nesting
/// past `MAX_DEPTH` with closed brackets is caught before parsing).
pub const PARSE_DEPTH_LIMIT: usize = 1000;
/// CPython's limit on the characters of an integer (and pydantic's).
pub const MAX_INT_CHARS: usize = 4300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    BadJson,
    TooDeep,
    NonFinite,
    DuplicateKey,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// The number's text, already checked against the JSON grammar, and, for a
    /// fraction or exponent read strictly, the finite float the reader parsed to
    /// check it (so a field does not parse it again).
    Number(&'a str, Option<f64>),
    Str(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

/// True if a number's text is an integer literal (no fraction, no exponent).
pub fn is_integer(text: &str) -> bool {
    !text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
}

/// A JSON number with a fraction or an exponent as the nearest float (Python's
/// `float()`); None if the text is not one.
pub(crate) fn parse_float(text: &str) -> Option<f64> {
    decimal(text.as_bytes()).or_else(|| text.parse::<f64>().ok())
}

/// 10**0 ..= 10**22: exact as floats.
const POWERS: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The usual shape of a number on the wire, `[-]digits[.digits]` with at most
/// 19 digits in all, as the nearest float (ties to even), or None for any
/// other text (then std's parser decides; it rounds the same way).
fn decimal(bytes: &[u8]) -> Option<f64> {
    let (negative, digits) = match bytes.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, bytes),
    };
    if digits.len() > 20 {
        return None;
    }
    let mut mantissa: u64 = 0;
    let mut count = 0;
    let mut scale = 0;
    let mut point = false;
    for &byte in digits {
        match byte {
            b'0'..=b'9' => {
                // Wraps only past 19 digits, which are refused below.
                mantissa = mantissa
                    .wrapping_mul(10)
                    .wrapping_add(u64::from(byte - b'0'));
                count += 1;
                scale += usize::from(point);
            }
            b'.' if !point => point = true,
            _ => return None,
        }
    }
    if count == 0 || count > 19 {
        return None;
    }
    let value = if mantissa <= 1 << 53 {
        // Both exact, and IEEE division rounds correctly (Clinger's fast path).
        mantissa as f64 / POWERS.get(scale)?
    } else {
        quotient(mantissa, scale)?
    };
    Some(if negative { -value } else { value })
}

/// `mantissa / 10**scale` rounded to the nearest float (ties to even), for a
/// mantissa above 2**53 (not exact as a float): by integer division with 64
/// more bits than the result needs, and the remainder as the sticky bit.
fn quotient(mantissa: u64, scale: usize) -> Option<f64> {
    if scale == 0 {
        return Some(mantissa as f64); // the cast rounds to nearest, ties to even
    }
    let divisor = 10u64.checked_pow(u32::try_from(scale).ok()?)?;
    let numerator = u128::from(mantissa) << 64;
    let q = numerator / u128::from(divisor);
    let exact = numerator % u128::from(divisor) == 0;
    // mantissa > 2**53 and divisor < 2**64: q > 2**53, so at least 54 bits.
    let bits = 128 - q.leading_zeros();
    let mut shift = bits.checked_sub(53).filter(|s| *s >= 1)?;
    let mut kept = u64::try_from(q >> shift).ok()?;
    let dropped = q & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    if dropped > half || (dropped == half && (!exact || kept & 1 == 1)) {
        kept += 1;
        if kept == 1 << 53 {
            kept = 1 << 52;
            shift += 1;
        }
    }
    // kept < 2**53 is exact; times 2**(shift - 64), a normal power of two.
    let exponent = i64::from(shift) - 64;
    let power = f64::from_bits(u64::try_from(1023 + exponent).ok()? << 52);
    Some(kept as f64 * power)
}

/// One whole JSON document. `strict` adds the non-finite and duplicate-key checks.
pub fn parse(text: &str, strict: bool) -> Result<Value<'_>, Problem> {
    parse_within(text, strict, PARSE_DEPTH_LIMIT)
}

/// `parse`, giving up (`Err(None)`) once brackets open more than `max_depth`
/// deep. A success proves the document nests at most `max_depth` deep (so no
/// separate depth pass is needed); on any error, whether the frame is too deep
/// (which outranks every parse problem) is for `depth::nesting_deeper_than`
/// to say.
pub fn parse_shallow(text: &str, max_depth: usize) -> Result<Value<'_>, Option<Problem>> {
    let limit = max_depth.min(PARSE_DEPTH_LIMIT);
    match parse_within(text, true, limit) {
        Err(Problem::TooDeep) => Err(None),
        other => other.map_err(Some),
    }
}

fn parse_within(text: &str, strict: bool, limit: usize) -> Result<Value<'_>, Problem> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
        deepest: 0,
        limit,
        strict,
        build: true,
    };
    reader.skip_ws();
    let value = reader.value()?;
    reader.skip_ws();
    if reader.pos != reader.bytes.len() {
        return Err(Problem::BadJson); // trailing junk
    }
    Ok(value)
}

/// One element of a top-level array: its raw text and, for an object (the text
/// starts with `{`), its strict parse, made in the pass that checks the frame's
/// syntax (no second read of the element).
#[derive(Debug, PartialEq)]
pub struct Element<'a> {
    pub text: &'a str,
    pub object: Option<Result<Value<'a>, Problem>>,
    /// How deep the element's brackets nest (counting its own), when `object`
    /// is `Some(Ok(_))` (then the element is valid JSON and this is exactly
    /// what `depth::nesting_deeper_than` measures); 0 otherwise.
    pub depth: usize,
}

/// The elements of a top-level array, in one pass. The frame's syntax (and the
/// parse depth limit) decides first: any such problem anywhere is the frame's
/// verdict. A strict problem (non-finite number, repeated key) belongs to its
/// element only. `Ok(None)` if the document is not an array.
pub fn split_array(text: &str) -> Result<Option<Vec<Element<'_>>>, Problem> {
    let items = split_array_with(text, |_, _| None::<((), usize)>)?;
    Ok(items.map(|items| {
        items
            .into_iter()
            .filter_map(|item| match item {
                Split::Element(element) => Some(element),
                Split::Fast(()) => None,
            })
            .collect()
    }))
}

/// An element of a top-level array: read by the caller's fast reader, or by
/// this one.
#[derive(Debug, PartialEq)]
pub enum Split<'a, T> {
    Fast(T),
    Element(Element<'a>),
}

/// `split_array`, offering each element to `fast` first (given the text and
/// the element's start, it answers what it read and where the element ends,
/// or None: then the element is read here, from its start). What `fast` reads
/// must be an object, valid JSON, strictly, nesting at most one deep (it is
/// within every limit here).
pub fn split_array_with<'a, T>(
    text: &'a str,
    mut fast: impl FnMut(&'a str, usize) -> Option<(T, usize)>,
) -> Result<Option<Vec<Split<'a, T>>>, Problem> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
        deepest: 0,
        limit: PARSE_DEPTH_LIMIT,
        strict: false,
        build: false,
    };
    reader.skip_ws();
    if reader.peek() != Some(b'[') {
        parse(text, false)?; // bad JSON wins over "not an array"
        return Ok(None);
    }
    reader.pos += 1;
    reader.depth = 1;
    let mut items = Vec::new();
    reader.skip_ws();
    if reader.peek() == Some(b']') {
        reader.pos += 1;
    } else {
        loop {
            reader.skip_ws();
            let start = reader.pos;
            let mut depth = 0;
            if let Some((read, end)) = fast(text, start) {
                reader.pos = end;
                items.push(Split::Fast(read));
                reader.skip_ws();
                match reader.next_byte() {
                    Some(b',') => continue,
                    Some(b']') => break,
                    _ => return Err(Problem::BadJson),
                }
            }
            let object = if reader.peek() == Some(b'{') {
                let base = reader.depth;
                reader.deepest = base;
                let object = reader.strict_element(start)?;
                if object.is_ok() {
                    depth = reader.deepest - base;
                }
                Some(object)
            } else {
                reader.syntax_only();
                reader.value()?; // not an object: rejected unread, syntax checked only
                None
            };
            items.push(Split::Element(Element {
                text: &text[start..reader.pos],
                object,
                depth,
            }));
            reader.skip_ws();
            match reader.next_byte() {
                Some(b',') => continue,
                Some(b']') => break,
                _ => return Err(Problem::BadJson),
            }
        }
    }
    reader.skip_ws();
    if reader.pos != reader.bytes.len() {
        return Err(Problem::BadJson);
    }
    Ok(Some(items))
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    /// The deepest `depth` reached (since the caller last reset it).
    deepest: usize,
    /// Past this depth the reader stops (`TooDeep`).
    limit: usize,
    strict: bool,
    /// False: check the syntax only, keep no values (arrays and objects come back empty).
    build: bool,
}

impl<'a> Reader<'a> {
    fn syntax_only(&mut self) {
        self.strict = false;
        self.build = false;
    }

    /// A batch element that is an object, read strictly with its values kept. On
    /// a strict problem the element is read again for syntax only, from `start`:
    /// a syntax problem later in it is still the whole frame's verdict.
    fn strict_element(&mut self, start: usize) -> Result<Result<Value<'a>, Problem>, Problem> {
        let depth = self.depth;
        self.strict = true;
        self.build = true;
        match self.value() {
            Ok(value) => Ok(Ok(value)),
            Err(Problem::BadJson) => Err(Problem::BadJson),
            Err(problem) => {
                self.pos = start;
                self.depth = depth;
                self.syntax_only();
                self.value()?;
                Ok(Err(problem))
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let byte = self.peek();
        if byte.is_some() {
            self.pos += 1;
        }
        byte
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn literal(&mut self, word: &str, value: Value<'a>) -> Result<Value<'a>, Problem> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(Problem::BadJson)
        }
    }

    fn value(&mut self) -> Result<Value<'a>, Problem> {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(Problem::BadJson), // includes NaN and Infinity
        }
    }

    fn enter(&mut self) -> Result<(), Problem> {
        self.depth += 1;
        self.pos += 1;
        if self.depth > self.deepest {
            self.deepest = self.depth;
            if self.depth > self.limit {
                return Err(Problem::TooDeep);
            }
        }
        Ok(())
    }

    fn array(&mut self) -> Result<Value<'a>, Problem> {
        self.enter()?;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            let item = self.value()?;
            if self.build {
                items.push(item);
            }
            self.skip_ws();
            match self.next_byte() {
                Some(b',') => continue,
                Some(b']') => break,
                _ => return Err(Problem::BadJson),
            }
        }
        self.depth -= 1;
        Ok(Value::Array(items))
    }

    fn object(&mut self) -> Result<Value<'a>, Problem> {
        self.enter()?;
        // A message has up to ~13 keys: one allocation, no regrowth (realloc showed in profiles).
        let mut pairs = Vec::with_capacity(if self.build { 16 } else { 0 });
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Object(pairs));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(Problem::BadJson);
            }
            let key = self.string()?;
            self.skip_ws();
            if self.next_byte() != Some(b':') {
                return Err(Problem::BadJson);
            }
            self.skip_ws();
            let value = self.value()?;
            if self.build {
                pairs.push((key, value));
            }
            self.skip_ws();
            match self.next_byte() {
                Some(b',') => continue,
                Some(b'}') => break,
                _ => return Err(Problem::BadJson),
            }
        }
        // Like json.loads' object_pairs_hook: a repeat is seen when the object closes.
        if self.strict && has_duplicate(&pairs) {
            return Err(Problem::DuplicateKey);
        }
        self.depth -= 1;
        Ok(Value::Object(pairs))
    }

    fn string(&mut self) -> Result<Cow<'a, str>, Problem> {
        let open = self.pos;
        // A local index over the bytes: the loop every key and text value runs.
        let bytes = self.bytes;
        let mut end = open + 1;
        let mut escaped = false;
        loop {
            match bytes.get(end) {
                None => return Err(Problem::BadJson),
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    end += 2; // the escaped byte, whatever it is (serde_json judges it)
                }
                Some(0..=0x1f) => return Err(Problem::BadJson), // raw control characters
                Some(_) => end += 1,
            }
        }
        self.pos = end + 1;
        // The quotes are ASCII, so both cuts are on character boundaries.
        let literal = self.text.get(open..end + 1).ok_or(Problem::BadJson)?;
        if !escaped {
            return Ok(Cow::Borrowed(
                self.text.get(open + 1..end).ok_or(Problem::BadJson)?,
            ));
        }
        // serde_json decodes the escapes, and rejects bad ones and lone surrogates.
        serde_json::from_str::<String>(literal)
            .map(Cow::Owned)
            .map_err(|_| Problem::BadJson)
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        let bytes = self.bytes;
        let mut end = start;
        while let Some(b'0'..=b'9') = bytes.get(end) {
            end += 1;
        }
        self.pos = end;
        end - start
    }

    fn number(&mut self) -> Result<Value<'a>, Problem> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(Problem::BadJson), // "-", "-Infinity"
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            if self.digits() == 0 {
                return Err(Problem::BadJson);
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(Problem::BadJson);
            }
        }
        let text = &self.text[start..self.pos];
        let mut parsed = None;
        if self.strict {
            let finite = if integer {
                text.len() <= MAX_INT_CHARS
            } else {
                parsed = parse_float(text).filter(|value| value.is_finite());
                parsed.is_some()
            };
            if !finite {
                return Err(Problem::NonFinite);
            }
        }
        Ok(Value::Number(text, parsed))
    }
}

fn has_duplicate(pairs: &[(Cow<'_, str>, Value<'_>)]) -> bool {
    if pairs.len() <= 16 {
        // A bit per (length, last byte) class: keys are compared only with
        // earlier keys of a class already seen (a repeat always is).
        let class = |key: &str| {
            let last = key.as_bytes().last().copied().unwrap_or(0);
            1u64 << ((key.len() * 7 + usize::from(last)) & 63)
        };
        let mut seen = 0u64;
        return pairs.iter().enumerate().any(|(i, (key, _))| {
            let bit = class(key);
            let repeat = seen & bit != 0 && pairs[..i].iter().any(|(k, _)| k == key);
            seen |= bit;
            repeat
        });
    }
    let mut seen = HashSet::with_capacity(pairs.len());
    !pairs.iter().all(|(key, _)| seen.insert(key.as_ref()))
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
