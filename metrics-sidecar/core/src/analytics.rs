//! The write side of the analytics (docs/analytics.md), plain Rust: every
//! applied trade and tick, in arrival order, moves the per-side trade windows,
//! the symbol's position, and its tick series (history ring, window rows, OHLC
//! bars, session sums), O(1) each. The read side copies what numpy needs
//! (`columns` for every symbol at once, `symbol` for one) under the caller's lock.
//!
//! Symbol admission is the caller's: it passes only symbols of the state's
//! table (a symbol past SIDECAR_MAX_SYMBOLS gets no analytics: a trade's symbol
//! is then `None`, a tick is not passed).

use std::collections::HashMap;

use crate::analytics_ohlc::{Bar, SPANS};
use crate::analytics_series::Series;
use crate::analytics_trades::{Position, TradeWindow};

/// Symbols come from the wire: foldhash with a random seed per map (as state.rs).
type Seed = foldhash::fast::RandomState;

pub use crate::analytics_series::TICK_WIDTH;
pub use crate::analytics_trades::TRADE_WIDTH;

/// Lengths: the longest window (seconds, the side rings' and the rows' span),
/// the history ring (ticks), the closed bars per timeframe, the EW half-life.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub span: u32,
    pub history: usize,
    pub bars: usize,
    pub half_life: f64,
}

/// One symbol: market data from its first tick, a position from its first trade.
pub struct Symbol {
    pub series: Option<Series>,
    pub position: Option<Position>,
}

pub struct Analytics {
    config: Config,
    index: HashMap<String, usize, Seed>,
    names: Vec<String>,
    symbols: Vec<Symbol>,
    sorted: Vec<usize>, // indices by name; rebuilt when a symbol is added
    sides: [TradeWindow; 2],
}

/// Every symbol's raw inputs of the scrape's statistics, as flat columns.
#[derive(Default, Debug)]
pub struct Columns {
    /// Symbols with a tick, sorted (indices into `Analytics::name`).
    pub ticked: Vec<usize>,
    /// Per ticked symbol: last price, last tick time, first tick time, session day, volume, turnover.
    pub scalars: Vec<f64>,
    /// Window rows of every ticked symbol, stacked; `row_counts` per symbol.
    pub rows: Vec<f64>,
    pub row_counts: Vec<i64>,
    /// The newest `recent` prices of every ticked symbol, stacked; `price_counts` per symbol.
    pub prices: Vec<f64>,
    pub price_counts: Vec<i64>,
    /// Symbols with a position, sorted, and per one: qty, avg_cost, realized, mark (NaN: no tick).
    pub held: Vec<usize>,
    pub positions: Vec<f64>,
}

impl Analytics {
    pub fn new(config: Config) -> Self {
        Analytics {
            config,
            index: HashMap::default(),
            names: Vec::new(),
            symbols: Vec::new(),
            sorted: Vec::new(),
            sides: [
                TradeWindow::new(config.span, config.half_life),
                TradeWindow::new(config.span, config.half_life),
            ],
        }
    }

    pub fn config(&self) -> Config {
        self.config
    }

    /// The symbol's index, if it has analytics.
    pub fn index_of(&self, symbol: &str) -> Option<usize> {
        self.index.get(symbol).copied()
    }

    /// The symbol's index, giving it analytics if it had none (the caller admitted it).
    pub fn admit(&mut self, symbol: &str) -> usize {
        match self.index.get(symbol) {
            Some(&i) => i,
            None => self.insert(symbol),
        }
    }

    /// A new symbol (once per symbol: out of line, away from the per-event path).
    #[cold]
    #[inline(never)]
    fn insert(&mut self, symbol: &str) -> usize {
        let i = self.symbols.len();
        self.index.insert(symbol.to_owned(), i);
        self.names.push(symbol.to_owned());
        self.symbols.push(Symbol {
            series: None,
            position: None,
        });
        self.sorted.clear();
        i
    }

    /// One applied trade. `symbol`: None for a trade without one (or past the
    /// symbol limit): it counts in the side windows only. Without a price it fills
    /// at the symbol's last tick price; with neither it is counted (`unpriced`)
    /// and moves nothing.
    pub fn trade(
        &mut self,
        symbol: Option<&str>,
        buy: bool,
        qty: f64,
        price: Option<f64>,
        recv_ts: f64,
    ) {
        let i = symbol.map(|s| self.admit(s));
        self.trade_at(i, buy, qty, price, recv_ts);
    }

    /// `trade` for the symbol at index `i` (from `admit`/`index_of`).
    pub fn trade_at(
        &mut self,
        i: Option<usize>,
        buy: bool,
        qty: f64,
        price: Option<f64>,
        recv_ts: f64,
    ) {
        self.sides[usize::from(!buy)].add(recv_ts, qty);
        let Some(i) = i else {
            return;
        };
        let entry = &mut self.symbols[i];
        let mark = entry.series.as_ref().map(|s| s.last_price);
        let position = entry.position.get_or_insert_with(Position::default);
        let price = match (price, mark) {
            (Some(price), _) => price,
            (None, Some(mark)) => mark,
            (None, None) => {
                position.unpriced += 1;
                0.0
            }
        };
        if price != 0.0 && qty != 0.0 {
            position.apply(if buy { qty } else { -qty }, price);
        }
    }

    /// One applied tick. False: out of order (older than the symbol's newest
    /// tick): ignored, never rewinds the analytics.
    pub fn tick(&mut self, symbol: &str, ts: f64, price: f64, volume: f64) -> bool {
        let i = self.admit(symbol);
        self.tick_at(i, ts, price, volume)
    }

    /// `tick` for the symbol at index `i` (from `admit`/`index_of`).
    pub fn tick_at(&mut self, i: usize, ts: f64, price: f64, volume: f64) -> bool {
        let config = self.config;
        let series = self.symbols[i]
            .series
            .get_or_insert_with(|| Series::new(config.span, config.history, config.bars));
        if ts < series.last_ts {
            return false;
        }
        series.add(ts, price, volume);
        true
    }

    // -- read side -------------------------------------------------------------

    pub fn name(&self, i: usize) -> &str {
        &self.names[i]
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Every symbol with analytics (a tick or a trade), by name.
    pub fn sorted(&mut self) -> &[usize] {
        if self.sorted.len() != self.names.len() {
            let names = &self.names;
            self.sorted = (0..names.len()).collect();
            self.sorted
                .sort_unstable_by(|&a, &b| names[a].cmp(&names[b]));
        }
        &self.sorted
    }

    pub fn symbol(&self, symbol: &str) -> Option<&Symbol> {
        self.index.get(symbol).map(|&i| &self.symbols[i])
    }

    /// The buy (`true`) or sell side's window.
    pub fn side(&self, buy: bool) -> &TradeWindow {
        &self.sides[usize::from(!buy)]
    }

    /// The newest `limit` ticks (ts, price, volume) of a symbol, flat; None: no tick.
    pub fn history(&self, symbol: &str, limit: usize) -> Option<Vec<f64>> {
        Some(self.symbol(symbol)?.series.as_ref()?.history(limit))
    }

    /// The newest `limit` bars of the timeframe `span` seconds; None: no tick
    /// (or a span that is not a timeframe).
    pub fn bars(&self, symbol: &str, span: f64, limit: usize) -> Option<Vec<Bar>> {
        let level = SPANS.iter().position(|&s| s == span)?;
        Some(self.symbol(symbol)?.series.as_ref()?.bars(level, limit))
    }

    /// Every symbol's inputs of the scrape's statistics, in one pass.
    pub fn columns(&mut self, recent: usize) -> Columns {
        self.sorted();
        let mut out = Columns::default();
        for &i in &self.sorted {
            let symbol = &self.symbols[i];
            let mark = match &symbol.series {
                Some(series) => {
                    out.ticked.push(i);
                    let [day, volume, turnover] = series.session_totals();
                    out.scalars.extend_from_slice(&[
                        series.last_price,
                        series.last_ts,
                        series.first_ts,
                        day,
                        volume,
                        turnover,
                    ]);
                    out.row_counts
                        .push(series.window_rows_into(&mut out.rows) as i64);
                    out.price_counts
                        .push(series.recent_prices_into(recent, &mut out.prices) as i64);
                    series.last_price
                }
                None => f64::NAN,
            };
            if let Some(p) = &symbol.position {
                out.held.push(i);
                out.positions
                    .extend_from_slice(&[p.qty, p.avg_cost, p.realized, mark]);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: f64 = 1_700_000_000.0;

    fn analytics() -> Analytics {
        Analytics::new(Config {
            span: 300,
            history: 1000,
            bars: 500,
            half_life: 60.0,
        })
    }

    #[test]
    fn a_trade_without_price_fills_at_the_last_tick_or_is_unpriced() {
        let mut a = analytics();
        a.trade(Some("E"), true, 5.0, None, T0);
        a.trade(Some("E"), true, 1.0, Some(50.0), T0);
        a.trade(Some("E"), false, 2.0, None, T0);
        let p = a.symbol("E").unwrap().position.unwrap();
        assert_eq!((p.qty, p.avg_cost, p.unpriced), (1.0, 50.0, 2));
        assert!(a.tick("E", T0, 52.0, 0.0));
        a.trade(Some("E"), false, 1.0, None, T0);
        let p = a.symbol("E").unwrap().position.unwrap();
        assert_eq!((p.qty, p.avg_cost, p.realized), (0.0, 0.0, 2.0));
        a.trade(None, true, 3.0, Some(1.0), T0); // the side windows only
        assert_eq!(a.len(), 1);
        assert_eq!(
            a.side(true)
                .slots
                .iter()
                .step_by(TRADE_WIDTH)
                .filter(|&&b| b == T0)
                .count(),
            1
        );
    }

    #[test]
    fn out_of_order_ticks_never_rewind() {
        let mut a = analytics();
        assert!(a.tick("A", T0, 10.0, 1.0));
        assert!(!a.tick("A", T0 - 1.0, 99.0, 1.0));
        assert!(a.tick("A", T0, 11.0, 1.0));
        let prices: Vec<f64> = a
            .history("A", 10)
            .unwrap()
            .chunks(3)
            .map(|r| r[1])
            .collect();
        assert_eq!(prices, vec![10.0, 11.0]);
        assert!(a.history("B", 10).is_none());
        a.trade(Some("B"), true, 1.0, None, T0);
        assert!(a.history("B", 10).is_none());
        assert!(a.bars("A", 61.0, 10).is_none());
        assert_eq!(a.bars("A", 60.0, 10).unwrap().len(), 1);
    }

    #[test]
    fn columns_in_name_order_with_positions_marked() {
        let mut a = analytics();
        a.tick("b", T0, 2.0, 1.0);
        a.tick("a", T0 + 0.5, 4.0, 1.0);
        a.tick("a", T0 + 1.5, 5.0, 3.0);
        a.trade(Some("c"), true, 1.0, Some(3.0), T0);
        a.trade(Some("a"), false, 2.0, Some(6.0), T0);
        let c = a.columns(20);
        let names: Vec<&str> = c.ticked.iter().map(|&i| a.name(i)).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(c.row_counts, [2, 1]);
        assert_eq!(c.price_counts, [2, 1]);
        assert_eq!(c.prices, [4.0, 5.0, 2.0]);
        assert_eq!(c.scalars[..3], [5.0, T0 + 1.5, T0 + 0.5]);
        assert_eq!(c.scalars[4..6], [4.0, 19.0]);
        let held: Vec<&str> = c.held.iter().map(|&i| a.name(i)).collect();
        assert_eq!(held, ["a", "c"]);
        assert_eq!(c.positions[..4], [-2.0, 6.0, 0.0, 5.0]);
        assert_eq!(c.positions[4..7], [1.0, 3.0, 0.0]);
        assert!(c.positions[7].is_nan());
    }
}
