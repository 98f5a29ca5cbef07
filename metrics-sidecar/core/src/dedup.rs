//! The event-id dedup window: the last `capacity` (producer, event id) pairs,
//! O(1) per lookup. Ids are unique per producer, not across producers.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

pub struct RecentIds {
    capacity: usize,
    ids: HashSet<Arc<str>>,
    order: VecDeque<Arc<str>>,
    /// The key being looked up, reused (no allocation per message).
    scratch: String,
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

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        RecentIds {
            capacity,
            ids: HashSet::new(),
            order: VecDeque::new(),
            scratch: String::new(),
        }
    }

    /// `seen_before(&key(producer, event_id))` without building a new key string.
    pub fn seen_id_before(&mut self, producer: Option<&str>, event_id: &str) -> bool {
        let mut key = std::mem::take(&mut self.scratch);
        key.clear();
        key.push_str(producer.unwrap_or(""));
        key.push(' ');
        key.push_str(event_id);
        let seen = self.seen_before(&key);
        self.scratch = key;
        seen
    }

    /// True if the key is in the window; otherwise remember it (forgetting the
    /// oldest beyond `capacity`) and return false.
    pub fn seen_before(&mut self, key: &str) -> bool {
        if self.ids.contains(key) {
            return true;
        }
        let key: Arc<str> = Arc::from(key);
        self.ids.insert(Arc::clone(&key));
        self.order.push_back(key);
        if self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
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
    fn an_id_is_looked_up_by_its_key() {
        let mut ids = RecentIds::new(4);
        assert!(!ids.seen_id_before(Some("p"), "e"));
        assert!(ids.seen_before(&key(Some("p"), "e")));
        assert!(ids.seen_id_before(Some("p"), "e"));
        assert!(!ids.seen_id_before(None, "e"));
    }

    #[test]
    fn keys_are_per_producer() {
        assert_eq!(key(None, "a b"), " a b");
        assert_eq!(key(Some("a"), "b"), "a b");
    }
}
