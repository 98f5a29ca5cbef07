//! The event-id dedup window: the last `capacity` (producer, event id) pairs,
//! O(1) per lookup. Ids are unique per producer, not across producers.

use std::collections::VecDeque;
use std::hash::BuildHasher;

use hashbrown::HashTable;

/// Keys are attacker-controlled and the window is as large as its capacity:
/// foldhash with a random seed per map (its "minimal DoS resistance"), not
/// a fixed-seed hasher whose collisions could be precomputed.
type Seed = foldhash::fast::RandomState;

pub struct RecentIds {
    capacity: usize,
    seed: Seed,
    /// Per key in the window, its number: `first` + its place in `order`.
    numbers: HashTable<u64>,
    order: VecDeque<Box<str>>,
    /// The number of the oldest key (`order[0]`).
    first: u64,
}

/// `"<producer> <id>"`, or `" <id>"` without a producer: a producer name never
/// holds a space and is never empty (schema.PRODUCER_PATTERN), so no two pairs
/// share a key.
pub fn key(producer: Option<&str>, event_id: &str) -> String {
    let producer = producer.unwrap_or("");
    let mut key = String::with_capacity(producer.len() + 1 + event_id.len());
    key.push_str(producer);
    key.push(' ');
    key.push_str(event_id);
    key
}

/// A key as the two halves around its first space (hashed and compared as
/// such, so a (producer, id) pair is looked up without building its key).
fn halves(key: &str) -> (&str, Option<&str>) {
    match key.split_once(' ') {
        Some((producer, id)) => (producer, Some(id)),
        None => (key, None),
    }
}

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        RecentIds {
            capacity,
            seed: Seed::default(),
            numbers: HashTable::new(),
            order: VecDeque::new(),
            first: 0,
        }
    }

    /// True if the key is in the window; otherwise remember it (forgetting the
    /// oldest beyond `capacity`) and return false.
    pub fn seen_before(&mut self, key: &str) -> bool {
        self.seen_halves(halves(key), || Box::from(key))
    }

    /// `seen_before(&key(producer, event_id))`, the key made only when it is new.
    pub fn seen_pair(&mut self, producer: Option<&str>, event_id: &str) -> bool {
        let producer = producer.unwrap_or("");
        if producer.contains(' ') {
            // Never from a valid event; its key's halves are not (producer, id).
            return self.seen_before(&key(Some(producer), event_id));
        }
        self.seen_halves((producer, Some(event_id)), || {
            key(Some(producer), event_id).into_boxed_str()
        })
    }

    fn seen_halves(
        &mut self,
        wanted: (&str, Option<&str>),
        make: impl FnOnce() -> Box<str>,
    ) -> bool {
        let RecentIds {
            capacity,
            seed,
            numbers,
            order,
            first,
        } = self;
        let at = |n: u64| {
            usize::try_from(n.wrapping_sub(*first))
                .ok()
                .and_then(|i| order.get(i))
        };
        let hash = seed.hash_one(wanted);
        if numbers
            .find(hash, |&n| at(n).is_some_and(|k| halves(k) == wanted))
            .is_some()
        {
            return true;
        }
        let number = first.wrapping_add(order.len() as u64);
        numbers.insert_unique(hash, number, |&n| {
            at(n).map_or(0, |k| seed.hash_one(halves(k)))
        });
        order.push_back(make());
        if order.len() > *capacity {
            if let Some(oldest) = order.pop_front() {
                let hash = seed.hash_one(halves(&oldest));
                let number = *first;
                if let Ok(entry) = numbers.find_entry(hash, |&n| n == number) {
                    entry.remove();
                }
                *first = first.wrapping_add(1);
            }
        }
        false
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The keys in the window, oldest first.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(|k| &**k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_forgets_the_oldest() {
        let mut ids = RecentIds::new(2);
        assert!(!ids.seen_before("a"));
        assert!(ids.seen_before("a"));
        assert!(!ids.seen_before("b"));
        assert!(!ids.seen_before("c")); // "a" leaves
        assert!(!ids.seen_before("a"));
        assert_eq!(ids.keys().collect::<Vec<_>>(), vec!["c", "a"]);
        assert_eq!(ids.len(), 2);
        let mut none = RecentIds::new(0);
        assert!(!none.seen_before("a"));
        assert!(none.is_empty());
    }

    #[test]
    fn pairs_and_keys_are_one_window() {
        let mut ids = RecentIds::new(3);
        assert!(!ids.seen_pair(Some("p"), "a b"));
        assert!(ids.seen_before("p a b"));
        assert!(!ids.seen_pair(None, "x"));
        assert!(ids.seen_before(" x"));
        assert!(!ids.seen_before("nospace"));
        assert!(!ids.seen_pair(Some("p q"), "r")); // "p q r": no producer holds a space
        assert!(ids.seen_before("p q r"));
        assert!(!ids.seen_pair(Some("p"), "a b")); // forgotten: the window holds 3
        assert_eq!(
            ids.keys().collect::<Vec<_>>(),
            vec!["nospace", "p q r", "p a b"]
        );
        for i in 0..1000 {
            assert!(!ids.seen_pair(Some("p"), &i.to_string()));
        }
        assert!(ids.seen_before("p 999") && ids.seen_before("p 997"));
        assert!(!ids.seen_before("p 996"));
        assert_eq!(ids.len(), 3);
    }

    #[test]
    fn keys_are_per_producer() {
        assert_eq!(key(None, "a b"), " a b");
        assert_eq!(key(Some("a"), "b"), "a b");
    }
}
