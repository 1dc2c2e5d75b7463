//! A session's settings, taken from its `SessionConfig`: the live-tunable ones (size limit, pinger,
//! timeouts), checked against the ranges `SessionConfig::validate` enforces, and the fixed ones.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::config::SessionConfig;
use crate::deflate::{DeflateParams, Inflater};
use crate::error::Result;
use crate::protocol::{Decoder, Decompress};

/// The outgoing queue's byte limits (from `SessionConfig`, normalised: low <= high <= hard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// `send` waits while the queue is over this.
    pub(super) high_water: usize,
    /// `drain` fires when the queue falls to this.
    pub(super) low_water: usize,
    /// `try_send` drops over this.
    pub(super) hard_limit: usize,
}

impl Limits {
    fn new(config: &SessionConfig) -> Self {
        let high_water = config.write_high_water;
        Self {
            high_water,
            low_water: config.write_low_water.min(high_water),
            hard_limit: config.write_hard_limit.max(high_water),
        }
    }
}

/// The settings of one session; the live ones change only through the checked setters.
pub(crate) struct Settings {
    max_frame_size: AtomicUsize,
    ping_interval_ms: AtomicU64,
    timeout_ms: AtomicU64,
    close_timeout_ms: AtomicU64,
    limits: Limits,
    /// `SessionConfig::auto_pong`, `skip_utf8_validation`, `deliver_fragments` and `max_fragments`
    /// (fixed for life).
    auto_pong: bool,
    skip_utf8_validation: bool,
    deliver_fragments: bool,
    max_fragments: usize,
}

impl Settings {
    /// The settings `config` asks for (taken as given, as `Session::new` always has).
    pub(super) fn new(config: &SessionConfig) -> Self {
        Self {
            max_frame_size: AtomicUsize::new(config.max_frame_size),
            ping_interval_ms: AtomicU64::new(config.ping_interval_ms),
            timeout_ms: AtomicU64::new(config.timeout_ms),
            close_timeout_ms: AtomicU64::new(config.close_timeout_ms),
            limits: Limits::new(config),
            auto_pong: config.auto_pong,
            skip_utf8_validation: config.skip_utf8_validation,
            deliver_fragments: config.deliver_fragments,
            max_fragments: config.max_fragments,
        }
    }

    /// Limit on frames, messages and inflated messages.
    pub(super) fn max_frame_size(&self) -> usize {
        self.max_frame_size.load(Ordering::Relaxed)
    }

    /// Changes the size limit (at least 1, as `SessionConfig::validate` requires).
    pub(super) fn set_max_frame_size(&self, bytes: usize) -> Result<()> {
        SessionConfig::check_max_frame_size(bytes)?;
        self.max_frame_size.store(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// Pinger period in ms (0 = off).
    pub(super) fn ping_interval_ms(&self) -> u64 {
        self.ping_interval_ms.load(Ordering::Relaxed)
    }

    /// Changes the pinger period (0 stops it).
    pub(super) fn set_ping_interval_ms(&self, ms: u64) {
        self.ping_interval_ms.store(ms, Ordering::Relaxed);
    }

    /// How long the pinger waits for a Pong, in ms.
    pub(super) fn timeout_ms(&self) -> u64 {
        self.timeout_ms.load(Ordering::Relaxed)
    }

    /// Changes the Pong timeout (at least 1 ms, as `SessionConfig::validate` requires).
    pub(super) fn set_timeout_ms(&self, ms: u64) -> Result<()> {
        SessionConfig::check_timeout_ms(ms)?;
        self.timeout_ms.store(ms, Ordering::Relaxed);
        Ok(())
    }

    /// Bound on the closing handshake, in ms.
    pub(super) fn close_timeout_ms(&self) -> u64 {
        self.close_timeout_ms.load(Ordering::Relaxed)
    }

    /// Bound on the closing handshake.
    pub(super) fn close_timeout(&self) -> Duration {
        Duration::from_millis(self.close_timeout_ms())
    }

    /// Changes the closing-handshake bound.
    pub(super) fn set_close_timeout_ms(&self, ms: u64) {
        self.close_timeout_ms.store(ms, Ordering::Relaxed);
    }

    /// The outgoing queue's limits.
    pub(super) fn limits(&self) -> Limits {
        self.limits
    }

    /// Whether every Ping is answered automatically.
    pub(super) fn auto_pong(&self) -> bool {
        self.auto_pong
    }

    /// A decoder for the peer's frames with these settings, inflating with `ext` when negotiated.
    pub(super) fn decoder(&self, ext: Option<&DeflateParams>) -> Decoder {
        let inflater = ext.map(|p| Box::new(Inflater::new(p)) as Box<dyn Decompress>);
        let mut decoder = Decoder::new(self.max_frame_size(), inflater);
        decoder.set_skip_utf8_validation(self.skip_utf8_validation);
        decoder.set_deliver_fragments(self.deliver_fragments);
        decoder.set_max_fragments(self.max_fragments);
        if let Some(p) = ext {
            decoder.set_max_inflated_size(p.max_inflated_size);
        }
        decoder
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn write_limits_are_normalised_so_low_is_at_most_high_and_hard_at_least_high() {
        let config = |high, low, hard| SessionConfig {
            write_high_water: high,
            write_low_water: low,
            write_hard_limit: hard,
            ..SessionConfig::default()
        };
        let limits = |c: &SessionConfig| Settings::new(c).limits();
        assert_eq!(limits(&config(100, 10, 200)), Limits { high_water: 100, low_water: 10, hard_limit: 200 });
        assert_eq!(limits(&config(100, 500, 200)), Limits { high_water: 100, low_water: 100, hard_limit: 200 });
        assert_eq!(limits(&config(100, 10, 50)), Limits { high_water: 100, low_water: 10, hard_limit: 100 });
    }

    #[test]
    fn live_settings_refuse_what_the_config_refuses_and_keep_their_value() {
        let settings = Settings::new(&SessionConfig::default());
        for (name, result) in
            [("max_frame_size", settings.set_max_frame_size(0)), ("timeout_ms", settings.set_timeout_ms(0))]
        {
            let err = result.expect_err(name);
            assert!(matches!(err, Error::OutOfRange(_)), "{err:?}");
            assert!(err.to_string().contains(&format!("{name} must be at least 1")), "{err}");
            let mut config = SessionConfig::default();
            match name {
                "max_frame_size" => config.max_frame_size = 0,
                _ => config.timeout_ms = 0,
            }
            assert_eq!(config.validate().expect_err(name).to_string(), err.to_string(), "the same check decides");
        }
        let defaults = SessionConfig::default();
        assert_eq!(settings.max_frame_size(), defaults.max_frame_size);
        assert_eq!(settings.timeout_ms(), defaults.timeout_ms);
    }

    #[test]
    fn live_settings_read_back_what_was_set() {
        let settings = Settings::new(&SessionConfig::default());
        settings.set_max_frame_size(1).unwrap();
        settings.set_timeout_ms(7).unwrap();
        settings.set_ping_interval_ms(0);
        settings.set_close_timeout_ms(250);
        assert_eq!(settings.max_frame_size(), 1);
        assert_eq!(settings.timeout_ms(), 7);
        assert_eq!(settings.ping_interval_ms(), 0);
        assert_eq!(settings.close_timeout(), Duration::from_millis(250));
    }
}
