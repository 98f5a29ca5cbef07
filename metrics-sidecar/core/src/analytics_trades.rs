//! The per-trade rules of the analytics: one side's rolling trade window and a
//! symbol's position (average-cost method). docs/analytics.md.

/// Trade buckets (per side): second, trades, qty, gaps, sum of gaps, sum of squared gaps.
pub const TRADE_WIDTH: usize = 6;
const EMPTY: f64 = -1.0; // bucket id of a slot never written

/// One side's trades: per-second buckets over the last `span` seconds (a ring
/// of one slot per second), plus an exponentially weighted volume
/// `sum(qty * 2 ** (-(now - t) / half_life))`. Times are receive times; a gap
/// (inter-arrival time) belongs to the bucket of the trade that ends it.
pub struct TradeWindow {
    span: i64,
    pub slots: Vec<f64>,
    pub last_t: f64, // time of the previous trade (-1: none yet)
    pub ew: f64,     // EW volume as of `ew_t`
    pub ew_t: f64,
    ew_k: f64, // decay rate per second
    // The second of the newest bucket written and its slot: trades of that second
    // (most of them) skip the truncation and the modulo. NaN: none yet.
    second: f64,
    slot: usize,
}

impl TradeWindow {
    pub fn new(span: u32, half_life: f64) -> Self {
        let span = span.max(1);
        let mut slots = vec![0.0; span as usize * TRADE_WIDTH];
        for slot in slots.chunks_exact_mut(TRADE_WIDTH) {
            slot[0] = EMPTY;
        }
        TradeWindow {
            span: i64::from(span),
            slots,
            last_t: -1.0,
            ew: 0.0,
            ew_t: 0.0,
            ew_k: std::f64::consts::LN_2 / half_life,
            second: f64::NAN,
            slot: 0,
        }
    }

    /// The second of `t` (`t.trunc()`) and its slot's offset in `slots`; the last
    /// answer is kept, so a trade in the same second as the previous one costs
    /// two comparisons.
    fn bucket(&mut self, t: f64) -> (f64, usize) {
        // `second` is a whole number >= 1 (below 2^53), so for t in
        // [second, second + 1) the truncation is `second` itself.
        if t >= self.second && t < self.second + 1.0 {
            return (self.second, self.slot);
        }
        self.next_bucket(t)
    }

    /// `bucket` for a time outside the kept second (once a second: out of line).
    #[cold]
    #[inline(never)]
    fn next_bucket(&mut self, t: f64) -> (f64, usize) {
        let b = t.trunc();
        // Saturating: any finite time maps to a slot; the bound keeps the cast defined.
        let i = ((b.clamp(-9e15, 9e15) as i64).rem_euclid(self.span)) as usize * TRADE_WIDTH;
        if (1.0..9e15).contains(&b) {
            self.second = b;
            self.slot = i;
        }
        (b, i)
    }

    pub fn add(&mut self, t: f64, qty: f64) {
        // EW volume first: it needs no bucket, so a clock step back never loses it.
        if t >= self.ew_t {
            self.ew = self.ew * ((self.ew_t - t) * self.ew_k).exp() + qty;
            self.ew_t = t;
        } else {
            self.ew += qty * ((t - self.ew_t) * self.ew_k).exp();
        }
        let gap = if self.last_t >= 0.0 {
            t - self.last_t
        } else {
            -1.0
        };
        if t > self.last_t {
            self.last_t = t;
        }
        let (b, i) = self.bucket(t);
        let s = &mut self.slots[i..i + TRADE_WIDTH];
        if s[0] != b {
            if s[0] > b {
                return; // the wall clock stepped back more than `span`: no bucket left
            }
            s.copy_from_slice(&[b, 1.0, qty, 0.0, 0.0, 0.0]);
        } else {
            s[1] += 1.0;
            s[2] += qty;
        }
        if gap >= 0.0 {
            s[3] += 1.0;
            s[4] += gap;
            s[5] += gap * gap;
        }
    }
}

/// A position this small relative to the trade that produced it is float noise
/// (0.1 + 0.2 - 0.3), not an open position.
pub const FLAT: f64 = 1e-9;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Position {
    pub qty: f64,      // signed: > 0 long, < 0 short
    pub avg_cost: f64, // 0 while flat
    pub realized: f64,
    pub unpriced: u64, // trades with no price and no tick yet: counted, PnL untouched
}

impl Position {
    /// One trade (`signed_qty` != 0). Opening or adding moves the average cost to
    /// the quantity-weighted mean; reducing realizes `closed * (price - avg_cost)`
    /// (reversed for a short); crossing zero opens the rest at `price`.
    pub fn apply(&mut self, signed_qty: f64, price: f64) {
        let qty = self.qty;
        let new = qty + signed_qty;
        if qty == 0.0 || (qty > 0.0) == (signed_qty > 0.0) {
            // Same signs, so the weighted mean works on signed values.
            self.avg_cost = (qty * self.avg_cost + signed_qty * price) / new;
            self.qty = new;
            return;
        }
        let tolerance = if qty > 0.0 {
            let closed = if qty < -signed_qty { qty } else { -signed_qty };
            self.realized += closed * (price - self.avg_cost);
            FLAT * if qty > -signed_qty { qty } else { -signed_qty }
        } else {
            let closed = if -qty < signed_qty { -qty } else { signed_qty };
            self.realized += closed * (self.avg_cost - price);
            FLAT * if -qty > signed_qty { -qty } else { signed_qty }
        };
        if -tolerance <= new && new <= tolerance {
            self.qty = 0.0;
            self.avg_cost = 0.0;
            return;
        }
        if (new > 0.0) != (qty > 0.0) {
            self.avg_cost = price; // flipped: the remainder was opened at this price
        }
        self.qty = new;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(p: &mut Position, q: f64, price: f64) -> (f64, f64, f64) {
        p.apply(q, price);
        (p.qty, p.avg_cost, p.realized)
    }

    #[test]
    fn scripted_session_adds_reduces_and_flips() {
        let mut p = Position::default();
        assert_eq!(apply(&mut p, 2.0, 100.0), (2.0, 100.0, 0.0));
        assert_eq!(apply(&mut p, 1.0, 106.0), (3.0, 102.0, 0.0));
        assert_eq!(apply(&mut p, -2.0, 110.0), (1.0, 102.0, 16.0));
        assert_eq!(apply(&mut p, -3.0, 101.0), (-2.0, 101.0, 15.0));
        assert_eq!(apply(&mut p, 0.5, 95.0), (-1.5, 101.0, 18.0));
        assert_eq!(apply(&mut p, -1.5, 97.0), (-3.0, 99.0, 18.0));
        assert_eq!(apply(&mut p, 3.0, 99.0), (0.0, 0.0, 18.0));
    }

    #[test]
    fn float_noise_closes_to_flat() {
        let mut p = Position::default();
        p.apply(0.1, 10.0);
        p.apply(0.2, 10.0);
        p.apply(-0.3, 11.0);
        assert_eq!((p.qty, p.avg_cost), (0.0, 0.0));
        assert!((p.realized - 0.3).abs() < 1e-12);
    }

    #[test]
    fn the_kept_bucket_is_the_computed_one() {
        let mut w = TradeWindow::new(300, 60.0);
        let times: [f64; 15] = [
            1000.25,
            1000.75,
            1000.0,
            1001.0,
            1000.5,
            999.999,
            0.5,
            -0.5,
            -1.5,
            1e16,
            1000.0,
            2e15,
            2e15 + 0.5,
            2e15 + 1.0,
            1001.0 - 1e-13,
        ];
        for t in times {
            let b = t.trunc();
            let i = ((b.clamp(-9e15, 9e15) as i64).rem_euclid(300)) as usize * TRADE_WIDTH;
            let got = w.bucket(t);
            assert_eq!((got.0.to_bits(), got.1), (b.to_bits(), i), "t = {t}");
        }
    }

    #[test]
    fn buckets_gaps_and_ew_volume() {
        let mut w = TradeWindow::new(300, 60.0);
        w.add(1000.25, 2.0);
        w.add(1000.75, 1.0);
        w.add(1003.0, 4.0);
        fn slot(w: &TradeWindow, b: usize) -> &[f64] {
            &w.slots[b * TRADE_WIDTH..(b + 1) * TRADE_WIDTH]
        }
        assert_eq!(slot(&w, 1000 % 300), &[1000.0, 2.0, 3.0, 1.0, 0.5, 0.25]);
        assert_eq!(slot(&w, 1003 % 300), &[1003.0, 1.0, 4.0, 1.0, 2.25, 5.0625]);
        let want = 2.0 * 0.5f64.powf(2.75 / 60.0) + 1.0 * 0.5f64.powf(2.25 / 60.0) + 4.0;
        assert!((w.ew - want).abs() < 1e-12 && w.ew_t == 1003.0);
        w.add(700.0, 1.0); // stepped back more than the span: EW only
        assert_eq!(slot(&w, 100), &[1000.0, 2.0, 3.0, 1.0, 0.5, 0.25]);
        assert_eq!(w.last_t, 1003.0);
    }
}
