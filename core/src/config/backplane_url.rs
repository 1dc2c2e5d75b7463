//! The backplane's URL: which broker, and the options in its query string, checked once here.

use std::time::Duration;

use crate::error::{Error, Result};

/// Which broker carries publishes between nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerKind {
    /// Redis pub/sub (`redis://`), with a Redis Streams history when `history` is set.
    Redis,
    /// NATS core subjects (`nats://`).
    Nats,
}

/// A parsed backplane URL: `redis://host:port/db?history=1000&history_ttl=300`, `nats://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackplaneUrl {
    /// The broker.
    pub kind: BrokerKind,
    /// What the broker's client connects to (the URL without this crate's query options).
    pub connect: String,
    /// Prefix of every channel, subject and key the backplane uses. Default "wss", so several
    /// applications can share one broker by choosing their own.
    pub prefix: String,
    /// Messages kept per topic in a Redis stream (approximate `MAXLEN ~`); 0 (the default) keeps no
    /// history: no positions, no recovery, messages lost in a broker outage are only counted.
    pub history: u64,
    /// How long history entries are kept (`MINID ~` trimming, and the stream's expiry when a topic
    /// goes quiet). Default 300 s.
    pub history_ttl: Duration,
    /// How long a topic's epoch and offset counter outlive its last publish; after that a new epoch
    /// starts, and positions of the old one cannot be recovered. Default 24 h.
    pub history_meta_ttl: Duration,
    /// Publishes queued toward the broker; beyond it a publish is delivered locally only and counted
    /// as dropped. Default 10 000.
    pub queue: usize,
    /// Prefix each message a client receives on a topic with history by its position,
    /// `"<offset>:<epoch>:"`, so the client can resume from it. Default false.
    pub positions: bool,
}

/// Largest `history` accepted: a recovery reads at most this many entries in one reply.
pub const MAX_HISTORY: u64 = 1_000_000;

impl BackplaneUrl {
    /// Parses and checks `url`; the error names the first part that is wrong.
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |msg: String| Error::invalid(format!("backplane: {msg}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad(format!("{url:?} is not a URL")))?;
        let kind = match scheme {
            "redis" => BrokerKind::Redis,
            "nats" => BrokerKind::Nats,
            other => return Err(bad(format!("unsupported scheme {other:?} (expected redis:// or nats://)"))),
        };
        let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
        let host = base.split('/').next().unwrap_or_default();
        let host = host.rsplit('@').next().unwrap_or_default();
        if host.is_empty() {
            return Err(bad(format!("{url:?} names no host")));
        }
        let mut parsed = BackplaneUrl {
            kind,
            connect: format!("{scheme}://{base}"),
            prefix: "wss".into(),
            history: 0,
            history_ttl: Duration::from_secs(300),
            history_meta_ttl: Duration::from_secs(86_400),
            queue: 10_000,
            positions: false,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let number = || -> Result<u64> {
                value.parse::<u64>().map_err(|_| bad(format!("{key} must be a whole number (got {value:?})")))
            };
            match key {
                "prefix" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
                    parsed.prefix = value.into()
                }
                "prefix" => return Err(bad(format!("prefix must be letters, digits or _ (got {value:?})"))),
                "history" => parsed.history = number()?,
                "history_ttl" => parsed.history_ttl = Duration::from_secs(number()?),
                "history_meta_ttl" => parsed.history_meta_ttl = Duration::from_secs(number()?),
                "queue" => parsed.queue = number()? as usize,
                "positions" => {
                    parsed.positions = match value {
                        "1" | "true" => true,
                        "0" | "false" => false,
                        _ => return Err(bad(format!("positions must be true or false (got {value:?})"))),
                    }
                }
                other => return Err(bad(format!("unknown option {other:?}"))),
            }
        }
        if parsed.history > 0 && parsed.kind != BrokerKind::Redis {
            return Err(bad("history needs redis:// (NATS core keeps no history)".into()));
        }
        if parsed.positions && parsed.history == 0 {
            return Err(bad("positions needs history (positions exist only with a history)".into()));
        }
        if parsed.history > MAX_HISTORY {
            return Err(bad(format!("history must be at most {MAX_HISTORY} (got {})", parsed.history)));
        }
        crate::error::at_least("backplane history_ttl", parsed.history_ttl.as_secs(), 1)?;
        if parsed.history_meta_ttl < parsed.history_ttl {
            return Err(bad("history_meta_ttl must be at least history_ttl".into()));
        }
        crate::error::at_least("backplane queue", parsed.queue as u64, 1)?;
        // What the broker's client would refuse when connecting is refused here, by name.
        let refused = match parsed.kind {
            BrokerKind::Redis => redis::Client::open(parsed.connect.as_str()).err().map(|e| e.to_string()),
            BrokerKind::Nats => parsed.connect.parse::<async_nats::ServerAddr>().err().map(|e| e.to_string()),
        };
        if let Some(e) = refused {
            return Err(bad(format!("{:?} is not a valid address: {e}", parsed.connect)));
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_parsed_and_bad_ones_refused_by_name() {
        let u =
            BackplaneUrl::parse("redis://127.0.0.1:6379/0?history=50&history_ttl=9&prefix=app&positions=1").unwrap();
        assert_eq!((u.kind, u.history, u.history_ttl.as_secs()), (BrokerKind::Redis, 50, 9));
        assert_eq!((u.connect.as_str(), u.prefix.as_str(), u.positions), ("redis://127.0.0.1:6379/0", "app", true));
        assert_eq!(BackplaneUrl::parse("nats://localhost:4222").unwrap().kind, BrokerKind::Nats);
        for (url, named) in [
            ("kafka://x", "scheme"),
            ("redis://", "host"),
            ("localhost:6379", "URL"),
            ("redis://h?history=x", "history"),
            ("redis://h?colour=red", "colour"),
            ("nats://h?history=5", "history"),
            ("redis://h?positions=1", "positions"),
            ("redis://h?queue=0", "queue"),
            ("redis://h?prefix=a.b", "prefix"),
            ("redis://h?history=5&history_ttl=0", "history_ttl"),
            ("redis://h?history=2000000", "history"),
            ("redis://h:port", "redis://h:port"),
            ("nats://h:99999", "nats://h:99999"),
        ] {
            let err = BackplaneUrl::parse(url).expect_err(url).to_string();
            assert!(err.contains(named), "{url}: {err}");
        }
    }
}
