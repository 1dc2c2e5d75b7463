//! The backplane: carries publishes between server processes (nodes) through a broker, so a publish
//! on any node reaches the subscribers on every node.
//!
//! - In-process (no URL, the default): nothing leaves the process.
//! - Redis pub/sub (`redis://`), NATS (`nats://`): the publishing node delivers to its own
//!   subscribers at once and sends the message on; other nodes deliver what they receive and skip
//!   their own echo. Each node listens on the broker only for topics it has local subscribers for.
//! - Redis with a history (`redis://…?history=N`): every publish is appended to a Redis stream and
//!   gets a [`Position`]; every node (the publisher too) delivers in position order from the broker,
//!   fills gaps from the stream, and a session can resume a topic from a position.
//!
//! Broker faults never block local delivery: the connections reconnect with backoff in the
//! background, queues toward the broker are bounded (a full queue drops and counts), and what is
//! lost is counted ([`BackplaneStats`]). With a history, a publish the broker cannot take is
//! delivered to this node's subscribers without a position (and counted as failed); one whose reply
//! a connection loss cut off may still have been placed, and then reaches the other nodes too.
//!
//! A node starts following a topic when its first local subscriber arrives: messages published
//! before that are not delivered to it (a session that wants them resumes from a position:
//! [`crate::Session::subscribe_from`]).

mod envelope;
mod gaps;
mod history;
mod nats;
mod position;
mod redis;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc, oneshot, watch};

pub use crate::config::{BackplaneUrl, BrokerKind, MAX_HISTORY};
pub use position::{Position, RecoveryFailure};

use crate::error::{Error, Result};
use crate::metrics::BackplaneStats;
use envelope::Envelope;
use gaps::Sequencer;

/// Where the backplane hands messages to this node's subscribers (the topic hub).
pub(crate) trait LocalDelivery: Send + Sync + 'static {
    /// Delivers `payload` to this node's subscribers of `topic`, except session `exclude`.
    fn deliver(&self, topic: &str, payload: Bytes, text: bool, compress: Option<bool>, exclude: Option<u64>);

    /// The topics with local subscribers now.
    fn topics(&self) -> HashSet<String>;
}

/// A message from a topic's history, handed to a recovering session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    /// Its position.
    pub position: Position,
    /// Whether it is text.
    pub text: bool,
    /// The message as subscribers receive it (with its position prefix when positions are on).
    pub payload: Bytes,
}

/// What a recovering session is given: the missed messages, in order, before it joins the live
/// stream; runs on the backplane's task, so nothing can slip in between.
pub(crate) type Resume = Box<dyn FnOnce(Vec<Recovered>) -> Result<()> + Send>;

/// A publish on its way to the broker.
pub(crate) struct Outbound {
    topic: String,
    envelope: Envelope,
    /// Who wants the position the history gives it.
    reply: Option<oneshot::Sender<Result<Position>>>,
}

/// A session asking to resume `topic` after `since`.
pub(crate) struct RecoverRequest {
    topic: String,
    since: Position,
    resume: Resume,
    reply: oneshot::Sender<Result<Option<Position>>>,
}

/// What `Backplane::route` decided for a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Deliver to the local subscribers now (the message went on to the broker, or could not).
    Local,
    /// The backplane delivers it locally once the broker has placed it in the history.
    Broker,
}

/// Counters the backplane updates as things happen.
#[derive(Default)]
pub(crate) struct Counters {
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    lost: AtomicU64,
    recovered: AtomicU64,
    reconnects: AtomicU64,
    connected: AtomicU64,
}

/// The connection that listens for messages (bit of `Counters::connected`).
const LISTENING: u64 = 1;
/// The connection that sends publishes.
const PUBLISHING: u64 = 2;

/// Adds `n` to `c`.
fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// State shared by the backplane handle and its broker tasks.
pub(crate) struct Shared {
    url: BackplaneUrl,
    /// This node's random id in every envelope it sends.
    node: u64,
    /// Wakes the broker task when the local subscriptions changed.
    interest_changed: Notify,
    sequencer: Mutex<Sequencer>,
    counters: Counters,
    local: Weak<dyn LocalDelivery>,
    /// Set when the server is dropped: the broker tasks end.
    stop: watch::Sender<bool>,
    /// Bumped each time the listening connection is lost: the broker went away, so the publishing
    /// connection (which notices only when it next writes) reconnects before its next publish.
    links_lost: watch::Sender<u64>,
}

impl Shared {
    fn deliver(&self, topic: &str, payload: Bytes, text: bool, compress: Option<bool>, exclude: Option<u64>) {
        if let Some(local) = self.local.upgrade() {
            local.deliver(topic, payload, text, compress, exclude);
        }
    }

    /// The payload subscribers get for a history message (prefixed when positions are on).
    fn shown(&self, position: &Position, payload: Bytes) -> Bytes {
        if self.url.positions { Bytes::from([position.prefix().as_bytes(), &payload].concat()) } else { payload }
    }

    /// Topics to listen to now: those with local subscribers.
    fn wanted(&self) -> HashSet<String> {
        self.local.upgrade().map(|l| l.topics()).unwrap_or_default()
    }

    fn stopped(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Marks the `link`'s connection (`LISTENING` or `PUBLISHING`) as up or down.
    fn set_connected(&self, link: u64, on: bool) {
        if on {
            self.counters.connected.fetch_or(link, Ordering::Relaxed);
        } else {
            self.counters.connected.fetch_and(!link, Ordering::Relaxed);
        }
    }
}

/// Completes when the server owning the backplane is gone.
async fn until_stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// A random id for this node: std's per-process random hash keys, mixed with the process id and the
/// time (fastrand's thread-local generator would allocate a handle for a host thread, which C and
/// Python hosts never free).
fn node_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish().max(1)
}

/// Reconnect delay after `failures` failed attempts: 50 ms doubling up to 5 s, with jitter.
pub(crate) fn backoff(failures: u32) -> Duration {
    let base = 50u64.saturating_mul(1 << failures.min(7)).min(5_000);
    Duration::from_millis(base / 2 + fastrand::u64(0..=base / 2))
}

/// A server's link to the other nodes: in-process (none) or a broker.
pub(crate) struct Backplane {
    shared: Option<Arc<Shared>>,
    outbound: Option<mpsc::Sender<Outbound>>,
    recover: Option<mpsc::Sender<RecoverRequest>>,
}

impl Drop for Backplane {
    fn drop(&mut self) {
        if let Some(s) = &self.shared {
            s.stop.send_replace(true);
        }
    }
}

impl Backplane {
    /// The in-process backplane: every publish stays in this process.
    pub(crate) fn in_process() -> Self {
        Backplane { shared: None, outbound: None, recover: None }
    }

    /// Connects to the broker `url` names, in the background (an unreachable broker is retried
    /// with backoff; local delivery works meanwhile). Needs the runtime, not an async context.
    pub(crate) fn connect(url: &BackplaneUrl, local: Weak<dyn LocalDelivery>) -> Self {
        let shared = Arc::new(Shared {
            url: url.clone(),
            node: node_id(),
            interest_changed: Notify::new(),
            sequencer: Mutex::new(Sequencer::default()),
            counters: Counters::default(),
            local,
            stop: watch::channel(false).0,
            links_lost: watch::channel(0).0,
        });
        let (out_tx, out_rx) = mpsc::channel(url.queue);
        let (rec_tx, rec_rx) = mpsc::channel(64);
        match url.kind {
            BrokerKind::Redis => redis::start(shared.clone(), out_rx, rec_rx),
            BrokerKind::Nats => nats::start(shared.clone(), out_rx, rec_rx),
        }
        Backplane { shared: Some(shared), outbound: Some(out_tx), recover: Some(rec_tx) }
    }

    /// Whether publishes are placed in a history (and carry positions).
    pub(crate) fn has_history(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| s.url.history > 0)
    }

    /// Says that local subscriptions changed (a topic may have gained its first subscriber or lost
    /// its last): the node listens on the broker only for topics with local subscribers.
    pub(crate) fn interest_changed(&self) {
        if let Some(s) = &self.shared {
            s.interest_changed.notify_one();
        }
    }

    fn envelope(
        s: &Shared,
        topic: &str,
        payload: Bytes,
        text: bool,
        compress: Option<bool>,
        exclude: Option<u64>,
    ) -> Envelope {
        let seq = s.sequencer.lock().unwrap().next(topic);
        Envelope { origin: s.node, seq, text, exclude, compress, payload }
    }

    /// Sends a publish on to the other nodes (never waits) and says who delivers it locally.
    pub(crate) fn route(
        &self,
        topic: &str,
        payload: &[u8],
        text: bool,
        compress: Option<bool>,
        exclude: Option<u64>,
    ) -> Route {
        let (Some(s), Some(tx)) = (&self.shared, &self.outbound) else { return Route::Local };
        let envelope = Self::envelope(s, topic, Bytes::copy_from_slice(payload), text, compress, exclude);
        match tx.try_send(Outbound { topic: topic.to_owned(), envelope, reply: None }) {
            Ok(()) if s.url.history > 0 => Route::Broker,
            Ok(()) => Route::Local,
            Err(_) => {
                add(&s.counters.dropped, 1);
                Route::Local
            }
        }
    }

    /// Publishes into the history and returns the message's position once the broker placed it
    /// (subscribers on every node, this one too, receive it from the broker).
    pub(crate) async fn publish_positioned(
        &self,
        topic: &str,
        payload: Bytes,
        text: bool,
        compress: Option<bool>,
        exclude: Option<u64>,
    ) -> Result<Position> {
        let (Some(s), Some(tx)) = (&self.shared, &self.outbound) else {
            return Err(Error::Recovery(RecoveryFailure::NoHistory));
        };
        if s.url.history == 0 {
            return Err(Error::Recovery(RecoveryFailure::NoHistory));
        }
        let envelope = Self::envelope(s, topic, payload, text, compress, exclude);
        let (reply, answer) = oneshot::channel();
        if tx.try_send(Outbound { topic: topic.to_owned(), envelope, reply: Some(reply) }).is_err() {
            add(&s.counters.dropped, 1);
            return Err(Error::Backplane("the queue toward the broker is full".into()));
        }
        answer.await.unwrap_or_else(|_| Err(Error::Backplane("the backplane stopped".into())))
    }

    /// Resumes `topic` after `since`: `resume` gets the missed messages in order (on the backplane's
    /// task, before any later message is delivered) and must subscribe the session there. Returns
    /// the topic's position after them (none if the topic has no history yet).
    pub(crate) async fn recover(&self, topic: &str, since: Position, resume: Resume) -> Result<Option<Position>> {
        if !self.has_history() {
            return Err(Error::Recovery(RecoveryFailure::NoHistory));
        }
        let tx = self.recover.as_ref().expect("a history has a broker task");
        let (reply, answer) = oneshot::channel();
        let request = RecoverRequest { topic: topic.to_owned(), since, resume, reply };
        tx.send(request).await.map_err(|_| Error::Backplane("the backplane stopped".into()))?;
        answer.await.unwrap_or_else(|_| Err(Error::Backplane("the backplane stopped".into())))
    }

    /// The backplane's figures since the server started.
    pub(crate) fn stats(&self) -> BackplaneStats {
        let Some(s) = &self.shared else { return BackplaneStats::default() };
        let c = &s.counters;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BackplaneStats {
            kind: Some(match s.url.kind {
                BrokerKind::Redis => "redis",
                BrokerKind::Nats => "nats",
            }),
            connected: load(&c.connected) == LISTENING | PUBLISHING,
            topics: s.wanted().len() as u64,
            published: load(&c.published),
            received: load(&c.received),
            dropped: load(&c.dropped),
            failed: load(&c.failed),
            lost: load(&c.lost),
            recovered: load(&c.recovered),
            reconnects: load(&c.reconnects),
        }
    }
}
