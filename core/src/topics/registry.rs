//! Who is subscribed to what: topics to their subscribers, and each session to its topics.
//!
//! Lock order: `by_session`, then `topics`, then one topic's `members`. Membership changes take
//! `by_session` first, so they are serialised; a publish takes only `topics` (briefly, to find the
//! topic) and then that topic's `members` for reading while it delivers.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use crate::metrics::{TopicCounts, TopicMetrics};
use crate::session::Session;

/// One topic: its subscribers and its counters.
pub(crate) struct Topic {
    members: RwLock<Members>,
    /// Its own counters while the label bound allowed one when it was created.
    pub(crate) counts: Option<Arc<TopicCounts>>,
}

/// The subscribers of a topic, in a vector for delivery, indexed by session id for removal.
#[derive(Default)]
pub(crate) struct Members {
    list: Vec<Session>,
    index: HashMap<u64, usize>,
}

impl Members {
    /// The subscribers, in no particular order.
    pub(crate) fn sessions(&self) -> &[Session] {
        &self.list
    }

    fn insert(&mut self, s: &Session) {
        self.index.insert(s.id(), self.list.len());
        self.list.push(s.clone());
    }

    fn remove(&mut self, id: u64) {
        if let Some(i) = self.index.remove(&id) {
            self.list.swap_remove(i);
            if let Some(moved) = self.list.get(i) {
                self.index.insert(moved.id(), i);
            }
        }
    }
}

impl Topic {
    /// Its subscribers, held for reading (membership changes wait until the guard is dropped).
    pub(crate) fn members(&self) -> RwLockReadGuard<'_, Members> {
        self.members.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every topic with at least one subscriber, and every session's subscriptions.
#[derive(Default)]
pub(crate) struct Registry {
    topics: RwLock<HashMap<Arc<str>, Arc<Topic>>>,
    by_session: Mutex<HashMap<u64, BTreeSet<Arc<str>>>>,
}

impl Registry {
    /// Adds `s` to `topic`; false if it was already subscribed. `limit` bounds one session's topics.
    pub(crate) fn subscribe(
        &self,
        s: &Session,
        topic: &str,
        limit: usize,
        metrics: &TopicMetrics,
    ) -> Result<bool, usize> {
        let mut by_session = self.by_session.lock().unwrap_or_else(|e| e.into_inner());
        let mine = by_session.entry(s.id()).or_default();
        if mine.contains(topic) {
            return Ok(false);
        }
        if mine.len() >= limit {
            return Err(limit);
        }
        let entry = {
            let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
            match topics.get_key_value(topic) {
                Some((name, t)) => (name.clone(), t.clone()),
                None => {
                    let name: Arc<str> = Arc::from(topic);
                    let t = Arc::new(Topic { members: RwLock::default(), counts: metrics.topic(topic) });
                    topics.insert(name.clone(), t.clone());
                    (name, t)
                }
            }
        };
        entry.1.members.write().unwrap_or_else(|e| e.into_inner()).insert(s);
        mine.insert(entry.0);
        Ok(true)
    }

    /// Removes `id` from `topic`; false if it was not subscribed.
    pub(crate) fn unsubscribe(&self, id: u64, topic: &str) -> bool {
        let mut by_session = self.by_session.lock().unwrap_or_else(|e| e.into_inner());
        let Some(mine) = by_session.get_mut(&id) else { return false };
        if !mine.remove(topic) {
            return false;
        }
        if mine.is_empty() {
            by_session.remove(&id);
        }
        self.leave(id, topic);
        true
    }

    /// Ends every subscription of session `id` (it closed).
    pub(crate) fn remove_session(&self, id: u64) {
        let mut by_session = self.by_session.lock().unwrap_or_else(|e| e.into_inner());
        for topic in by_session.remove(&id).unwrap_or_default() {
            self.leave(id, &topic);
        }
    }

    /// Takes `id` out of `topic`'s members, and the topic out of the map once nobody is left
    /// (the caller holds `by_session`, so nobody joins meanwhile).
    fn leave(&self, id: u64, topic: &str) {
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = topics.get(topic) {
            let mut members = t.members.write().unwrap_or_else(|e| e.into_inner());
            members.remove(id);
            if members.list.is_empty() {
                drop(members);
                topics.remove(topic);
            }
        }
    }

    /// Whether session `id` is subscribed to `topic`.
    pub(crate) fn is_subscribed(&self, id: u64, topic: &str) -> bool {
        let by_session = self.by_session.lock().unwrap_or_else(|e| e.into_inner());
        by_session.get(&id).is_some_and(|t| t.contains(topic))
    }

    /// Session `id`'s topics, sorted.
    pub(crate) fn subscriptions(&self, id: u64) -> Vec<String> {
        let by_session = self.by_session.lock().unwrap_or_else(|e| e.into_inner());
        by_session.get(&id).map(|t| t.iter().map(|n| n.to_string()).collect()).unwrap_or_default()
    }

    /// The topic, if it has subscribers.
    pub(crate) fn topic(&self, topic: &str) -> Option<Arc<Topic>> {
        self.topics.read().unwrap_or_else(|e| e.into_inner()).get(topic).cloned()
    }

    /// How many sessions are subscribed to `topic`.
    pub(crate) fn subscriber_count(&self, topic: &str) -> usize {
        self.topic(topic).map_or(0, |t| t.members().list.len())
    }

    /// Every topic with at least one subscriber, sorted.
    pub(crate) fn topics(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.topics.read().unwrap_or_else(|e| e.into_inner()).keys().map(|n| n.to_string()).collect();
        names.sort_unstable();
        names
    }
}
