//! Logs and figures for JS: core log records to an `onLog` callback (only at the levels asked for),
//! `stats()` as an object.

use std::collections::HashMap;
use std::sync::Arc;

use napi::Status;
use napi::bindgen_prelude::{Function, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use wssession_core::ServerStats;
use wssession_core::log::{Level, LogRecord, LogSink};

use crate::error::invalid;

/// One log record of the engine.
#[napi(object)]
pub struct LogEntry {
    /// "error", "warn", "info", "debug" or "trace".
    pub level: String,
    /// What happened ("handshake refused", "protocol violation", ...).
    pub message: String,
    /// The record's fields (server `addr`; session `id`, `peer`, `path`; `status`, `code`, `kind`...).
    pub fields: HashMap<String, String>,
}

type LogFn = ThreadsafeFunction<LogEntry, Unknown<'static>, LogEntry, Status, false, true>;

/// The core level named `name` (`logLevel` option).
pub fn level_in(name: &str) -> napi::Result<Level> {
    Ok(match name {
        "error" => Level::ERROR,
        "warn" => Level::WARN,
        "info" => Level::INFO,
        "debug" => Level::DEBUG,
        "trace" => Level::TRACE,
        other => return Err(invalid(format!("logLevel {other:?} is not one of error, warn, info, debug, trace"))),
    })
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// A sink queueing each record to `on_log` on the JS thread (a weak reference: logging never keeps Node alive).
pub fn js_sink(on_log: Function<'_, LogEntry, Unknown<'static>>) -> napi::Result<LogSink> {
    let tsfn: LogFn = on_log
        .build_threadsafe_function::<LogEntry>()
        .callee_handled::<false>()
        .weak::<true>()
        .build_callback(|ctx| Ok(ctx.value))
        .map_err(|e| invalid(format!("cannot create the log callback: {e}")))?;
    Ok(Arc::new(move |r: &LogRecord| {
        let entry = LogEntry {
            level: level_name(r.level).into(),
            message: r.message.clone(),
            fields: r.fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        };
        let _ = tsfn.call(entry, ThreadsafeFunctionCallMode::NonBlocking);
    }))
}

/// Sessions ended with one close code and initiator.
#[napi(object)]
pub struct CloseCount {
    /// The close code.
    pub code: u32,
    /// "local", "remote" or "abnormal".
    pub initiator: String,
    /// How many sessions.
    pub count: f64,
}

/// Server-wide figures since the server started.
#[napi(object)]
pub struct NativeServerStats {
    /// Sessions open now.
    pub connections_open: f64,
    /// Sessions opened.
    pub connections_total: f64,
    /// Upgrades answered with 101.
    pub handshakes_accepted: f64,
    /// Requests refused instead of upgraded, by status.
    pub handshakes_refused: HashMap<String, f64>,
    /// TLS handshakes that failed or timed out.
    pub tls_failures: f64,
    /// Sessions ended, by close code and initiator.
    pub closes: Vec<CloseCount>,
    /// Sessions failed for breaking the protocol, by kind.
    pub violations: HashMap<String, f64>,
    /// Messages received.
    pub messages_in: f64,
    /// Payload bytes received.
    pub bytes_in: f64,
    /// Messages (and control frames) sent.
    pub messages_out: f64,
    /// Payload bytes sent.
    pub bytes_out: f64,
    /// Frames dropped over the hard limit.
    pub backpressure_drops: f64,
    /// Sends that waited for the queue to drain.
    pub backpressure_waits: f64,
    /// Pings sent.
    pub pings_sent: f64,
    /// Sessions closed because a Pong was late.
    pub ping_timeouts: f64,
    /// Topic publishes (server and session ones).
    pub publishes: f64,
    /// Messages those publishes queued to subscribers.
    pub publish_deliveries: f64,
    /// Deliveries skipped: the subscriber was over its write limit (`slowSubscriber: 'drop'`) or mid-fragment.
    pub publish_drops: f64,
    /// Subscribers closed for being over their write limit (`slowSubscriber` a close code).
    pub slow_subscriber_closes: f64,
    /// Compressions publishes made (one per shared deflate setting, plus one per subscriber keeping its context).
    pub publish_compressions: f64,
    /// The publish figures per topic, for the first topics published to (a bounded set).
    pub topics: HashMap<String, TopicCounts>,
    /// What the backplane did (all zero for the in-process default).
    pub backplane: NativeBackplaneStats,
}

/// What the backplane did since the server started (BACKPLANE.md).
#[napi(object)]
pub struct NativeBackplaneStats {
    /// 'redis' or 'nats'; null for the in-process backplane.
    pub kind: Option<String>,
    /// Whether the broker connection is up now.
    pub connected: bool,
    /// Topics this server listens to on the broker (those with local subscribers).
    pub topics: f64,
    /// Publishes the broker took.
    pub published: f64,
    /// Messages from the broker delivered to this server's subscribers.
    pub received: f64,
    /// Publishes not sent on because the queue toward the broker was full (delivered locally only).
    pub dropped: f64,
    /// Publishes the broker did not take (unreachable): other servers never see them.
    pub failed: f64,
    /// Messages from other servers this one never received (pub/sub gaps, trimmed history).
    pub lost: f64,
    /// Messages filled in from the history (after a gap or a reconnect, or for a resuming session).
    pub recovered: f64,
    /// Broker connections re-established after a loss.
    pub reconnects: f64,
}

/// One topic's publish figures.
#[napi(object)]
pub struct TopicCounts {
    /// Publishes to the topic.
    pub publishes: f64,
    /// Messages queued to its subscribers.
    pub deliveries: f64,
    /// Deliveries skipped (slow subscriber dropped, or mid-fragment).
    pub drops: f64,
    /// Subscribers closed for being slow.
    pub closes: f64,
}

impl From<ServerStats> for NativeServerStats {
    fn from(s: ServerStats) -> Self {
        let n = |v: u64| v as f64;
        NativeServerStats {
            connections_open: n(s.connections_open),
            connections_total: n(s.connections_total),
            handshakes_accepted: n(s.handshakes_accepted),
            handshakes_refused: s.handshakes_refused.iter().map(|(k, v)| (k.to_string(), n(*v))).collect(),
            tls_failures: n(s.tls_failures),
            closes: s
                .closes
                .iter()
                .map(|((code, by), v)| CloseCount { code: *code as u32, initiator: (*by).into(), count: n(*v) })
                .collect(),
            violations: s.violations.iter().map(|(k, v)| ((*k).to_owned(), n(*v))).collect(),
            messages_in: n(s.traffic.messages_in),
            bytes_in: n(s.traffic.bytes_in),
            messages_out: n(s.traffic.messages_out),
            bytes_out: n(s.traffic.bytes_out),
            backpressure_drops: n(s.backpressure_drops),
            backpressure_waits: n(s.backpressure_waits),
            pings_sent: n(s.pings_sent),
            ping_timeouts: n(s.ping_timeouts),
            publishes: n(s.publishes),
            publish_deliveries: n(s.publish_deliveries),
            publish_drops: n(s.publish_drops),
            slow_subscriber_closes: n(s.slow_subscriber_closes),
            publish_compressions: n(s.publish_compressions),
            topics: s
                .topics
                .iter()
                .map(|(k, t)| {
                    let counts = TopicCounts {
                        publishes: n(t.publishes),
                        deliveries: n(t.deliveries),
                        drops: n(t.drops),
                        closes: n(t.closes),
                    };
                    (k.clone(), counts)
                })
                .collect(),
            backplane: NativeBackplaneStats {
                kind: s.backplane.kind.map(str::to_owned),
                connected: s.backplane.connected,
                topics: n(s.backplane.topics),
                published: n(s.backplane.published),
                received: n(s.backplane.received),
                dropped: n(s.backplane.dropped),
                failed: n(s.backplane.failed),
                lost: n(s.backplane.lost),
                recovered: n(s.backplane.recovered),
                reconnects: n(s.backplane.reconnects),
            },
        }
    }
}
