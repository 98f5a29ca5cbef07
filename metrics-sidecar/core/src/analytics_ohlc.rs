//! OHLC bars on six timeframes, aligned to UTC (epoch multiples of the
//! timeframe). The owning series folds each finished second into the active
//! one-minute bar (`add_bar`); when a minute ends its bar is folded into the
//! five-minute bar being built, and so on up the ladder (each timeframe divides
//! the next), so a second costs one bar update whatever the number of
//! timeframes. Readers pass the second in progress as `tail`.
//!
//! A bar is `[start, open, high, low, close, volume, ticks, turnover]`; minutes
//! without ticks produce no bar. docs/analytics.md "OHLC bars".

use crate::analytics_ring::Ring;

/// The timeframes in seconds: 1m 5m 15m 1h 4h 1d.
pub const SPANS: [f64; 6] = [60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0];
pub const BAR_WIDTH: usize = 8;

pub type Bar = [f64; BAR_WIDTH];

/// `x - x mod span` with Python's float modulo (the sign of the divisor): exact,
/// since fmod is exact and a multiple of the span is representable.
pub fn floor_to(x: f64, span: f64) -> f64 {
    x - x.rem_euclid(span)
}

/// Appends `bar` (later in time) to `into`: the open stays, the close moves.
fn merge(into: &mut Bar, bar: &Bar) {
    if bar[2] > into[2] {
        into[2] = bar[2];
    }
    if bar[3] < into[3] {
        into[3] = bar[3];
    }
    into[4] = bar[4];
    into[5] += bar[5];
    into[6] += bar[6];
    into[7] += bar[7];
}

fn restart(start: f64, bar: &Bar) -> Bar {
    let mut out = *bar;
    out[0] = start;
    out
}

/// One symbol's bars: closed bars in a ring per timeframe, plus the bars still
/// being built (the active minute and, per higher timeframe, the fold of its
/// closed lower bars).
pub struct OhlcBook {
    closed: Vec<Ring>,
    m1: Option<Bar>,
    m1_end: f64,
    partial: [Option<Bar>; SPANS.len()],
}

impl OhlcBook {
    pub fn new(capacity: usize) -> Self {
        OhlcBook {
            closed: SPANS
                .iter()
                .map(|_| Ring::new(BAR_WIDTH, capacity))
                .collect(),
            m1: None,
            m1_end: f64::NEG_INFINITY,
            partial: [None; SPANS.len()],
        }
    }

    /// In-order ticks (one second's) starting at `bar[0]`, all inside one minute.
    pub fn add_bar(&mut self, bar: &Bar) {
        if bar[0] < self.m1_end {
            if let Some(m1) = self.m1.as_mut() {
                merge(m1, bar);
                return;
            }
        }
        if let Some(done) = self.m1.take() {
            self.close(0, &done);
        }
        let start = floor_to(bar[0], SPANS[0]);
        self.m1 = Some(restart(start, bar));
        self.m1_end = start + SPANS[0];
    }

    fn close(&mut self, level: usize, bar: &Bar) {
        self.closed[level].push(bar);
        let up = level + 1;
        if up == SPANS.len() {
            return;
        }
        let start = floor_to(bar[0], SPANS[up]);
        if let Some(building) = self.partial[up] {
            if building[0] != start {
                self.partial[up] = None;
                self.close(up, &building);
            }
        }
        match self.partial[up].as_mut() {
            Some(building) => merge(building, bar),
            None => self.partial[up] = Some(restart(start, bar)),
        }
    }

    /// Bars of this timeframe not in `closed` yet, oldest first (at most a few).
    fn pending(&self, level: usize, tail: Option<&Bar>) -> Vec<Bar> {
        if level == 0 {
            let mut out: Vec<Bar> = self.m1.iter().copied().collect();
            if let Some(tail) = tail {
                match out.last_mut() {
                    Some(last) if tail[0] < self.m1_end => merge(last, tail),
                    _ => out.push(restart(floor_to(tail[0], SPANS[0]), tail)),
                }
            }
            return out;
        }
        let mut out: Vec<Bar> = self.partial[level].iter().copied().collect();
        let span = SPANS[level];
        for bar in self.pending(level - 1, tail) {
            let start = floor_to(bar[0], span);
            match out.last_mut() {
                Some(last) if last[0] == start => merge(last, &bar),
                _ => out.push(restart(start, &bar)),
            }
        }
        out
    }

    /// The newest `count` bars of timeframe `level` (an index into `SPANS`),
    /// oldest first; `tail`: the second in progress.
    pub fn bars(&self, level: usize, count: usize, tail: Option<&Bar>) -> Vec<Bar> {
        let pending = self.pending(level, tail);
        let older = count.saturating_sub(pending.len());
        let ring = &self.closed[level];
        let mut rows: Vec<Bar> = ring
            .last(older)
            .chunks_exact(BAR_WIDTH)
            .map(|c| {
                let mut bar = [0.0; BAR_WIDTH];
                bar.copy_from_slice(c);
                bar
            })
            .collect();
        rows.extend(pending);
        // A finished bar still pending would already have pushed the oldest out of
        // a full ring: at most `capacity` closed bars plus the one being built.
        let keep = count.min(ring.capacity() + 1);
        rows.split_off(rows.len().saturating_sub(keep))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: f64 = 1_700_000_000.0; // 22:13:20 UTC

    fn tick(book: &mut OhlcBook, ts: f64, price: f64, volume: f64) {
        book.add_bar(&[ts, price, price, price, price, volume, 1.0, price * volume]);
    }

    #[test]
    fn a_boundary_tick_opens_the_next_bar_and_folds_up() {
        let mut book = OhlcBook::new(10);
        assert!(book.bars(0, 5, None).is_empty());
        tick(&mut book, START + 39.999, 10.0, 1.0);
        tick(&mut book, START + 40.0, 11.0, 2.0);
        let m1 = book.bars(0, 5, None);
        assert_eq!(m1.len(), 2);
        assert_eq!((m1[0][0], m1[0][1], m1[0][4]), (START - 20.0, 10.0, 10.0));
        assert_eq!((m1[1][0], m1[1][1], m1[1][6]), (START + 40.0, 11.0, 1.0));
        let m5 = book.bars(1, 5, None);
        assert_eq!(
            m5,
            vec![[START - 200.0, 10.0, 11.0, 10.0, 11.0, 3.0, 2.0, 32.0]]
        );
        let d1 = book.bars(
            5,
            5,
            Some(&[START + 50.0, 9.0, 12.0, 8.0, 9.5, 1.0, 3.0, 9.0]),
        );
        assert_eq!(d1.len(), 1);
        assert_eq!(d1[0][2..7], [12.0, 8.0, 9.5, 4.0, 5.0]);
    }

    #[test]
    fn the_ring_keeps_the_newest_closed_bars() {
        let mut book = OhlcBook::new(3);
        for minute in 0..10 {
            tick(&mut book, START - 20.0 + 60.0 * f64::from(minute), 1.0, 1.0);
        }
        let bars = book.bars(0, 100, None);
        let starts: Vec<f64> = bars.iter().map(|b| b[0]).collect();
        let want: Vec<f64> = (6..10)
            .map(|m| START - 20.0 + 60.0 * f64::from(m))
            .collect();
        assert_eq!(starts, want);
        assert_eq!(book.bars(0, 2, None), bars[2..].to_vec());
        assert!(book.bars(0, 0, None).is_empty());
    }
}
