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
        let mut text = String::new();
        encode(&mut text, &registry).expect("writing to a String cannot fail");
        text
    }
}
