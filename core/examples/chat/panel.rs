//! The chat page's live panel: a sampler reads the server's stats once a second and keeps the
//! panel's figures as JSON; `GET /stats` hands out that text. The cost is one snapshot a second
//! whatever the number of pages polling, and a string clone per request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use wssession_core::{Server, ServerStats};

/// How often the sampler reads the server's stats (and the page polls them).
pub const PERIOD: Duration = Duration::from_secs(1);

/// What the panel shows: the chat's sessions and traffic since the previous sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Sessions open now.
    pub sessions: u64,
    /// Messages received since the server started.
    pub messages: u64,
    /// Messages received and sent per second over the last period.
    pub messages_per_s: f64,
    /// Payload bytes received and sent per second over the last period.
    pub bytes_per_s: f64,
    /// Sessions ended, by close code (both initiators summed).
    pub close_codes: BTreeMap<u16, u64>,
    /// The pinger's last round trip, averaged over the sessions that have one; None before the first Pong.
    pub latency_ms: Option<f64>,
}

impl Figures {
    /// The figures of `now`, with rates against `before` taken `elapsed` earlier.
    pub fn between(before: &ServerStats, now: &ServerStats, elapsed: Duration, latencies: &[Duration]) -> Self {
        let secs = elapsed.as_secs_f64().max(f64::EPSILON);
        let (b, n) = (&before.traffic, &now.traffic);
        let messages = (n.messages_in + n.messages_out).saturating_sub(b.messages_in + b.messages_out);
        let bytes = (n.bytes_in + n.bytes_out).saturating_sub(b.bytes_in + b.bytes_out);
        let mut close_codes = BTreeMap::new();
        for ((code, _initiator), count) in &now.closes {
            *close_codes.entry(*code).or_default() += count;
        }
        let latency_ms = (!latencies.is_empty())
            .then(|| latencies.iter().map(|d| d.as_secs_f64() * 1000.0).sum::<f64>() / latencies.len() as f64);
        Self {
            sessions: now.connections_open,
            messages: n.messages_in,
            messages_per_s: messages as f64 / secs,
            bytes_per_s: bytes as f64 / secs,
            close_codes,
            latency_ms,
        }
    }

    /// The JSON the page reads.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("the figures are plain numbers and maps")
    }
}

/// The latest figures as JSON, shared between the sampler and the request hook.
#[derive(Clone, Default)]
pub struct Panel(Arc<Mutex<String>>);

impl Panel {
    /// The latest figures ("{}" before the first sample).
    pub fn json(&self) -> String {
        let text = self.0.lock().unwrap();
        if text.is_empty() { "{}".to_owned() } else { text.clone() }
    }

    /// Samples `server` every [`PERIOD`] until its listener closes.
    pub async fn sample(self, server: Server) {
        let mut before = (Instant::now(), server.stats());
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = server.wait() => return,
            }
            let now = (Instant::now(), server.stats());
            let latencies: Vec<Duration> = server.sessions().iter().filter_map(|s| s.latency()).collect();
            let figures = Figures::between(&before.1, &now.1, now.0 - before.0, &latencies);
            *self.0.lock().unwrap() = figures.to_json();
            before = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wssession_core::Stats;

    fn stats(messages: u64, bytes: u64, closes: &[(u16, &'static str, u64)]) -> ServerStats {
        ServerStats {
            connections_open: 2,
            traffic: Stats { messages_in: messages, bytes_in: bytes, messages_out: messages, bytes_out: bytes },
            closes: closes.iter().map(|&(code, by, n)| ((code, by), n)).collect(),
            ..ServerStats::default()
        }
    }

    #[test]
    fn rates_count_both_directions_over_the_elapsed_time() {
        let f = Figures::between(&stats(10, 100, &[]), &stats(20, 300, &[]), Duration::from_secs(2), &[]);
        assert_eq!((f.messages_per_s, f.bytes_per_s), (10.0, 200.0));
        assert_eq!((f.sessions, f.messages), (2, 20));
    }

    #[test]
    fn close_codes_sum_both_initiators() {
        let now = stats(0, 0, &[(1000, "client", 2), (1000, "server", 1), (1001, "client", 4)]);
        let f = Figures::between(&ServerStats::default(), &now, PERIOD, &[]);
        assert_eq!(f.close_codes, BTreeMap::from([(1000, 3), (1001, 4)]));
    }

    #[test]
    fn latency_is_the_mean_of_the_sessions_last_round_trips_and_absent_without_one() {
        let two = [Duration::from_millis(2), Duration::from_millis(4)];
        let f = Figures::between(&ServerStats::default(), &ServerStats::default(), PERIOD, &two);
        assert_eq!(f.latency_ms, Some(3.0));
        let none = Figures::between(&ServerStats::default(), &ServerStats::default(), PERIOD, &[]);
        assert_eq!(none.latency_ms, None);
        assert!(none.to_json().contains("\"latency_ms\":null"));
    }

    #[test]
    fn the_panel_reads_an_empty_object_before_the_first_sample() {
        assert_eq!(Panel::default().json(), "{}");
    }
}
