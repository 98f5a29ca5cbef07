//! One symbol's market data, updated once per in-order tick in O(1): last
//! price, a bounded history ring (ts, price, volume; it also serves the SMA and
//! tick volatility over the last N ticks) and the current second's window row.
//! Everything coarser than a second (finished window rows, OHLC bars, session
//! sums) moves once per second the symbol ticks in.
//!
//! Memory follows use: a window row exists only for a second that had ticks
//! (rows are appended in time order) and rows older than the longest window are
//! dropped, so a symbol that ticked in three seconds holds three rows.

use crate::analytics_ohlc::{floor_to, Bar, OhlcBook};
use crate::analytics_ring::Ring;

/// A window row: second, ticks, volume, sum(price*volume), open (for the bars),
/// sum of log returns, sum of squared returns, high, low, max drawdown inside
/// the second.
pub const TICK_WIDTH: usize = 10;
pub const SESSION_SECONDS: f64 = 86400.0; // the session is the UTC day (the D1 bar)
const COMPACT_FROM: usize = 64 * TICK_WIDTH; // dropped values kept before compacting (amortized O(1))

pub struct Series {
    span: f64,
    rows: Vec<f64>, // finished seconds' rows, oldest first from `start`
    start: usize,
    current: Option<[f64; TICK_WIDTH]>,
    current_end: f64,
    history: Ring,
    // Touched once a second: boxed, so the per-tick fields share fewer cache lines
    // (the book's partial bars are most of a series' size).
    book: Box<OhlcBook>,
    session: [f64; 3], // day start, volume, turnover of the finished seconds
    pub last_price: f64,
    pub last_ts: f64,
    pub first_ts: f64, // the first tick has no log return
}

impl Series {
    /// Once per symbol (its first tick): out of line.
    #[cold]
    #[inline(never)]
    pub fn new(span: u32, history: usize, bars: usize) -> Self {
        Series {
            span: f64::from(span),
            rows: Vec::new(),
            start: 0,
            current: None,
            current_end: f64::NEG_INFINITY,
            history: Ring::new(3, history),
            book: Box::new(OhlcBook::new(bars)),
            session: [-1.0, 0.0, 0.0],
            last_price: 0.0,
            last_ts: f64::NEG_INFINITY,
            first_ts: f64::NEG_INFINITY,
        }
    }

    /// One tick no older than the previous one (the caller drops out-of-order ones).
    pub fn add(&mut self, ts: f64, price: f64, volume: f64) {
        let prev = self.last_price;
        self.last_price = price;
        self.last_ts = ts;
        self.history.push_row(&[ts, price, volume]);
        if ts >= self.current_end {
            self.next_second(ts, price, prev);
        }
        let Some(row) = self.current.as_mut() else {
            return;
        };
        row[1] += 1.0;
        row[2] += volume;
        row[3] += price * volume;
        let high = row[7];
        if price > high {
            row[7] = price;
        } else {
            let drawdown = 1.0 - price / high;
            if drawdown > row[9] {
                row[9] = drawdown;
            }
            if price < row[8] {
                row[8] = price;
            }
        }
        if prev > 0.0 {
            let r = (price / prev).ln();
            row[5] += r;
            row[6] += r * r;
        } else {
            self.first_ts = ts;
        }
    }

    /// Finishes the current second (`close`: its last price), starts the one of `ts`.
    /// Once a second: kept out of line, so the per-tick path stays a few cache lines.
    #[cold]
    #[inline(never)]
    fn next_second(&mut self, ts: f64, price: f64, close: f64) {
        if let Some(done) = self.current.take() {
            self.finish(&done, close);
        }
        let second = ts.trunc();
        self.current = Some([second, 0.0, 0.0, 0.0, price, 0.0, 0.0, price, price, 0.0]);
        self.current_end = second + 1.0;
        self.evict(second);
    }

    /// A finished second into the rows, the bars and the session sums.
    fn finish(&mut self, row: &[f64; TICK_WIDTH], close: f64) {
        self.rows.extend_from_slice(row);
        let second = row[0];
        self.book.add_bar(&[
            second, row[4], row[7], row[8], close, row[2], row[1], row[3],
        ]);
        let day = floor_to(second, SESSION_SECONDS);
        if self.session[0] != day {
            self.session = [day, row[2], row[3]];
        } else {
            self.session[1] += row[2];
            self.session[2] += row[3];
        }
    }

    /// Drops rows no window read at `second` or later can hold (amortized O(1)).
    fn evict(&mut self, second: f64) {
        let oldest = second - self.span;
        let mut start = self.start;
        while start < self.rows.len() && self.rows[start] <= oldest {
            start += TICK_WIDTH;
        }
        if start >= COMPACT_FROM && 2 * start >= self.rows.len() {
            self.rows.drain(..start);
            start = 0;
        }
        self.start = start;
    }

    /// The second in progress as a bar (the book has not seen it yet).
    fn tail_bar(&self) -> Option<Bar> {
        self.current.map(|row| {
            [
                row[0],
                row[4],
                row[7],
                row[8],
                self.last_price,
                row[2],
                row[1],
                row[3],
            ]
        })
    }

    /// (day start, volume, turnover) of the newest tick's UTC day, the current
    /// second included; day -1 before any tick.
    pub fn session_totals(&self) -> [f64; 3] {
        let Some(row) = self.current else {
            return [-1.0, 0.0, 0.0];
        };
        let day = floor_to(row[0], SESSION_SECONDS);
        if self.session[0] == day {
            [day, self.session[1] + row[2], self.session[2] + row[3]]
        } else {
            [day, row[2], row[3]]
        }
    }

    /// The live window rows (flat), the second in progress last, appended to `out`.
    pub fn window_rows_into(&self, out: &mut Vec<f64>) -> usize {
        let before = out.len();
        out.extend_from_slice(&self.rows[self.start..]);
        if let Some(row) = &self.current {
            out.extend_from_slice(row);
        }
        (out.len() - before) / TICK_WIDTH
    }

    /// The newest `count` prices, oldest first, appended to `out`; how many.
    pub fn recent_prices_into(&self, count: usize, out: &mut Vec<f64>) -> usize {
        let rows = self.history.last(count);
        out.extend(rows.chunks_exact(3).map(|r| r[1]));
        rows.len() / 3
    }

    /// The newest `count` ticks (ts, price, volume), oldest first, flat.
    pub fn history(&self, count: usize) -> Vec<f64> {
        self.history.last(count)
    }

    /// The newest `count` bars of timeframe `level` (an index into `SPANS`).
    pub fn bars(&self, level: usize, count: usize) -> Vec<Bar> {
        self.book.bars(level, count, self.tail_bar().as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: f64 = 1_700_000_000.0;

    #[test]
    fn rows_only_for_seconds_with_ticks_and_evicted_after_the_span() {
        let mut s = Series::new(300, 10, 10);
        s.add(T0 + 0.2, 100.0, 1.0);
        s.add(T0 + 0.7, 90.0, 2.0);
        s.add(T0 + 0.9, 95.0, 0.0);
        s.add(T0 + 5.0, 99.0, 1.0);
        let mut rows = Vec::new();
        assert_eq!(s.window_rows_into(&mut rows), 2);
        assert_eq!(&rows[..5], &[T0, 3.0, 3.0, 280.0, 100.0]);
        assert_eq!(&rows[7..10], &[100.0, 90.0, 1.0 - 90.0 / 100.0]);
        let r1 = (90.0f64 / 100.0).ln();
        let r2 = (95.0f64 / 90.0).ln();
        assert_eq!(rows[5], r1 + r2);
        assert_eq!(s.first_ts, T0 + 0.2);
        assert_eq!(s.session_totals(), [floor_to(T0, 86400.0), 4.0, 379.0]);
        s.add(T0 + 400.0, 1.0, 1.0);
        rows.clear();
        assert_eq!(s.window_rows_into(&mut rows), 1);
        let mut prices = Vec::new();
        assert_eq!(s.recent_prices_into(3, &mut prices), 3);
        assert_eq!(prices, vec![95.0, 99.0, 1.0]);
        let m1 = s.bars(0, 10);
        assert_eq!(m1.len(), 2);
        assert_eq!(m1[0][1..7], [100.0, 100.0, 90.0, 99.0, 4.0, 4.0]);
        assert_eq!(m1[1][4], 1.0);
    }
}
