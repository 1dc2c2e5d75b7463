//! Counting what pub/sub lost: each origin numbers its publishes per topic, so a receiver that sees
//! 5 after 2 knows two messages never reached it (a broker outage, a reconnect).

use std::collections::HashMap;

/// Origins remembered per topic; a topic fed by more live publishers forgets the oldest-seen ones
/// (their next message starts a fresh count, never a false loss).
const MAX_ORIGINS: usize = 256;

/// The last sequence number seen per topic and origin, for topics this node has interest in.
#[derive(Default)]
pub(crate) struct Gaps {
    topics: HashMap<String, HashMap<u64, u64>>,
}

impl Gaps {
    /// Records `seq` from `origin` on `topic`; returns how many messages were skipped before it.
    /// A repeated or older number (the origin restarted its count) is not a loss.
    pub(crate) fn observe(&mut self, topic: &str, origin: u64, seq: u64) -> u64 {
        let origins = match self.topics.get_mut(topic) {
            Some(o) => o,
            None => self.topics.entry(topic.to_owned()).or_default(),
        };
        if origins.len() >= MAX_ORIGINS && !origins.contains_key(&origin) {
            origins.clear();
        }
        let last = origins.insert(origin, seq);
        match last {
            Some(last) if seq > last + 1 => seq - last - 1,
            _ => 0,
        }
    }

    /// Forgets a topic this node no longer listens to (what it misses then is not a loss).
    pub(crate) fn forget(&mut self, topic: &str) {
        self.topics.remove(topic);
    }
}

/// The sending side: the next sequence number per topic.
#[derive(Default)]
pub(crate) struct Sequencer {
    next: HashMap<String, u64>,
}

/// Topics a node numbers at once; beyond it the map starts over (receivers then see a count
/// restart, which is never counted as a loss).
const MAX_SEQUENCED_TOPICS: usize = 65_536;

impl Sequencer {
    /// The number of the next publish on `topic` (1 for its first).
    pub(crate) fn next(&mut self, topic: &str) -> u64 {
        if self.next.len() >= MAX_SEQUENCED_TOPICS && !self.next.contains_key(topic) {
            self.next.clear();
        }
        let n = match self.next.get_mut(topic) {
            Some(n) => n,
            None => self.next.entry(topic.to_owned()).or_default(),
        };
        *n += 1;
        *n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_count_as_lost_and_restarts_do_not() {
        let mut g = Gaps::default();
        assert_eq!(g.observe("t", 1, 1), 0);
        assert_eq!(g.observe("t", 1, 2), 0);
        assert_eq!(g.observe("t", 1, 5), 2);
        assert_eq!(g.observe("t", 2, 9), 0, "first message of an origin");
        assert_eq!(g.observe("t", 1, 1), 0, "origin restarted its count");
        g.forget("t");
        assert_eq!(g.observe("t", 1, 7), 0);
        let mut s = Sequencer::default();
        assert_eq!((s.next("a"), s.next("a"), s.next("b")), (1, 2, 1));
    }
}
