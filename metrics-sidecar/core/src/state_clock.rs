//! Producer clock offsets against the sidecar's clock (the method is in
//! `metrics_sidecar/clock_offset.py`'s docstring): per producer label, a window
//! of `SLOTS` slots of `SLOT_SECONDS`, keeping per slot the sample with the
//! smallest key (the one-way delay `recv - sent_ts`, or a probe's round trip).

use std::collections::{HashMap, VecDeque};

pub const SLOT_SECONDS: f64 = 10.0;
pub const SLOTS: usize = 6;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Entry {
    slot: f64,
    key: f64,
    offset: f64,
}

/// Label -> window, in the order the labels were first seen.
#[derive(Default)]
struct Windows {
    /// foldhash, seeded per map: the labels come from the wire (capped upstream).
    index: HashMap<String, usize, foldhash::fast::RandomState>,
    rows: Vec<(String, VecDeque<Entry>)>,
}

impl Windows {
    fn keep_smallest(&mut self, cap: usize, producer: &str, now: f64, key: f64, offset: f64) {
        let slot = (now / SLOT_SECONDS).floor();
        let i = match self.index.get(producer) {
            Some(&i) => i,
            None => {
                if self.rows.len() > cap {
                    return; // labels are capped upstream; this is a backstop
                }
                self.index.insert(producer.to_owned(), self.rows.len());
                self.rows.push((producer.to_owned(), VecDeque::new()));
                self.rows.len() - 1
            }
        };
        let Some((_, window)) = self.rows.get_mut(i) else {
            return;
        };
        match window.back_mut() {
            // This slot, or a time behind it (a replay, a clock step): fold in.
            Some(last) if slot <= last.slot => {
                if key < last.key {
                    last.key = key;
                    last.offset = offset;
                }
            }
            _ => {
                window.push_back(Entry { slot, key, offset });
                if window.len() > SLOTS {
                    window.pop_front();
                }
            }
        }
    }

    /// Per label, the best entry still inside the window that starts at `oldest`.
    fn best(&self, oldest: f64) -> impl Iterator<Item = (&str, Entry)> {
        self.rows.iter().filter_map(move |(name, window)| {
            window
                .iter()
                .filter(|e| e.slot >= oldest)
                .fold(None, |best: Option<Entry>, e| match best {
                    Some(b) if b.key <= e.key => Some(b),
                    _ => Some(*e),
                })
                .map(|e| (name.as_str(), e))
        })
    }
}

#[derive(Default)]
pub struct ClockOffsets {
    pub max_producers: usize,
    one_way: Windows,
    round_trips: Windows,
}

/// One producer's estimate: (offset, round trip or None for one way).
pub type Detail = (String, f64, Option<f64>);

impl ClockOffsets {
    pub fn new(max_producers: usize) -> Self {
        ClockOffsets {
            max_producers,
            ..ClockOffsets::default()
        }
    }

    pub fn observe(&mut self, producer: &str, sent: f64, recv: f64) {
        let delay = recv - sent;
        self.one_way
            .keep_smallest(self.max_producers, producer, recv, delay, -delay);
    }

    pub fn observe_round_trip(&mut self, producer: &str, offset: f64, round_trip: f64, now: f64) {
        self.round_trips
            .keep_smallest(self.max_producers, producer, now, round_trip, offset);
    }

    /// Per producer (one-way ones first, in first-seen order, then those only
    /// with round trips): (label, offset, round trip) at `now`; a round-trip
    /// sample wins over the one-way estimate of the same producer.
    pub fn details(&self, now: f64) -> Vec<Detail> {
        let oldest = (now / SLOT_SECONDS).floor() - (SLOTS as f64 - 1.0);
        let mut out: Vec<Detail> = self
            .one_way
            .best(oldest)
            .map(|(name, e)| (name.to_owned(), e.offset, None))
            .collect();
        for (name, e) in self.round_trips.best(oldest) {
            match out.iter_mut().find(|(n, _, _)| n == name) {
                Some(row) => *row = (name.to_owned(), e.offset, Some(e.key)),
                None => out.push((name.to_owned(), e.offset, Some(e.key))),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_delay_of_the_window_wins_and_old_slots_leave() {
        let mut clocks = ClockOffsets::new(4);
        clocks.observe("p", 100.0, 100.5);
        clocks.observe("p", 101.0, 101.25); // same slot, smaller delay
        clocks.observe("p", 112.0, 112.75);
        assert_eq!(clocks.details(115.0), vec![("p".into(), -0.25, None)]);
        // 50 s later the first slot is out of the window.
        assert_eq!(clocks.details(165.0), vec![("p".into(), -0.75, None)]);
        assert_eq!(clocks.details(300.0), vec![]);
    }

    #[test]
    fn a_round_trip_wins_over_one_way() {
        let mut clocks = ClockOffsets::new(4);
        clocks.observe("p", 100.0, 100.5);
        clocks.observe("q", 100.0, 100.125);
        clocks.observe_round_trip("p", 0.25, 0.002, 100.0);
        clocks.observe_round_trip("r", 1.0, 0.004, 100.0);
        assert_eq!(
            clocks.details(101.0),
            vec![
                ("p".into(), 0.25, Some(0.002)),
                ("q".into(), -0.125, None),
                ("r".into(), 1.0, Some(0.004))
            ]
        );
    }

    #[test]
    fn labels_beyond_the_backstop_are_ignored() {
        let mut clocks = ClockOffsets::new(0);
        clocks.observe("a", 1.0, 1.0);
        clocks.observe("b", 1.0, 1.0);
        assert_eq!(clocks.details(1.0).len(), 1);
    }
}
