//! Per-producer sequence tracking: loss, duplicates, restarts and liveness
//! (docs/delivery.md). A producer is a stable name plus an instance id that
//! changes when it restarts; a stream is (producer, instance). Within a stream
//! seq grows by one per message. A seq that does not follow the stream's last:
//!
//! - above it by at most `RESTART_AHEAD`: the messages in between were lost;
//! - below it, to 0 or 1 or by more than `RESTART_BEHIND`, or above it by more
//!   than `RESTART_AHEAD`: a restart (counted, applied, counting starts afresh);
//! - otherwise (equal to the last, or a little below): a resend, a duplicate.
//!
//! Labels are capped at `max_producers`; further names share `OVERFLOW_LABEL`.
//! Streams are capped at `max_instances`, the oldest forgotten first.

use std::collections::{HashMap, VecDeque};

use hashbrown::Equivalent;

/// Producer names and instances come from the wire (an attacker can make up
/// new ones, up to the caps): foldhash with a random seed per map (its
/// "minimal DoS resistance"), not a fixed-seed hasher.
type Seed = foldhash::fast::RandomState;

pub const OVERFLOW_LABEL: &str = "__overflow__";
/// A seq further back than this is a restart, not a resend.
pub const RESTART_BEHIND: i128 = 1000;
/// A seq further ahead than this is a reset too, not 4 billion lost messages:
/// one message must not be able to inflate a loss counter.
pub const RESTART_AHEAD: i128 = 1 << 32;
/// The counters saturate: they must stay an int64 (journal, snapshot).
pub const LOST_MAX: i64 = i64::MAX;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProducerStats {
    pub lost: i64,
    pub received: i64,
    pub last_seen: f64,
    pub instances_seen: i64,
    /// seq went back to <= 1 or far behind (or jumped far ahead) within one stream
    pub restarts: i64,
}

/// What `observe` made of one message: the index of its label (`label`) and
/// whether it was a resend of something already counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub label: usize,
    pub duplicate: bool,
}

pub struct Tracker {
    max_producers: usize,
    max_instances: usize,
    labels: Vec<String>,
    index: HashMap<String, usize, Seed>,
    stats: Vec<ProducerStats>,
    last_seq: hashbrown::HashMap<StreamKey, i64, Seed>,
    /// The streams' keys, oldest first (eviction order; an update keeps its place).
    order: VecDeque<StreamKey>,
    pub overflowed: i64,
}

/// A stream's key (made once, when the stream is first seen).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct StreamKey {
    name: Box<str>,
    instance: Box<str>,
}

/// A stream's key borrowed from the event: hashes as its `StreamKey` does
/// (the derived Hash of the same two strs in the same order), so a known
/// stream is found without building its key.
#[derive(Clone, Copy, Hash)]
struct Stream<'a> {
    name: &'a str,
    instance: &'a str,
}

impl Equivalent<StreamKey> for Stream<'_> {
    fn equivalent(&self, key: &StreamKey) -> bool {
        *key.name == *self.name && *key.instance == *self.instance
    }
}

impl From<Stream<'_>> for StreamKey {
    fn from(stream: Stream<'_>) -> StreamKey {
        StreamKey {
            name: Box::from(stream.name),
            instance: Box::from(stream.instance),
        }
    }
}

impl Tracker {
    pub fn new(max_producers: usize, max_instances: usize) -> Self {
        Tracker {
            max_producers,
            max_instances,
            labels: Vec::new(),
            index: HashMap::default(),
            stats: Vec::new(),
            last_seq: hashbrown::HashMap::default(),
            order: VecDeque::new(),
            overflowed: 0,
        }
    }

    pub fn max_producers(&self) -> usize {
        self.max_producers
    }

    pub fn max_instances(&self) -> usize {
        self.max_instances
    }

    /// The label a name is counted under (made on first sight; beyond the cap,
    /// `OVERFLOW_LABEL`, counting each such message in `overflowed`).
    pub fn label_for(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let mut name = name;
        if self.labels.len() >= self.max_producers {
            self.overflowed = self.overflowed.saturating_add(1);
            name = OVERFLOW_LABEL;
            if let Some(&i) = self.index.get(name) {
                return i;
            }
        }
        self.put(name, ProducerStats::default())
    }

    /// Sets a label's counters, making the label if new (beyond the cap too:
    /// a snapshot holds at most what the cap allowed then).
    pub fn put(&mut self, name: &str, stats: ProducerStats) -> usize {
        if let Some(&i) = self.index.get(name) {
            if let Some(slot) = self.stats.get_mut(i) {
                *slot = stats;
            }
            return i;
        }
        let i = self.labels.len();
        self.labels.push(name.to_owned());
        self.index.insert(name.to_owned(), i);
        self.stats.push(stats);
        i
    }

    /// Records one message. `count == false`: it was dropped as a duplicate by
    /// its event id; its seq still moves the stream on (so it is never also a
    /// gap, i.e. loss), but it is not received.
    pub fn observe(
        &mut self,
        name: &str,
        instance: Option<&str>,
        seq: Option<i64>,
        now: f64,
        count: bool,
    ) -> Seen {
        let label = self.label_for(name);
        let verdict = match seq {
            None => Verdict::Counted,
            Some(seq) => self.judge(name, instance.unwrap_or(""), seq),
        };
        let Some(stats) = self.stats.get_mut(label) else {
            return Seen {
                label,
                duplicate: false,
            };
        };
        stats.last_seen = now;
        let duplicate = match verdict {
            Verdict::Duplicate => true,
            Verdict::Counted => false,
            Verdict::Lost(gap) => {
                stats.lost = saturate(i128::from(stats.lost) + gap);
                false
            }
            Verdict::FirstOfStream => {
                stats.instances_seen = stats.instances_seen.saturating_add(1);
                false
            }
            Verdict::Restart => {
                stats.restarts = stats.restarts.saturating_add(1);
                false
            }
        };
        if !duplicate {
            stats.received = stats.received.saturating_add(i64::from(count));
        }
        Seen { label, duplicate }
    }

    /// Judges `seq` against its stream's last, moving the stream on unless it
    /// is a duplicate.
    fn judge(&mut self, name: &str, instance: &str, seq: i64) -> Verdict {
        let stream = Stream { name, instance };
        let Some(last) = self.last_seq.get_mut(&stream) else {
            let key = StreamKey::from(stream);
            self.last_seq.insert(key.clone(), seq);
            self.order.push_back(key);
            if self.order.len() > self.max_instances {
                if let Some(oldest) = self.order.pop_front() {
                    self.last_seq.remove(&oldest);
                }
            }
            return Verdict::FirstOfStream;
        };
        let (was, now) = (i128::from(*last), i128::from(seq));
        let verdict = if was < now && now <= was + RESTART_AHEAD {
            Verdict::Lost(now - was - 1)
        } else if now > was || (now < was && (now <= 1 || was - now > RESTART_BEHIND)) {
            Verdict::Restart
        } else {
            return Verdict::Duplicate;
        };
        *last = seq;
        verdict
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn index_of(&self, label: &str) -> Option<usize> {
        self.index.get(label).copied()
    }

    pub fn label(&self, i: usize) -> Option<&str> {
        self.labels.get(i).map(String::as_str)
    }

    pub fn stats(&self, i: usize) -> Option<&ProducerStats> {
        self.stats.get(i)
    }

    pub fn stats_mut(&mut self, i: usize) -> Option<&mut ProducerStats> {
        self.stats.get_mut(i)
    }

    /// (label, stats), in the order the labels were made.
    pub fn rows(&self) -> impl Iterator<Item = (&str, &ProducerStats)> {
        self.labels
            .iter()
            .map(String::as_str)
            .zip(self.stats.iter())
    }

    /// (producer, instance, last seq), oldest stream first.
    pub fn last_seqs(&self) -> Vec<(String, String, i64)> {
        self.order
            .iter()
            .filter_map(|key| {
                let seq = *self.last_seq.get(key)?;
                Some((key.name.to_string(), key.instance.to_string(), seq))
            })
            .collect()
    }

    /// Replaces everything with a saved image (a snapshot being restored):
    /// labels in their saved order, streams oldest first.
    pub fn restore(
        &mut self,
        rows: &[(String, ProducerStats)],
        last_seqs: &[(String, String, i64)],
        overflowed: i64,
    ) {
        self.labels.clear();
        self.index.clear();
        self.stats.clear();
        self.last_seq.clear();
        self.order.clear();
        for (name, stats) in rows {
            self.put(name, *stats);
        }
        for (name, instance, seq) in last_seqs {
            let key = StreamKey::from(Stream { name, instance });
            if self.last_seq.insert(key.clone(), *seq).is_none() {
                self.order.push_back(key);
            }
        }
        self.overflowed = overflowed;
    }
}

enum Verdict {
    Counted,
    FirstOfStream,
    Lost(i128),
    Restart,
    Duplicate,
}

fn saturate(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { LOST_MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (lost, duplicates, restarts) after feeding `seqs` to one stream.
    fn run(seqs: &[i64]) -> (i64, usize, i64) {
        let mut tracker = Tracker::new(64, 4096);
        let dups = seqs
            .iter()
            .filter(|&&seq| {
                tracker
                    .observe("p", Some("i"), Some(seq), 1.0, true)
                    .duplicate
            })
            .count();
        let stats = tracker.stats(0).copied().unwrap_or_default();
        assert_eq!(stats.received, (seqs.len() - dups) as i64);
        (stats.lost, dups, stats.restarts)
    }

    #[test]
    fn gaps_are_loss_repeats_duplicates_and_going_back_a_restart() {
        assert_eq!(run(&[1, 3, 4]), (1, 0, 0));
        assert_eq!(run(&[5, 10]), (4, 0, 0));
        assert_eq!(run(&[1, 2, 2, 3]), (0, 1, 0));
        assert_eq!(run(&[3, 2]), (0, 1, 0));
        assert_eq!(run(&[3, 1]), (0, 0, 1));
        assert_eq!(run(&[5, 0, 1, 2]), (0, 0, 1));
        assert_eq!(run(&[2000, 999]), (0, 0, 1));
        assert_eq!(run(&[2000, 1000]), (0, 1, 0));
    }

    #[test]
    fn a_jump_beyond_2_pow_32_is_a_restart_not_loss() {
        let ahead = 1i64 << 32;
        assert_eq!(run(&[1, ahead + 1]), (ahead - 1, 0, 0));
        assert_eq!(run(&[1, ahead + 2]), (0, 0, 1));
        assert_eq!(
            run(&[0, ahead, 1, ahead + 1, 2, ahead + 2]),
            (3 * (ahead - 1), 0, 2)
        );
        // The extremes of the wire's seq range: no arithmetic overflow either way.
        assert_eq!(run(&[0, i64::MAX, 0]), (0, 0, 2));
        assert_eq!(run(&[i64::MAX - 2, i64::MAX]), (1, 0, 0));
    }

    #[test]
    fn the_loss_counter_saturates_at_int64() {
        let mut tracker = Tracker::new(4, 16);
        tracker.observe("p", Some("i"), Some(1), 1.0, true);
        if let Some(stats) = tracker.stats_mut(0) {
            stats.lost = LOST_MAX - 5;
        }
        tracker.observe("p", Some("i"), Some(1000), 2.0, true);
        let stats = tracker.stats(0).copied().unwrap_or_default();
        assert_eq!(
            (stats.lost, stats.received, stats.last_seen),
            (LOST_MAX, 2, 2.0)
        );
        if let Some(stats) = tracker.stats_mut(0) {
            stats.received = i64::MAX;
        }
        tracker.observe("p", Some("i"), Some(1001), 3.0, true);
        assert_eq!(tracker.stats(0).map(|s| s.received), Some(i64::MAX));
    }

    #[test]
    fn names_beyond_the_cap_share_the_overflow_label() {
        let mut tracker = Tracker::new(2, 16);
        for name in ["a", "b", "c", "d", "a", "c"] {
            tracker.observe(name, None, None, 1.0, true);
        }
        let rows: Vec<_> = tracker.rows().map(|(n, s)| (n, s.received)).collect();
        assert_eq!(rows, vec![("a", 2), ("b", 1), (OVERFLOW_LABEL, 3)]);
        assert_eq!(tracker.overflowed, 3);
        // The overflow label's streams are still per name: c's and d's seqs never collide.
        let mut tracker = Tracker::new(0, 16);
        tracker.observe("c", None, Some(5), 1.0, true);
        let seen = tracker.observe("d", None, Some(5), 1.0, true);
        assert_eq!(
            seen,
            Seen {
                label: 0,
                duplicate: false
            }
        );
        assert_eq!(tracker.stats(0).map(|s| s.instances_seen), Some(2));
    }

    #[test]
    fn an_event_id_duplicate_moves_the_stream_but_is_not_received() {
        let mut tracker = Tracker::new(4, 16);
        tracker.observe("p", Some("i"), Some(1), 1.0, true);
        tracker.observe("p", Some("i"), Some(2), 1.0, false);
        tracker.observe("p", Some("i"), Some(3), 1.0, true);
        let stats = tracker.stats(0).copied().unwrap_or_default();
        assert_eq!((stats.lost, stats.received), (0, 2));
    }

    #[test]
    fn streams_beyond_the_cap_forget_the_oldest_and_images_round_trip() {
        let mut tracker = Tracker::new(4, 2);
        for instance in ["a", "b", "c"] {
            tracker.observe("p", Some(instance), Some(7), 1.0, true);
        }
        tracker.observe("p", Some("b"), Some(8), 1.0, true); // an update keeps its place
        let seqs = tracker.last_seqs();
        assert_eq!(
            seqs,
            vec![("p".into(), "b".into(), 8), ("p".into(), "c".into(), 7)]
        );
        let rows: Vec<_> = tracker.rows().map(|(n, s)| (n.to_owned(), *s)).collect();
        let mut restored = Tracker::new(4, 2);
        restored.restore(&rows, &seqs, 3);
        assert_eq!(restored.last_seqs(), seqs);
        assert_eq!(restored.overflowed, 3);
        assert_eq!(restored.stats(0), tracker.stats(0));
        // "a" was forgotten: it starts a fresh stream, never a restart or loss.
        restored.observe("p", Some("a"), Some(1), 2.0, true);
        let stats = restored.stats(0).copied().unwrap_or_default();
        assert_eq!(
            (stats.instances_seen, stats.restarts, stats.lost),
            (4, 0, 0)
        );
    }

    #[test]
    fn streams_are_unambiguous() {
        let mut tracker = Tracker::new(4, 16);
        tracker.observe("ab", Some("c"), Some(5), 1.0, true);
        tracker.observe("a", Some("bc"), Some(5), 1.0, true);
        tracker.observe("a b", None, Some(5), 1.0, true);
        tracker.observe("a", Some(" b"), Some(5), 1.0, true);
        assert_eq!(
            tracker.last_seqs(),
            vec![
                ("ab".into(), "c".into(), 5),
                ("a".into(), "bc".into(), 5),
                ("a b".into(), "".into(), 5),
                ("a".into(), " b".into(), 5)
            ]
        );
        let seen = tracker.observe("a", Some("bc"), Some(5), 1.0, true);
        assert!(seen.duplicate);
    }
}
