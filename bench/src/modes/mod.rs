//! The three load shapes: echo round-trips, idle connections held, handshake churn.

pub mod churn;
pub mod echo;
pub mod fanout;
pub mod idle;

use crate::procfs;
use crate::target::Target;
use hdrhistogram::Histogram;
use std::time::Duration;

/// Everything a mode needs to know, from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where to connect.
    pub target: Target,
    /// Concurrent connections (echo, churn) or connections held (idle).
    pub connections: usize,
    /// Message payload size in bytes.
    pub size: usize,
    /// Binary frames instead of text.
    pub binary: bool,
    /// Messages in flight per connection.
    pub pipeline: usize,
    /// Measured time.
    pub duration: Duration,
    /// Unmeasured time before the measurement starts (echo, churn).
    pub warmup: Duration,
    /// Offer permessage-deflate.
    pub deflate: bool,
    /// The server process, for CPU and RSS figures.
    pub server_pid: Option<u32>,
    /// Handshakes in flight while opening connections.
    pub connect_concurrency: usize,
}

/// Server RSS samples taken by the idle mode, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdleRss {
    /// Before any connection was opened.
    pub before: u64,
    /// With every connection open and handshaken, before any message.
    pub after_open: u64,
    /// After one echo on every connection (buffers touched).
    pub after_echo: u64,
}

/// What a run measured.
#[derive(Debug)]
pub struct Outcome {
    /// Connections that opened.
    pub connections_ok: usize,
    /// Messages echoed (echo, idle) or sessions completed (churn) inside the window.
    pub messages: u64,
    /// Payload bytes echoed inside the window (one direction).
    pub bytes: u64,
    /// Length of the measured window.
    pub elapsed: Duration,
    /// Round-trip (or session) latency in nanoseconds.
    pub latency: Histogram<u64>,
    /// Failed connects, wrong echoes, protocol errors.
    pub errors: u64,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
    /// Server CPU time over the window, microseconds.
    pub server_cpu_us: Option<u64>,
    /// loadgen's own CPU time over the window, microseconds (is the client the bottleneck?).
    pub client_cpu_us: Option<u64>,
    /// Idle-mode memory samples.
    pub rss: Option<IdleRss>,
    /// Whether the server accepted permessage-deflate (None when not offered).
    pub deflate_negotiated: Option<bool>,
}

impl Outcome {
    /// An empty outcome for a window of `elapsed`.
    pub fn new(elapsed: Duration) -> Self {
        Self {
            connections_ok: 0,
            messages: 0,
            bytes: 0,
            elapsed,
            latency: new_histogram(),
            errors: 0,
            first_error: None,
            server_cpu_us: None,
            client_cpu_us: None,
            rss: None,
            deflate_negotiated: None,
        }
    }

    /// Counts an error, keeping the first message.
    pub fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e.to_string());
        }
    }
}

/// A latency histogram in nanoseconds, 1 ns to 100 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("static bounds are valid")
}

/// CPU microseconds used so far by the server (if a pid was given) and by loadgen itself.
#[derive(Clone, Copy, Debug)]
pub struct CpuMark {
    server: Option<u64>,
    client: Option<u64>,
}

impl CpuMark {
    /// Samples both processes now.
    pub fn now(server_pid: Option<u32>) -> Self {
        Self {
            server: server_pid.and_then(|p| procfs::cpu_micros(p).ok()),
            client: procfs::cpu_micros(std::process::id()).ok(),
        }
    }

    /// Records the CPU used between `earlier` and this mark into `out`.
    pub fn record_since(&self, earlier: &CpuMark, out: &mut Outcome) {
        let delta = |a: Option<u64>, b: Option<u64>| a.zip(b).map(|(a, b)| b.saturating_sub(a));
        out.server_cpu_us = delta(earlier.server, self.server);
        out.client_cpu_us = delta(earlier.client, self.client);
    }
}
