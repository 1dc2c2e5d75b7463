//! Session and server settings; every field documents its default and why.

mod backplane_url;
mod slow_subscriber;

pub use backplane_url::{BackplaneUrl, BrokerKind, MAX_HISTORY};
pub use slow_subscriber::{POLICY_VIOLATION, SlowSubscriber, TRY_AGAIN_LATER};

use std::time::Duration;

use crate::deflate::DeflateConfig;
use crate::error::{Error, Result, at_least};
use crate::handshake::is_token;

/// Per-session settings (the accept hook may override them per session; most are live-settable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Limit on a frame, a reassembled message and an inflated message; at least 1. Default 16 MiB:
    /// large enough for real payloads, small enough that one peer cannot exhaust memory.
    pub max_frame_size: usize,
    /// Pinger period in ms; 0 disables it. Default 0 (Ktor's default: no pinger).
    pub ping_interval_ms: u64,
    /// How long the pinger waits for the matching Pong; at least 1. Default 15 000 ms (Ktor's default).
    pub timeout_ms: u64,
    /// Bound on the closing handshake. Default 10 000 ms.
    pub close_timeout_ms: u64,
    /// Mask outgoing frames (Ktor parity; browsers reject it). Default false, as RFC 6455 requires.
    pub masking: bool,
    /// Complete messages (frames, with `deliver_fragments`) buffered for the reader before the
    /// socket stops being read; at least 1.
    /// Default 16.
    pub incoming_queue: usize,
    /// Bytes queued for writing above which `send` waits. Default 1 MiB.
    pub write_high_water: usize,
    /// `drain` fires when the queue falls below this (at most `write_high_water`: a larger value
    /// acts as it). Default 256 KiB.
    pub write_low_water: usize,
    /// Bytes queued above which `try_send` drops (at least `write_high_water`: a smaller value acts
    /// as it). Default 2 MiB (2× high water).
    pub write_hard_limit: usize,
    /// Answer every Ping with a Pong. Default true (RFC 6455 §5.5.2); false leaves the answer to the
    /// application (ws's `autoPong: false`): the Ping still reaches the handler's `on_ping`.
    pub auto_pong: bool,
    /// Skip the UTF-8 check of Text messages and Close reasons (an invalid reason is decoded
    /// lossily). Default false; true only for trusted peers (ws's `skipUTF8Validation`).
    pub skip_utf8_validation: bool,
    /// Deliver each data frame as it arrives (`fin` marks a message's last one) instead of whole
    /// messages; limits, UTF-8 and inflation still apply per message. Default false (SPEC §3.1);
    /// true for websockets' `recv_streaming`, which yields one item per frame.
    pub deliver_fragments: bool,
    /// Frames one message may arrive in; 0 means no limit. Beyond it the session closes with 1008
    /// (ws's `maxFragments`). Default 0: size is bounded by `max_frame_size` already.
    pub max_fragments: usize,
    /// The host's event loop reads the socket (`Session::take_host_reader`, `HostReader::read_ready`)
    /// instead of the engine's reader task: messages reach the host's thread without an engine thread
    /// waking for each. Plain TCP only (refused with TLS). Default false.
    pub host_read: bool,
    /// A plain TCP session keeps no task while it is idle: the reactor's wake-up runs a short task
    /// that reads until the socket would block, and a writer task exists only while the socket holds
    /// back queued bytes (about 2 KiB instead of 4 KiB per idle connection, see bench/PROFILES.md).
    /// Default true; false gives every session a reader and a writer task for its whole life (the
    /// mode TLS sessions always use).
    pub no_idle_tasks: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_frame_size: 16 << 20,
            ping_interval_ms: 0,
            timeout_ms: 15_000,
            close_timeout_ms: 10_000,
            masking: false,
            incoming_queue: 16,
            write_high_water: 1 << 20,
            write_low_water: 256 << 10,
            write_hard_limit: 2 << 20,
            auto_pong: true,
            skip_utf8_validation: false,
            deliver_fragments: false,
            max_fragments: 0,
            host_read: false,
            no_idle_tasks: true,
        }
    }
}

impl SessionConfig {
    /// Checks every setting against the range its field documents; the error names the first one
    /// out of range. The one place these ranges are decided: every binding stores values through it.
    pub fn validate(&self) -> Result<()> {
        Self::check_max_frame_size(self.max_frame_size)?;
        Self::check_timeout_ms(self.timeout_ms)?;
        at_least("incoming_queue", self.incoming_queue as u64, 1)
    }

    /// The range of `max_frame_size`, also checked when a running session's limit changes.
    pub(crate) fn check_max_frame_size(bytes: usize) -> Result<()> {
        at_least("max_frame_size", bytes as u64, 1)
    }

    /// The range of `timeout_ms`, also checked when a running session's Pong timeout changes.
    pub(crate) fn check_timeout_ms(ms: u64) -> Result<()> {
        at_least("timeout_ms", ms, 1)
    }
}

/// PEM files for `wss://`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Certificate chain, PEM.
    pub cert_path: String,
    /// Private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_path: String,
}

/// Server-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Host or address to bind ("127.0.0.1", "::1", "0.0.0.0", "localhost"). Default 127.0.0.1:
    /// nothing is exposed beyond the machine unless asked.
    pub host: String,
    /// Port; 0 picks an ephemeral one, reported by `Server::local_addr`. Default 0.
    pub port: u16,
    /// Serve `wss://` with these PEM files. Default none.
    pub tls: Option<TlsConfig>,
    /// Limit on the request head in bytes; at least 256. Default 16 KiB (431 beyond).
    pub max_head_bytes: usize,
    /// Limit on the number of request headers; at least 1. Default 100 (431 beyond).
    pub max_headers: usize,
    /// The request head (and TLS handshake) must arrive within this (408 beyond), and the accept hook
    /// must decide within it too (503 beyond); at least 1 ms. Default 10 s.
    pub handshake_timeout: Duration,
    /// Connections (handshaking or open) beyond this get 503; at least 1. Default 100 000.
    pub max_connections: usize,
    /// Subprotocols this server speaks, in preference order; the first one the client also
    /// offers is chosen unless the accept hook decides; each an HTTP token. Default none.
    pub subprotocols: Vec<String>,
    /// permessage-deflate settings. Default disabled.
    pub deflate: DeflateConfig,
    /// Default settings of every session.
    pub session: SessionConfig,
    /// Listen backlog; at least 1. Default 1024.
    pub backlog: u32,
    /// Bind the listener with `SO_REUSEPORT`, so several processes (or servers) share the port and
    /// the kernel spreads connections over them. Default false: a second bind then fails, as usual.
    pub reuse_port: bool,
    /// Answer a plain `GET` of this path (e.g. "/metrics") with [`crate::Server::metrics`] instead of
    /// a refused upgrade, on the same listener. Default none: anyone who can reach the listener could
    /// read the figures.
    pub metrics_path: Option<String>,
    /// Share topics with other processes through a broker: `redis://host:port[/db][?options]` or
    /// `nats://host:port[?options]` (see [`crate::backplane::BackplaneUrl`] for the options, e.g.
    /// `history=1000` for Redis Streams recovery). Default none: topics stay in this process.
    pub backplane: Option<String>,
    /// What a topic publish does with a subscriber over its write high-water mark. Default
    /// [`SlowSubscriber::Drop`]: that subscriber misses the message (counted); the others never wait.
    pub slow_subscriber: SlowSubscriber,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 0,
            tls: None,
            max_head_bytes: 16 << 10,
            max_headers: 100,
            handshake_timeout: Duration::from_secs(10),
            max_connections: 100_000,
            subprotocols: vec![],
            deflate: DeflateConfig::default(),
            session: SessionConfig::default(),
            backlog: 1024,
            reuse_port: false,
            metrics_path: None,
            backplane: None,
            slow_subscriber: SlowSubscriber::Drop,
        }
    }
}

impl ServerConfig {
    /// Checks every setting (sessions' and permessage-deflate's included) against the range its field
    /// documents; the error names the first one out of range. [`crate::ServerBuilder::start`] calls it,
    /// and the bindings call it for each value they store, so all surfaces accept the same input.
    pub fn validate(&self) -> Result<()> {
        if self.host.is_empty() {
            return Err(Error::invalid("host must not be empty"));
        }
        at_least("max_head_bytes", self.max_head_bytes as u64, 256)?;
        at_least("max_headers", self.max_headers as u64, 1)?;
        at_least("handshake_timeout_ms", self.handshake_timeout.as_millis() as u64, 1)?;
        at_least("max_connections", self.max_connections as u64, 1)?;
        at_least("backlog", self.backlog.into(), 1)?;
        if let Some(p) = self.subprotocols.iter().find(|p| !is_token(p)) {
            return Err(Error::invalid(format!("subprotocol {p:?} is not an HTTP token")));
        }
        if let Some(url) = &self.backplane {
            BackplaneUrl::parse(url)?;
        }
        if self.session.host_read && self.tls.is_some() {
            return Err(Error::invalid(
                "host_read cannot be used with tls: the host's loop reads plain TCP sockets only",
            ));
        }
        self.deflate.validate()?;
        self.slow_subscriber.validate()?;
        self.session.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Puts one setting out of its range.
    type Breaks = Box<dyn Fn(&mut ServerConfig)>;

    #[test]
    fn defaults_are_valid_and_each_range_is_enforced_by_name() {
        ServerConfig::default().validate().unwrap();
        let cases: Vec<(&str, Breaks)> = vec![
            ("host", Box::new(|c| c.host.clear())),
            ("max_head_bytes", Box::new(|c| c.max_head_bytes = 255)),
            ("max_headers", Box::new(|c| c.max_headers = 0)),
            ("handshake_timeout_ms", Box::new(|c| c.handshake_timeout = Duration::ZERO)),
            ("max_connections", Box::new(|c| c.max_connections = 0)),
            ("backlog", Box::new(|c| c.backlog = 0)),
            ("subprotocol", Box::new(|c| c.subprotocols = vec!["chat, v2".into()])),
            ("level", Box::new(|c| c.deflate.level = 10)),
            ("mem_level", Box::new(|c| c.deflate.mem_level = 0)),
            ("server_max_window_bits", Box::new(|c| c.deflate.server_max_window_bits = 7)),
            ("client_max_window_bits", Box::new(|c| c.deflate.client_max_window_bits = 16)),
            ("max_frame_size", Box::new(|c| c.session.max_frame_size = 0)),
            ("timeout_ms", Box::new(|c| c.session.timeout_ms = 0)),
            ("incoming_queue", Box::new(|c| c.session.incoming_queue = 0)),
            ("backplane", Box::new(|c| c.backplane = Some("kafka://broker".into()))),
            ("history", Box::new(|c| c.backplane = Some("nats://127.0.0.1?history=10".into()))),
            ("slow_subscriber", Box::new(|c| c.slow_subscriber = SlowSubscriber::Close(1000))),
        ];
        for (name, break_it) in cases {
            let mut c = ServerConfig::default();
            break_it(&mut c);
            let err = c.validate().expect_err(name).to_string();
            assert!(err.contains(name), "{err}");
        }
        let mut edges = ServerConfig::default();
        edges.deflate.server_max_window_bits = 8;
        edges.deflate.client_max_window_bits = 8;
        edges.deflate.level = 0;
        edges.deflate.mem_level = 9;
        edges.max_head_bytes = 256;
        edges.validate().unwrap();
    }
}
