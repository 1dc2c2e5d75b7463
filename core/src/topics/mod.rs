//! Topics (publish/subscribe) within one server, uWebSockets' semantics.
//!
//! A session subscribes to any number of topics ([`Session::subscribe`]); its subscriptions end
//! when it closes. [`Server::publish`](crate::Server::publish) reaches every subscriber of a topic,
//! [`Session::publish`] every subscriber but that session.
//!
//! - `registry`: who is subscribed to what (and the subscriber counts);
//! - `fanout`: one publish delivered to the local subscribers;
//! - `recovery`: publishes that report their position, subscriptions that resume from one;
//! - `broadcast`: one message to a given list of sessions, framed the same way (no topic).
//!
//! **Framing and compression.** A publish is framed once; subscribers without masking get that
//! same frame (copied into their write buffer when small, shared by reference when large). With
//! permessage-deflate, a session that negotiated `server_no_context_takeover` compresses every
//! message from an empty history, so all sessions with the same setting (level, window, memory
//! level) would produce the same bytes: the message is compressed once per such setting and that
//! frame is shared. A session that keeps its compression context (the RFC 7692 default) needs the
//! message in *its* LZ77 history, so it compresses the message itself: one compression per such
//! subscriber. Publishers that fan out to many deflate clients should configure
//! `DeflateConfig::server_no_context_takeover`, or publish with `compress: Some(false)`
//! (sent uncompressed, RSV1 clear, which every client accepts). `BENCHMARKS.md` measures both.
//!
//! **Writes.** A publish in a burst only queues: subscribers whose queue was idle are written by
//! one task per burst of publishes (the flusher in `fanout`), so the publishes a reader decoded from
//! one read, or that a publishing thread made meanwhile, leave in one write per subscriber
//! (uWebSockets drains its topic tree once per event-loop iteration for the same reason). A publish
//! with nothing to batch with (the last message of what a reader read, or, outside a reader's
//! callback, one after a quiet millisecond, with no flush pending) writes each idle subscriber in
//! the pass that queues it, straight from the shared frame: no second pass, no task.
//!
//! **Slow subscribers.** A publish never waits: a subscriber whose outgoing queue is over its
//! high-water mark gets the server's [`SlowSubscriber`] policy (the message dropped for it and
//! counted, or the session closed with 1008/1013); a subscriber in the middle of sending its own
//! fragmented message cannot take a data frame, so the message is dropped for it and counted.
//!
//! **The backplane seam.** Every publish, from the server or from a session, goes through one
//! function, `Hub::publish`: it validates, then calls `Hub::fanout_local`. A backplane (Redis,
//! NATS) intercepts there, forwarding the message to other nodes; messages arriving from other
//! nodes are handed to `Hub::fanout_local`.
//!
//! **Host batches.** A host thread that publishes from its own loop (Node's JS thread, a Python
//! asyncio loop) opens a [`HostBatch`] around one batch of its events: the publishes made on that
//! thread meanwhile are flushed once, on that thread, when the batch ends (`host_batch`).

mod broadcast;
mod fanout;
mod host_batch;
mod recovery;
mod registry;

pub use crate::config::{POLICY_VIOLATION, SlowSubscriber, TRY_AGAIN_LATER};
pub use broadcast::{Broadcast, broadcast};
pub use host_batch::{HostBatch, begin_host_batch, end_host_batch};

use crate::error::{Error, Result};
use crate::metrics::TopicMetrics;
use crate::session::{Session, State};
use fanout::{Flusher, SharedDeflaters};
use registry::Registry;

/// Longest topic name, in bytes.
pub const MAX_TOPIC_LEN: usize = 1024;

/// Most topics one session may be subscribed to at once.
pub const MAX_SUBSCRIPTIONS_PER_SESSION: usize = 10_000;

/// What one publish did with the local subscribers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Published {
    /// Subscribers the message was queued to.
    pub delivered: usize,
    /// Subscribers it was skipped for: over their write limit under [`SlowSubscriber::Drop`], or
    /// in the middle of sending a fragmented message.
    pub dropped: usize,
    /// Subscribers closed by [`SlowSubscriber::Close`] (they did not get the message).
    pub closed: usize,
}

/// Whether a publish made on this thread hands its subscribers' writes to the kernel in batches
/// (io_uring: Linux 6.0 or later, not refused by a sandbox, not turned off with
/// `WSSESSION_IO_URING=0`); otherwise each subscriber is written alone, with the same results.
pub fn batched_sends() -> bool {
    #[cfg(unix)]
    {
        crate::session::send_ring::usable()
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Checks a topic name given as bytes (JS buffers, Python bytes): UTF-8 without NUL, 1 to
/// [`MAX_TOPIC_LEN`] bytes (the rule every surface applies).
pub fn topic_name(bytes: &[u8]) -> Result<&str> {
    let name = std::str::from_utf8(bytes).map_err(|_| Error::invalid("topic name is not valid UTF-8"))?;
    check_topic(name)?;
    Ok(name)
}

/// Checks a publish before anything is sent: the topic name (as [`topic_name`]) and, for a text
/// message, UTF-8 (the rule every surface applies, so an asynchronous publish can refuse at once).
pub fn check_publish(topic: &str, payload: &[u8], text: bool) -> Result<()> {
    check_topic(topic)?;
    if text && std::str::from_utf8(payload).is_err() {
        return Err(Error::invalid("a text message must be valid UTF-8"));
    }
    Ok(())
}

fn check_topic(topic: &str) -> Result<()> {
    if topic.is_empty() {
        return Err(Error::invalid("topic name must not be empty"));
    }
    if topic.contains('\0') {
        return Err(Error::invalid("topic name must not contain NUL"));
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err(Error::invalid(format!("topic name is {} bytes; the limit is {MAX_TOPIC_LEN}", topic.len())));
    }
    Ok(())
}

/// A server's topics: the registry, the kept compressors, the policy and the counters.
pub(crate) struct Hub {
    registry: Registry,
    deflaters: SharedDeflaters,
    flusher: std::sync::Arc<Flusher>,
    policy: SlowSubscriber,
    pub(crate) metrics: TopicMetrics,
    /// Carries publishes to and from other nodes (in-process by default).
    pub(crate) backplane: crate::backplane::Backplane,
}

impl Hub {
    /// An empty hub applying `policy` to slow subscribers.
    pub(crate) fn new(policy: SlowSubscriber) -> Self {
        Self {
            registry: Registry::default(),
            deflaters: SharedDeflaters::default(),
            flusher: Default::default(),
            policy,
            metrics: Default::default(),
            backplane: crate::backplane::Backplane::in_process(),
        }
    }

    /// The hub with `backplane` carrying its publishes to and from other nodes.
    pub(crate) fn with_backplane(mut self, backplane: crate::backplane::Backplane) -> Self {
        self.backplane = backplane;
        self
    }

    /// The one entry point of every publish (server or session; `exclude` is the publishing
    /// session): validates, then delivers locally. A backplane hooks in here.
    pub(crate) fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        text: bool,
        compress: Option<bool>,
        exclude: Option<u64>,
    ) -> Result<Published> {
        check_publish(topic, payload, text)?;
        match self.backplane.route(topic, payload, text, compress, exclude) {
            crate::backplane::Route::Local => Ok(self.fanout_local(topic, payload, text, compress, exclude)),
            // With a history, local subscribers get it from the broker, in position order.
            crate::backplane::Route::Broker => Ok(Published::default()),
        }
    }

    /// The topics with local subscribers: what the backplane listens to on the broker.
    pub(crate) fn topic_names(&self) -> std::collections::HashSet<String> {
        self.registry.topics().into_iter().collect()
    }

    /// How many sessions are subscribed to `topic`.
    pub(crate) fn subscriber_count(&self, topic: &str) -> usize {
        self.registry.subscriber_count(topic)
    }

    /// Every topic with at least one subscriber, sorted.
    pub(crate) fn topics(&self) -> Vec<String> {
        self.registry.topics()
    }

    /// Ends every subscription of session `id` (called when it closes).
    pub(crate) fn session_closed(&self, id: u64) {
        self.registry.remove_session(id);
        self.backplane.interest_changed();
    }
}

fn no_server() -> Error {
    Error::invalid("topics need a server: this session was created without one")
}

/// The topic hub of the registry a session reports to (the server that accepted it).
pub(crate) fn hub_of(registry: &dyn crate::session::Registry) -> Option<&Hub> {
    registry.topics().downcast_ref()
}

impl Session {
    /// The hub of the server that accepted this session, or why there is none.
    fn with_hub<T>(&self, f: impl FnOnce(&Hub) -> T) -> Result<T> {
        let registry = self.registry().ok_or_else(no_server)?;
        Ok(f(hub_of(&*registry).ok_or_else(no_server)?))
    }

    /// Subscribes to `topic`: true if newly subscribed, false if it already was. Fails on a
    /// closing or closed session, a bad name (empty, over [`MAX_TOPIC_LEN`] bytes), or past
    /// [`MAX_SUBSCRIPTIONS_PER_SESSION`].
    pub fn subscribe(&self, topic: &str) -> Result<bool> {
        check_topic(topic)?;
        if matches!(self.state(), State::Closing | State::Closed) {
            return Err(self.closed_error());
        }
        self.with_hub(|hub| {
            let added = hub
                .registry
                .subscribe(self, topic, MAX_SUBSCRIPTIONS_PER_SESSION, &hub.metrics)
                .map_err(|n| Error::invalid(format!("a session may subscribe to at most {n} topics")))?;
            // The session may have finished meanwhile, after its subscriptions were ended: end this
            // one too (it finishes before ending them, so one of the two sides sees the other).
            if self.state() == State::Closed {
                hub.registry.remove_session(self.id());
                return Err(self.closed_error());
            }
            if added {
                hub.backplane.interest_changed();
            }
            Ok(added)
        })?
    }

    /// Unsubscribes from `topic`; false if it was not subscribed.
    pub fn unsubscribe(&self, topic: &str) -> bool {
        self.with_hub(|h| {
            let removed = h.registry.unsubscribe(self.id(), topic);
            if removed {
                h.backplane.interest_changed();
            }
            removed
        })
        .unwrap_or(false)
    }

    /// Whether the session is subscribed to `topic`.
    pub fn is_subscribed(&self, topic: &str) -> bool {
        self.with_hub(|h| h.registry.is_subscribed(self.id(), topic)).unwrap_or(false)
    }

    /// The topics the session is subscribed to, sorted (empty once it closed).
    pub fn subscriptions(&self) -> Vec<String> {
        self.with_hub(|h| h.registry.subscriptions(self.id())).unwrap_or_default()
    }

    /// Publishes to every subscriber of `topic` but this session (uWS semantics), whether or not
    /// this session is subscribed. `compress` overrides the deflate threshold (`None`: each
    /// subscriber's threshold decides). Fails on a closed session, a bad topic name, or a text
    /// payload that is not UTF-8.
    pub fn publish(&self, topic: &str, payload: &[u8], text: bool, compress: Option<bool>) -> Result<Published> {
        if self.state() == State::Closed {
            return Err(self.closed_error());
        }
        self.with_hub(|h| h.publish(topic, payload, text, compress, Some(self.id())))?
    }
}
