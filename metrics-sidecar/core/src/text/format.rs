//! The text format's primitives, the one writer of the core's exposition
//! lines: values as Python's `repr(float)` with Prometheus' spellings of the
//! specials (`fmt_value`), label values escaped (`escape_label`), label sets in
//! the given (name) order (`write_labels`), one sample line (`write_sample`),
//! a family's lines with the constant text built once (`LineTemplate`), the
//! HELP/TYPE pair (`family`). The bytes are those of `textformat.py`.

use std::fmt::Write;

/// Python's `repr(float)`: the shortest digits that read back to the same
/// float, positional for decimal exponents -4..=15, else `d.ddde±XX`. The
/// digits come from `zmij` (shortest round trip, exact ties to even, as
/// Python's dtoa). zmij's own layout is Python's (`12.5`, `1e+16`, `100.0`)
/// except for two things: exponent -5, which it writes positionally
/// (`0.0000123`, Python `1.23e-05`) and is laid out again (`layout`), and a
/// one-digit exponent (`1e-7`), which Python pads (`1e-07`).
pub fn py_repr(value: f64, out: &mut String) {
    if value.is_nan() {
        out.push_str("nan");
        return;
    }
    if value.is_infinite() {
        out.push_str(if value > 0.0 { "inf" } else { "-inf" });
        return;
    }
    if value.is_sign_negative() {
        out.push('-');
    }
    let mut buffer = zmij::Buffer::new();
    let text = buffer.format_finite(value.abs());
    if text.starts_with("0.0000") {
        let (digits, exponent) = decimal(text);
        layout(digits.as_slice(), exponent, out);
        return;
    }
    match text.split_once('e') {
        Some((mantissa, exponent)) if exponent.len() == 2 => {
            let (sign, digit) = exponent.split_at(1);
            out.push_str(mantissa);
            out.push('e');
            out.push_str(sign);
            out.push('0');
            out.push_str(digit);
        }
        _ => out.push_str(text),
    }
}

/// Up to 17 significant digits, without leading or trailing zeros.
struct Digits {
    bytes: [u8; 24],
    len: usize,
}

impl Digits {
    fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// A non-negative decimal ("123.45", "1e16", "1.5e-7", "0.0") as its
/// significant digits and the decimal exponent of the first one (0 for none).
fn decimal(text: &str) -> (Digits, i32) {
    let (mantissa, exponent) = text.split_once(['e', 'E']).unwrap_or((text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mut digits = Digits {
        bytes: [0; 24],
        len: 0,
    };
    let mut before_point: i32 = 0;
    let mut seen_point = false;
    let mut leading = true;
    for byte in mantissa.bytes() {
        if byte == b'.' {
            seen_point = true;
            continue;
        }
        if leading && byte == b'0' {
            if seen_point {
                before_point -= 1;
            }
            continue;
        }
        leading = false;
        if !seen_point {
            before_point += 1;
        }
        if let Some(slot) = digits.bytes.get_mut(digits.len) {
            *slot = byte;
            digits.len += 1;
        }
    }
    while digits.len > 0 && digits.bytes.get(digits.len - 1) == Some(&b'0') {
        digits.len -= 1;
    }
    (digits, before_point - 1 + exponent)
}

fn push_digits(out: &mut String, digits: &[u8]) {
    out.push_str(std::str::from_utf8(digits).unwrap_or_default());
}

/// Python's layout of `digits` x 10^`exponent` (first digit's place).
fn layout(digits: &[u8], exponent: i32, out: &mut String) {
    if digits.is_empty() {
        out.push_str("0.0");
        return;
    }
    if !(-4..16).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        push_digits(out, first);
        if !rest.is_empty() {
            out.push('.');
            push_digits(out, rest);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.unsigned_abs()
        );
        return;
    }
    if exponent < 0 {
        out.push_str("0.");
        for _ in 0..(-exponent - 1) {
            out.push('0');
        }
        push_digits(out, digits);
        return;
    }
    let point = exponent as usize + 1;
    if digits.len() <= point {
        push_digits(out, digits);
        for _ in digits.len()..point {
            out.push('0');
        }
        out.push_str(".0");
    } else {
        let (whole, fraction) = digits.split_at(point);
        push_digits(out, whole);
        out.push('.');
        push_digits(out, fraction);
    }
}

/// A sample value: `py_repr`, with Prometheus's spellings of the specials.
pub fn fmt_value(value: f64, out: &mut String) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        py_repr(value, out);
    }
}

/// Whether `bytes` hold a `\\`, `\n` or `"`: eight bytes at a time (a zero byte
/// of `word ^ c` found with the exact `haszero` bit trick); a short value is
/// one padded word (its zero padding matches none of the three).
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let any = |word: u64| {
        [b'\\', b'\n', b'"'].iter().any(|c| {
            let x = word ^ (ONES * u64::from(*c));
            x.wrapping_sub(ONES) & !x & HIGHS != 0
        })
    };
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if any(u64::from_le_bytes(word)) {
            return true;
        }
    }
    let rest = chunks.remainder();
    let mut word = [0u8; 8];
    if let Some(head) = word.get_mut(..rest.len()) {
        head.copy_from_slice(rest);
    }
    any(u64::from_le_bytes(word))
}

pub fn escape_label(value: &str, out: &mut String) {
    if !needs_escape(value.as_bytes()) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// The HELP and TYPE lines; OpenMetrics names a counter family without the
/// `_total` its samples carry. `doc` escaped as `textformat.escape_help`.
pub fn family(out: &mut String, name: &str, kind: &str, doc: &str, openmetrics: bool) {
    let name = match (
        openmetrics && kind == "counter",
        name.strip_suffix("_total"),
    ) {
        (true, Some(stem)) => stem,
        _ => name,
    };
    let _ = write!(out, "# HELP {name} ");
    for c in doc.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    let _ = write!(out, "\n# TYPE {name} {kind}\n");
}

/// `{name="value",...}` from (name, value) pairs already in name order, each
/// value escaped (`escape_label`); nothing for no pairs. The one label writer of
/// the core's exposition: the hop families here, the column families
/// (exposition_columns.rs) and exemplars.
pub fn write_labels<'a>(out: &mut String, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
    let mut pairs = pairs.into_iter().peekable();
    if pairs.peek().is_none() {
        return;
    }
    out.push('{');
    for (i, (name, value)) in pairs.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        escape_label(value, out);
        out.push('"');
    }
    out.push('}');
}

/// One series: `name{labels} value\n` (`write_labels`, `fmt_value`): the
/// bytes of `textformat.Writer.sample(name, labels(pairs), value)`.
pub fn write_sample<'a>(
    out: &mut String,
    name: &str,
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    value: f64,
) {
    out.push_str(name);
    write_labels(out, pairs);
    out.push(' ');
    fmt_value(value, out);
    out.push('\n');
}

/// A label of a `LineTemplate`: the same value on every line, or one per line.
#[derive(Debug, Clone, Copy)]
pub enum Label<'a> {
    Fixed(&'a str),
    Varying,
}

/// The lines of one family, `write_sample`'s bytes, with the text around the
/// label values that vary per line built once (the name, the label names, the
/// fixed values escaped): a line is then a few copies, its varying values
/// escaped, and its value (`fmt_value`).
#[derive(Debug, Clone)]
pub struct LineTemplate {
    /// The text before each varying value, then the text before the sample value.
    pieces: Vec<String>,
}

impl LineTemplate {
    /// `labels` in name order (as `write_labels` takes them).
    pub fn new(name: &str, labels: &[(&str, Label<'_>)]) -> LineTemplate {
        let mut pieces = Vec::new();
        let mut piece = name.to_owned();
        for (i, (label, value)) in labels.iter().enumerate() {
            piece.push(if i == 0 { '{' } else { ',' });
            piece.push_str(label);
            piece.push_str("=\"");
            match value {
                Label::Fixed(value) => escape_label(value, &mut piece),
                Label::Varying => pieces.push(std::mem::take(&mut piece)),
            }
            piece.push('"');
        }
        if !labels.is_empty() {
            piece.push('}');
        }
        piece.push(' ');
        pieces.push(piece);
        LineTemplate { pieces }
    }

    /// One line; `values`: the varying label values, in name order ("" for missing ones).
    pub fn write<'a>(
        &self,
        out: &mut String,
        values: impl IntoIterator<Item = &'a str>,
        value: f64,
    ) {
        let mut values = values.into_iter();
        if let Some((last, before)) = self.pieces.split_last() {
            for piece in before {
                out.push_str(piece);
                escape_label(values.next().unwrap_or_default(), out);
            }
            out.push_str(last);
        }
        fmt_value(value, out);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr(value: f64) -> String {
        let mut s = String::new();
        py_repr(value, &mut s);
        s
    }

    /// The previous `py_repr` (Rust's shortest `{:e}`, ties checked against a
    /// fixed-precision rounding): the reference the zmij-based one must equal.
    fn reference_repr(value: f64) -> String {
        let first = format!("{value:e}");
        let digits = first
            .split('e')
            .next()
            .map_or(1, |m| m.chars().filter(char::is_ascii_digit).count());
        let even = format!("{value:.*e}", digits.saturating_sub(1));
        let scientific = if even.parse::<f64>() == Ok(value) {
            even
        } else {
            first
        };
        let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let (sign, mantissa) = match mantissa.strip_prefix('-') {
            Some(rest) => ("-", rest),
            None => ("", mantissa),
        };
        let digits: Vec<u8> = mantissa.bytes().filter(|c| *c != b'.').collect();
        let mut out = sign.to_owned();
        if mantissa.bytes().all(|c| c == b'0' || c == b'.') {
            out.push_str("0.0");
            return out;
        }
        layout(&digits, exponent, &mut out);
        out
    }

    #[test]
    fn zmij_digits_equal_the_reference_on_random_bits() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200_000 {
            // xorshift64*: every exponent and mantissa pattern
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            let bits = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
            let value = f64::from_bits(bits);
            if !value.is_finite() {
                continue;
            }
            assert_eq!(repr(value), reference_repr(value), "{bits:#x}");
        }
        for value in [
            0.0,
            -0.0,
            1.0,
            0.1,
            881.0 / 1_048_576.0,
            5e-324,
            f64::MAX,
            1e15,
            1e16,
            123.0,
        ] {
            assert_eq!(repr(value), reference_repr(value), "{value}");
        }
    }

    #[test]
    fn floats_read_as_python_writes_them() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (5e-05, "5e-05"),
            (0.0001, "0.0001"),
            (1e-5, "1e-05"),
            (1.25e-5, "1.25e-05"),
            (9.999999999999999e-5, "9.999999999999999e-05"),
            (0.00010000000000000002, "0.00010000000000000002"),
            (123456789012345.6, "123456789012345.6"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e-7, "1e-07"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (100.0, "100.0"),
            (0.00012, "0.00012"),
            (0.1, "0.1"),
            (123.456, "123.456"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1.7e308, "1.7e+308"),
            (2f64.powi(-11), "0.00048828125"),
            (-2.5e-7, "-2.5e-07"),
            (1700000000.5, "1700000000.5"),
            (881.0 / 1_048_576.0, "0.0008401870727539062"), // a tie: the even digit
            (f64::INFINITY, "inf"),
        ];
        for (value, text) in cases {
            assert_eq!(repr(value), text, "{value}");
        }
        let mut s = String::new();
        fmt_value(f64::NEG_INFINITY, &mut s);
        fmt_value(f64::NAN, &mut s);
        assert_eq!(s, "-InfNaN");
    }

    #[test]
    fn needs_escape_finds_each_special_byte_at_every_position() {
        for len in 0..20 {
            let plain = "a".repeat(len);
            assert!(!needs_escape(plain.as_bytes()), "{len}");
            for at in 0..len {
                for special in ['\\', '\n', '"'] {
                    let mut text: Vec<char> = plain.chars().collect();
                    if let Some(c) = text.get_mut(at) {
                        *c = special;
                    }
                    let text: String = text.into_iter().collect();
                    assert!(needs_escape(text.as_bytes()), "{text:?}");
                }
            }
        }
        // Bytes next to the three (and UTF-8 continuation bytes) are not them.
        for text in [
            "[]!#\u{0}\u{b}\u{9}\u{7f}",
            "é€𝄞ü",
            "\u{80}\u{ff}\u{dc}\u{a2}",
        ] {
            assert!(!needs_escape(text.as_bytes()), "{text:?}");
        }
    }

    #[test]
    fn a_line_template_writes_what_write_sample_writes() {
        let (fixed, hostile) = ("1\"m\\", "a\nb\"c");
        for labels in [
            vec![],
            vec![("symbol", Label::Varying)],
            vec![("side", Label::Fixed(fixed)), ("symbol", Label::Varying)],
            vec![
                ("a", Label::Varying),
                ("b", Label::Fixed(fixed)),
                ("c", Label::Varying),
            ],
        ] {
            for value in [f64::NAN, -0.0, 1e-7, 1e16, f64::NEG_INFINITY] {
                let mut expected = String::new();
                let pairs = labels.iter().map(|(n, l)| match l {
                    Label::Fixed(v) => (*n, *v),
                    Label::Varying => (*n, hostile),
                });
                write_sample(&mut expected, "x_total", pairs, value);
                let mut line = String::new();
                let template = LineTemplate::new("x_total", &labels);
                template.write(&mut line, std::iter::repeat(hostile), value);
                assert_eq!(line, expected);
            }
        }
    }

    #[test]
    fn openmetrics_counters_drop_total() {
        let mut s = String::new();
        family(&mut s, "x_total", "counter", "doc", true);
        family(&mut s, "x_total", "counter", "doc", false);
        assert_eq!(
            s,
            "# HELP x doc\n# TYPE x counter\n# HELP x_total doc\n# TYPE x_total counter\n"
        );
    }
}
