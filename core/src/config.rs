//! Session and server settings; every field documents its default and why.

use std::time::Duration;

use crate::deflate::DeflateConfig;

/// Per-session settings (the accept hook may override them per session; most are live-settable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Limit on a frame, a reassembled message and an inflated message. Default 16 MiB: large
    /// enough for real payloads, small enough that one peer cannot exhaust memory.
    pub max_frame_size: usize,
    /// Pinger period in ms; 0 disables it. Default 0 (Ktor's default: no pinger).
    pub ping_interval_ms: u64,
    /// How long the pinger waits for the matching Pong. Default 15 000 ms (Ktor's default).
    pub timeout_ms: u64,
    /// Bound on the closing handshake. Default 10 000 ms.
    pub close_timeout_ms: u64,
    /// Mask outgoing frames (Ktor parity; browsers reject it). Default false, as RFC 6455 requires.
    pub masking: bool,
    /// Complete messages buffered for the reader before the socket stops being read. Default 16.
    pub incoming_queue: usize,
    /// Bytes queued for writing above which `send` waits. Default 1 MiB.
    pub write_high_water: usize,
    /// `drain` fires when the queue falls below this. Default 256 KiB.
    pub write_low_water: usize,
    /// Bytes queued above which `try_send` drops. Default 2 MiB (2× high water).
    pub write_hard_limit: usize,
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
        }
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
    /// Limit on the request head in bytes. Default 16 KiB (431 beyond).
    pub max_head_bytes: usize,
    /// Limit on the number of request headers. Default 100 (431 beyond).
    pub max_headers: usize,
    /// The request head (and TLS handshake) must arrive within this. Default 10 s (408 beyond).
    pub handshake_timeout: Duration,
    /// Connections (handshaking or open) beyond this get 503. Default 100 000.
    pub max_connections: usize,
    /// Subprotocols this server speaks, in preference order; the first one the client also
    /// offers is chosen unless the accept hook decides. Default none.
    pub subprotocols: Vec<String>,
    /// permessage-deflate settings. Default disabled.
    pub deflate: DeflateConfig,
    /// Default settings of every session.
    pub session: SessionConfig,
    /// Listen backlog. Default 1024.
    pub backlog: u32,
    /// Bind the listener with `SO_REUSEPORT`, so several processes (or servers) share the port and
    /// the kernel spreads connections over them. Default false: a second bind then fails, as usual.
    pub reuse_port: bool,
    /// Answer a plain `GET` of this path (e.g. "/metrics") with [`crate::Server::metrics`] instead of
    /// a refused upgrade, on the same listener. Default none: anyone who can reach the listener could
    /// read the figures.
    pub metrics_path: Option<String>,
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
        }
    }
}
