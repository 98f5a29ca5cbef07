//! The per-series families of the text exposition (per side, symbol, source,
//! producer, window...) written in one call per family: from columns (a label
//! value per series, or one for all; a value per series), or from a copy of the
//! state's trade and symbol tables (`StateTables`, taken under the state lock in
//! one call, written after it). The bytes are those of `textformat.py`'s
//! reference writer: labels in name order and escaped, values as Python's
//! `repr` (`text::LineTemplate`: `text::write_sample`'s bytes, the text
//! around the per-series label values built once per family).

use crate::state::{Aggregates, SymbolTicks, TradeRow, SIDES};
use crate::text::{Label, LineTemplate};

/// One label of a family: the same value on every series, or one per series.
pub enum LabelColumn<'a> {
    One(&'a str),
    Each(Vec<&'a str>),
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
    let template = LineTemplate::new(
        name,
        &labels
            .iter()
            .map(|(label, column)| {
                let label_value = match column {
                    LabelColumn::One(value) => Label::Fixed(value),
                    LabelColumn::Each(_) => Label::Varying,
                };
                (*label, label_value)
            })
            .collect::<Vec<_>>(),
    );
    let each: Vec<&[&str]> = labels
        .iter()
        .filter_map(|(_, column)| match column {
            LabelColumn::Each(values) => Some(values.as_slice()),
            LabelColumn::One(_) => None,
        })
        .collect();
    out.reserve(values.len() * (name.len() + 32));
    for (row, value) in values.iter().enumerate() {
        let row_values = each
            .iter()
            .map(|column| column.get(row).copied().unwrap_or_default());
        template.write(out, row_values, *value);
    }
    Ok(())
}

/// The trade and symbol tables of the state, copied (one clone, no Python
/// object per row) so that they are written after the state lock is released.
#[derive(Debug, Clone, Default)]
pub struct StateTables {
    pub trades: Vec<TradeRow>,
    pub symbols: Vec<(String, SymbolTicks)>,
}

/// A column of `StateTables`: the series of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableColumn {
    /// {side, symbol}: trades counted (`trades_total`).
    TradeCount,
    /// {side, symbol}: sum of trade qty (`volume_total`).
    TradeVolume,
    /// {source, symbol}: ticks counted (`ticks_total`).
    SourceTicks,
    /// {symbol}, symbols with a tick time: last price (`tick_last_price`).
    LastPrice,
    /// {symbol}, symbols with a tick time: last tick time (`tick_last_ts_seconds`).
    LastTs,
    /// {symbol}: spikes (`tick_spikes_total`).
    Spikes,
    /// {symbol}: ticks out of order (`ticks_out_of_order_total`).
    OutOfOrder,
}

impl TableColumn {
    pub const ALL: [(&'static str, TableColumn); 7] = [
        ("trade_count", TableColumn::TradeCount),
        ("trade_volume", TableColumn::TradeVolume),
        ("source_ticks", TableColumn::SourceTicks),
        ("last_price", TableColumn::LastPrice),
        ("last_ts", TableColumn::LastTs),
        ("spikes", TableColumn::Spikes),
        ("out_of_order", TableColumn::OutOfOrder),
    ];

    pub fn named(name: &str) -> Option<TableColumn> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, column)| *column)
    }
}

impl StateTables {
    pub fn copy(aggregates: &Aggregates) -> StateTables {
        StateTables {
            trades: aggregates.trades().to_vec(),
            symbols: aggregates.symbols().to_vec(),
        }
    }

    /// `column`'s series as `name{labels} value` lines, rows in table order
    /// (trades and symbols as they were made, sources as first seen). Counts
    /// are written as floats (`float(int)`: nearest, ties to even, as `as f64`).
    pub fn write(&self, column: TableColumn, name: &str, out: &mut String) {
        let side = |row: &TradeRow| SIDES.get(row.side).copied().unwrap_or("");
        let priced = |s: &SymbolTicks| s.last_ts != 0.0; // Python's `if last_ts` (NaN is true)
        let by_symbol = LineTemplate::new(name, &[("symbol", Label::Varying)]);
        match column {
            TableColumn::TradeCount | TableColumn::TradeVolume => {
                let line = LineTemplate::new(
                    name,
                    &[("side", Label::Varying), ("symbol", Label::Varying)],
                );
                for row in &self.trades {
                    let value = match column {
                        TableColumn::TradeCount => row.count as f64,
                        _ => row.volume,
                    };
                    line.write(out, [side(row), row.symbol.as_str()], value);
                }
            }
            TableColumn::SourceTicks => {
                let line = LineTemplate::new(
                    name,
                    &[("source", Label::Varying), ("symbol", Label::Varying)],
                );
                for (symbol, s) in &self.symbols {
                    for (source, n) in &s.by_source {
                        line.write(out, [source.as_str(), symbol.as_str()], *n as f64);
                    }
                }
            }
            TableColumn::LastPrice | TableColumn::LastTs => {
                for (symbol, s) in self.symbols.iter().filter(|(_, s)| priced(s)) {
                    let value = match column {
                        TableColumn::LastPrice => s.last_price,
                        _ => s.last_ts,
                    };
                    by_symbol.write(out, [symbol.as_str()], value);
                }
            }
            TableColumn::Spikes | TableColumn::OutOfOrder => {
                for (symbol, s) in &self.symbols {
                    let value = match column {
                        TableColumn::Spikes => s.spikes,
                        _ => s.out_of_order,
                    };
                    by_symbol.write(out, [symbol.as_str()], value as f64);
                }
            }
        }
    }
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
    fn tables() -> StateTables {
        let ticks = |last_price: f64, last_ts: f64, spikes: u64| SymbolTicks {
            last_price,
            last_ts,
            last_recv: 0.0,
            spikes,
            out_of_order: 1 << 60,
            by_source: vec![("b".to_owned(), 3), ("a".to_owned(), u64::MAX)],
        };
        StateTables {
            trades: vec![
                TradeRow {
                    side: 1,
                    symbol: "Z\"q".to_owned(),
                    count: (1 << 53) + 1,
                    volume: -0.0,
                },
                TradeRow {
                    side: 0,
                    symbol: String::new(),
                    count: 0,
                    volume: 1e-7,
                },
            ],
            symbols: vec![
                ("S".to_owned(), ticks(f64::NAN, 0.0, 0)),
                ("T".to_owned(), ticks(f64::INFINITY, f64::NAN, 7)),
                ("U".to_owned(), ticks(1e16, -0.0, 2)),
            ],
        }
    }

    fn written(column: TableColumn, name: &str) -> String {
        let mut out = String::new();
        tables().write(column, name, &mut out);
        out
    }

    #[test]
    fn tables_write_each_column_in_table_order() {
        assert_eq!(
            written(TableColumn::TradeCount, "trades_total"),
            "trades_total{side=\"sell\",symbol=\"Z\\\"q\"} 9007199254740992.0\n\
             trades_total{side=\"buy\",symbol=\"\"} 0.0\n"
        );
        assert_eq!(
            written(TableColumn::TradeVolume, "v"),
            "v{side=\"sell\",symbol=\"Z\\\"q\"} -0.0\nv{side=\"buy\",symbol=\"\"} 1e-07\n"
        );
        let ticks = written(TableColumn::SourceTicks, "t");
        assert!(ticks.starts_with(
            "t{source=\"b\",symbol=\"S\"} 3.0\nt{source=\"a\",symbol=\"S\"} 1.8446744073709552e+19\n"
        ));
        assert_eq!(ticks.lines().count(), 6);
        // Only symbols with a tick time (NaN counts as one, -0.0 does not).
        assert_eq!(
            written(TableColumn::LastPrice, "p"),
            "p{symbol=\"T\"} +Inf\n"
        );
        assert_eq!(written(TableColumn::LastTs, "p"), "p{symbol=\"T\"} NaN\n");
        assert_eq!(
            written(TableColumn::Spikes, "s"),
            "s{symbol=\"S\"} 0.0\ns{symbol=\"T\"} 7.0\ns{symbol=\"U\"} 2.0\n"
        );
        assert_eq!(
            written(TableColumn::OutOfOrder, "o").lines().next(),
            Some("o{symbol=\"S\"} 1.152921504606847e+18")
        );
        for (name, column) in TableColumn::ALL {
            assert_eq!(TableColumn::named(name), Some(column));
        }
        assert_eq!(TableColumn::named("nope"), None);
    }
}
