//! The per-series families of the text exposition (per side, symbol, source,
//! producer, window...) written in one call per family from columns: a label
//! value per series (or one for all), a value per series. The bytes are those
//! of `textformat.py`'s reference writer: labels in name order, values escaped
//! as `text::escape_label`, values as `text::fmt_value`.

use crate::text::{escape_label, fmt_value};

/// One label of a family: the same value on every series, or one per series.
pub enum LabelColumn<'a> {
    One(&'a str),
    Each(Vec<&'a str>),
}

impl LabelColumn<'_> {
    fn get(&self, row: usize) -> &str {
        match self {
            LabelColumn::One(value) => value,
            LabelColumn::Each(values) => values.get(row).copied().unwrap_or_default(),
        }
    }
}

/// A label column whose length is not the number of values.
#[derive(Debug, PartialEq, Eq)]
pub struct LengthMismatch {
    pub label: String,
    pub labels: usize,
    pub values: usize,
}

/// `name{a="x",b="y"} value\n` per value; `labels` in any order (written in
/// name order). Nothing is written when a column's length is wrong.
pub fn write_column(
    out: &mut String,
    name: &str,
    labels: &mut [(&str, LabelColumn<'_>)],
    values: &[f64],
) -> Result<(), LengthMismatch> {
    for (label, column) in labels.iter() {
        if let LabelColumn::Each(each) = column {
            if each.len() != values.len() {
                return Err(LengthMismatch {
                    label: (*label).to_owned(),
                    labels: each.len(),
                    values: values.len(),
                });
            }
        }
    }
    labels.sort_by(|a, b| a.0.cmp(b.0));
    out.reserve(values.len() * (name.len() + 32));
    for (row, value) in values.iter().enumerate() {
        out.push_str(name);
        if !labels.is_empty() {
            out.push('{');
            for (i, (label, column)) in labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(label);
                out.push_str("=\"");
                escape_label(column.get(row), out);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        fmt_value(*value, out);
        out.push('\n');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_in_name_order_escaped_values_as_python() {
        let mut out = String::new();
        let mut labels = [
            ("symbol", LabelColumn::Each(vec!["A\"B", "c\\d\ne"])),
            ("side", LabelColumn::One("buy")),
        ];
        write_column(&mut out, "trades_total", &mut labels, &[3.0, f64::NAN]).ok();
        assert_eq!(
            out,
            "trades_total{side=\"buy\",symbol=\"A\\\"B\"} 3.0\n\
             trades_total{side=\"buy\",symbol=\"c\\\\d\\ne\"} NaN\n"
        );
    }

    #[test]
    fn no_labels_no_braces_and_lengths_must_match() {
        let mut out = String::new();
        write_column(&mut out, "x", &mut [], &[1e16]).ok();
        assert_eq!(out, "x 1e+16\n");
        let mut labels = [("symbol", LabelColumn::Each(vec!["a"]))];
        let wrong = write_column(&mut out, "y", &mut labels, &[1.0, 2.0]);
        assert_eq!(
            wrong,
            Err(LengthMismatch {
                label: "symbol".to_owned(),
                labels: 1,
                values: 2
            })
        );
        assert_eq!(out, "x 1e+16\n");
    }
}
