//! Server-wide figures: counters updated where things happen (never per message: traffic is summed
//! from the sessions' own counters when read), one snapshot ([`ServerStats`]) and its Prometheus text.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::protocol::{Initiator, ViolationKind};

/// Per-session traffic counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Complete messages received.
    pub messages_in: u64,
    /// Payload bytes of those messages.
    pub bytes_in: u64,
    /// Frames sent by the user (data and control).
    pub messages_out: u64,
    /// Payload bytes of those frames.
    pub bytes_out: u64,
}

/// The `Content-Type` of [`ServerStats::to_prometheus`]'s text (OpenMetrics, which Prometheus scrapes).
pub const PROMETHEUS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One consistent reading of a server's figures since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Sessions open now.
    pub connections_open: u64,
    /// Sessions opened since the server started.
    pub connections_total: u64,
    /// Upgrades answered with 101.
    pub handshakes_accepted: u64,
    /// Requests refused instead of upgraded (status ≥ 400), by status.
    pub handshakes_refused: BTreeMap<u16, u64>,
    /// TLS handshakes that failed or timed out.
    pub tls_failures: u64,
    /// Sessions ended, by close code and who initiated the close (`Initiator::as_str`).
    pub closes: BTreeMap<(u16, &'static str), u64>,
    /// Sessions failed for breaking the protocol (or not answering a Ping), by `ViolationKind::as_str`.
    pub violations: BTreeMap<&'static str, u64>,
    /// Messages and payload bytes received and sent, over all sessions (open and ended).
    pub traffic: Stats,
    /// Frames `try_send` dropped because the queue was over its hard limit.
    pub backpressure_drops: u64,
    /// `send` calls that had to wait for the queue to fall under its high-water mark.
    pub backpressure_waits: u64,
    /// Pings sent (by the pinger or `ping`).
    pub pings_sent: u64,
    /// Sessions closed with 1011 because a Pong did not arrive in time.
    pub ping_timeouts: u64,
    /// The backplane's figures (all zero in-process).
    pub backplane: BackplaneStats,
    /// Topic publishes (server and session ones).
    pub publishes: u64,
    /// Messages those publishes queued to subscribers.
    pub publish_deliveries: u64,
    /// Deliveries skipped: the subscriber was over its write limit (policy `Drop`) or mid-fragment.
    pub publish_drops: u64,
    /// Subscribers closed because they were over their write limit (policy `Close`).
    pub slow_subscriber_closes: u64,
    /// Compressions publishes made: one per shared deflate setting, plus one per subscriber that
    /// keeps its compression context.
    pub publish_compressions: u64,
    /// The same figures per topic, for the first [`MAX_TOPIC_LABELS`] topics subscribed to (the
    /// bound keeps the label set of the Prometheus text bounded); later topics count in the totals only.
    pub topics: BTreeMap<String, TopicStats>,
}

/// What the backplane did since the server started (see [`crate::backplane`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackplaneStats {
    /// "redis" or "nats"; none for the in-process backplane.
    pub kind: Option<&'static str>,
    /// Whether the broker connection is up now.
    pub connected: bool,
    /// Topics this node listens to on the broker (those with local subscribers).
    pub topics: u64,
    /// Publishes the broker took.
    pub published: u64,
    /// Messages from the broker delivered to this node's subscribers.
    pub received: u64,
    /// Publishes not sent on because the queue toward the broker was full (delivered locally only).
    pub dropped: u64,
    /// Publishes the broker did not take (unreachable): other nodes never see them.
    pub failed: u64,
    /// Messages from other nodes this node never received (pub/sub gaps, trimmed history).
    pub lost: u64,
    /// Messages filled in from the history (after a gap or a reconnect, or for a resuming session).
    pub recovered: u64,
    /// Broker connections re-established after a loss.
    pub reconnects: u64,
}

/// Per-topic publish figures (see [`ServerStats::topics`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicStats {
    /// Publishes to the topic.
    pub publishes: u64,
    /// Messages queued to its subscribers.
    pub deliveries: u64,
    /// Deliveries skipped (slow subscriber dropped, or mid-fragment).
    pub drops: u64,
    /// Subscribers closed for being slow.
    pub closes: u64,
}

/// How many topics get their own label in [`ServerStats::topics`].
pub const MAX_TOPIC_LABELS: usize = 100;

/// One topic's counters (or the totals'), bumped once per publish, never per delivery.
#[derive(Default)]
pub(crate) struct TopicCounts {
    publishes: AtomicU64,
    deliveries: AtomicU64,
    drops: AtomicU64,
    closes: AtomicU64,
}

impl TopicCounts {
    /// Counts one publish and what it did.
    pub(crate) fn publish(&self, delivered: usize, dropped: usize, closed: usize) {
        self.publishes.fetch_add(1, Ordering::Relaxed);
        for (c, n) in [(&self.deliveries, delivered), (&self.drops, dropped), (&self.closes, closed)] {
            if n > 0 {
                c.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }

    fn read(&self) -> TopicStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TopicStats {
            publishes: load(&self.publishes),
            deliveries: load(&self.deliveries),
            drops: load(&self.drops),
            closes: load(&self.closes),
        }
    }
}

/// A server's publish counters: totals, and per topic for the first [`MAX_TOPIC_LABELS`] topics.
#[derive(Default)]
pub(crate) struct TopicMetrics {
    pub(crate) totals: TopicCounts,
    pub(crate) compressions: AtomicU64,
    labelled: Mutex<BTreeMap<String, std::sync::Arc<TopicCounts>>>,
}

impl TopicMetrics {
    /// The counters of `topic`: its own while the label bound allows, `None` past it.
    pub(crate) fn topic(&self, topic: &str) -> Option<std::sync::Arc<TopicCounts>> {
        let mut map = self.labelled.lock().unwrap();
        if let Some(c) = map.get(topic) {
            return Some(c.clone());
        }
        if map.len() >= MAX_TOPIC_LABELS {
            return None;
        }
        Some(map.entry(topic.to_owned()).or_default().clone())
    }

    /// Writes the publish figures into `stats`.
    pub(crate) fn fill(&self, stats: &mut ServerStats) {
        let t = self.totals.read();
        stats.publishes = t.publishes;
        stats.publish_deliveries = t.deliveries;
        stats.publish_drops = t.drops;
        stats.slow_subscriber_closes = t.closes;
        stats.publish_compressions = self.compressions.load(Ordering::Relaxed);
        stats.topics = self.labelled.lock().unwrap().iter().map(|(k, v)| (k.clone(), v.read())).collect();
    }
}

/// The counters a server updates as things happen.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) connections_total: AtomicU64,
    pub(crate) handshakes_accepted: AtomicU64,
    pub(crate) tls_failures: AtomicU64,
    pub(crate) backpressure_drops: AtomicU64,
    pub(crate) backpressure_waits: AtomicU64,
    pub(crate) pings_sent: AtomicU64,
    pub(crate) ping_timeouts: AtomicU64,
    refused: Mutex<BTreeMap<u16, u64>>,
    violations: Mutex<BTreeMap<&'static str, u64>>,
    /// Closes and the traffic of ended sessions; updated under the server's session-registry lock,
    /// so a snapshot taken under it counts every session exactly once.
    pub(crate) ended: Mutex<Ended>,
}

/// What ended sessions leave behind.
#[derive(Default, Clone)]
pub(crate) struct Ended {
    pub(crate) closes: BTreeMap<(u16, &'static str), u64>,
    pub(crate) traffic: Stats,
}

/// Adds one to `counter` (rare events only).
pub(crate) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// Counts a request answered with `status` instead of an upgrade.
    pub(crate) fn refused(&self, status: u16) {
        *self.refused.lock().unwrap().entry(status).or_default() += 1;
    }

    /// Counts a session failed with `kind`.
    pub(crate) fn violation(&self, kind: ViolationKind) {
        *self.violations.lock().unwrap().entry(kind.as_str()).or_default() += 1;
    }

    /// The snapshot, given the ended sessions' part and the open sessions' traffic (read together).
    pub(crate) fn snapshot(&self, ended: Ended, open: &[Stats]) -> ServerStats {
        let mut traffic = ended.traffic;
        for s in open {
            add_traffic(&mut traffic, s);
        }
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ServerStats {
            connections_open: open.len() as u64,
            connections_total: load(&self.connections_total),
            handshakes_accepted: load(&self.handshakes_accepted),
            handshakes_refused: self.refused.lock().unwrap().clone(),
            tls_failures: load(&self.tls_failures),
            closes: ended.closes,
            violations: self.violations.lock().unwrap().clone(),
            traffic,
            backpressure_drops: load(&self.backpressure_drops),
            backpressure_waits: load(&self.backpressure_waits),
            pings_sent: load(&self.pings_sent),
            ping_timeouts: load(&self.ping_timeouts),
            ..ServerStats::default()
        }
    }
}

impl Ended {
    /// Records a session that ended with `code` closed by `initiator` after exchanging `traffic`.
    pub(crate) fn record(&mut self, code: u16, initiator: Initiator, traffic: &Stats) {
        *self.closes.entry((code, initiator.as_str())).or_default() += 1;
        add_traffic(&mut self.traffic, traffic);
    }
}

fn add_traffic(total: &mut Stats, s: &Stats) {
    total.messages_in += s.messages_in;
    total.bytes_in += s.bytes_in;
    total.messages_out += s.messages_out;
    total.bytes_out += s.bytes_out;
}

type Labels = Vec<(&'static str, String)>;

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn labelled<K>(registry: &mut Registry, name: &str, help: &str, values: impl IntoIterator<Item = (K, u64)>)
where
    K: Into<Labels>,
{
    let family = Family::<Labels, Counter>::default();
    for (labels, n) in values {
        family.get_or_create(&labels.into()).inc_by(n);
    }
    registry.register(name, help, family);
}

impl ServerStats {
    fn register_topics(&self, registry: &mut Registry) {
        counter(registry, "publishes", "Topic publishes", self.publishes);
        counter(registry, "publish_deliveries", "Messages publishes queued to subscribers", self.publish_deliveries);
        counter(registry, "publish_drops", "Publish deliveries skipped for slow subscribers", self.publish_drops);
        counter(registry, "slow_subscriber_closes", "Subscribers closed for being slow", self.slow_subscriber_closes);
        counter(registry, "publish_compressions", "Compressions made by publishes", self.publish_compressions);
        let per = |f: fn(&TopicStats) -> u64| {
            self.topics.iter().map(move |(t, s)| (vec![("topic", t.clone())], f(s))).collect::<Vec<_>>()
        };
        labelled(registry, "topic_publishes", "Publishes, by topic (bounded set)", per(|s| s.publishes));
        labelled(registry, "topic_deliveries", "Publish deliveries, by topic (bounded set)", per(|s| s.deliveries));
        labelled(registry, "topic_drops", "Publish deliveries skipped, by topic (bounded set)", per(|s| s.drops));
    }

    /// The figures in the Prometheus (OpenMetrics) text format, metric names prefixed `wssession_`.
    pub fn to_prometheus(&self) -> String {
        let mut registry = Registry::with_prefix("wssession");
        let open = Gauge::<i64>::default();
        open.set(self.connections_open as i64);
        registry.register("connections_open", "Sessions open now", open);
        counter(&mut registry, "connections", "Sessions opened", self.connections_total);
        counter(&mut registry, "handshakes_accepted", "Upgrades answered with 101", self.handshakes_accepted);
        let refused = self.handshakes_refused.iter().map(|(s, n)| (vec![("status", s.to_string())], *n));
        labelled(&mut registry, "handshakes_refused", "Requests refused instead of upgraded, by status", refused);
        counter(&mut registry, "tls_failures", "TLS handshakes that failed or timed out", self.tls_failures);
        let closes = self
            .closes
            .iter()
            .map(|((code, by), n)| (vec![("code", code.to_string()), ("initiator", (*by).to_owned())], *n));
        labelled(&mut registry, "closes", "Sessions ended, by close code and initiator", closes);
        let violations = self.violations.iter().map(|(kind, n)| (vec![("kind", (*kind).to_owned())], *n));
        labelled(&mut registry, "violations", "Sessions failed for breaking the protocol, by kind", violations);
        let t = &self.traffic;
        counter(&mut registry, "messages_received", "Messages received", t.messages_in);
        counter(&mut registry, "received_bytes", "Payload bytes received", t.bytes_in);
        counter(&mut registry, "messages_sent", "Messages (and control frames) sent", t.messages_out);
        counter(&mut registry, "sent_bytes", "Payload bytes sent", t.bytes_out);
        counter(
            &mut registry,
            "backpressure_drops",
            "Frames try_send dropped over the hard limit",
            self.backpressure_drops,
        );
        counter(
            &mut registry,
            "backpressure_waits",
            "Sends that waited for the queue to drain",
            self.backpressure_waits,
        );
        counter(&mut registry, "pings_sent", "Pings sent", self.pings_sent);
        counter(&mut registry, "ping_timeouts", "Sessions closed because a Pong was late", self.ping_timeouts);
        self.backplane.register(&mut registry);
        self.register_topics(&mut registry);
        let mut text = String::new();
        encode(&mut text, &registry).expect("writing to a String cannot fail");
        text
    }
}

impl BackplaneStats {
    /// Adds the `backplane_*` metrics (only when a broker is configured).
    fn register(&self, registry: &mut Registry) {
        if self.kind.is_none() {
            return;
        }
        let up = Gauge::<i64>::default();
        up.set(self.connected.into());
        registry.register("backplane_connected", "Whether the backplane's broker connection is up", up);
        let topics = Gauge::<i64>::default();
        topics.set(self.topics as i64);
        registry.register("backplane_topics", "Topics this node listens to on the broker", topics);
        for (name, help, value) in [
            ("backplane_published", "Publishes the broker took", self.published),
            ("backplane_received", "Messages from the broker delivered here", self.received),
            ("backplane_dropped", "Publishes not sent on: the queue toward the broker was full", self.dropped),
            ("backplane_failed", "Publishes the broker did not take", self.failed),
            ("backplane_lost", "Messages from other nodes never received here", self.lost),
            ("backplane_recovered", "Messages filled in from the history", self.recovered),
            ("backplane_reconnects", "Broker connections re-established", self.reconnects),
        ] {
            counter(registry, name, help, value);
        }
    }
}
