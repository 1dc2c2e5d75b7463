//! Ktor's pinger: a Ping every interval, Close 1011 when its Pong is late.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::{End, Session, State};
use crate::error::Error;
use crate::protocol::{Violation, ViolationKind};

/// At most this many Pings await their Pong at once.
pub(super) const MAX_PENDING_PINGS: usize = 1024;

/// A Ping sent and not yet answered.
pub(crate) struct PendingPing {
    pub(super) payload: Bytes,
    pub(super) sent: Instant,
    pub(super) done: Option<oneshot::Sender<Duration>>,
}

/// The Pings of one session (the pinger's and `ping()`'s): those awaiting their Pong, the payload
/// counter, the last round trip and the pinger task.
pub(crate) struct Pings {
    /// The Pings awaiting their Pong and the pinger task, boxed once a Ping is sent or a pinger
    /// runs (a session without either keeps one pointer for them).
    pub(super) state: Mutex<Option<Box<PingState>>>,
    pub(super) seq: AtomicU64,
    /// Round trip of the last answered Ping in µs; `u64::MAX` before any.
    pub(super) latency_us: AtomicU64,
}

/// The Pings awaiting their Pong, and the pinger task.
#[derive(Default)]
pub(super) struct PingState {
    pub(super) pending: VecDeque<PendingPing>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Pings {
    pub(super) fn new() -> Self {
        Self { state: Mutex::new(None), seq: AtomicU64::new(0), latency_us: AtomicU64::new(u64::MAX) }
    }

    /// Resolves the pending Pings up to and including the one `payload` answers.
    pub(super) fn acknowledge(&self, payload: &Bytes) {
        let mut state = self.state.lock().unwrap();
        let Some(pending) = state.as_mut().map(|state| &mut state.pending) else { return };
        let Some(pos) = pending.iter().position(|p| p.payload == *payload) else { return };
        let now = Instant::now();
        for mut p in pending.drain(..=pos) {
            let rtt = now - p.sent;
            // Latency first: whoever awaits the ping may read it as soon as the ping resolves.
            self.latency_us.store(rtt.as_micros() as u64, Ordering::Relaxed);
            if let Some(done) = p.done.take() {
                let _ = done.send(rtt);
            }
        }
    }

    /// The session ended: the pinger stops and pending Pings fail (their senders are dropped).
    pub(super) fn stop(&self) {
        if let Some(task) = self.state.lock().unwrap().take().and_then(|state| state.task) {
            task.abort();
        }
    }
}

/// Stops the running pinger, if any, and starts one with the current settings.
pub(super) fn restart(s: &Session) {
    let mut slot = s.shared.pings.state.lock().unwrap();
    if let Some(old) = slot.as_mut().and_then(|state| state.task.take()) {
        old.abort();
    }
    let interval = s.shared.settings.ping_interval_ms();
    if interval == 0 || s.state() != State::Open {
        return;
    }
    slot.get_or_insert_with(Box::default).task = Some(crate::runtime::spawn(run(s.clone(), interval)));
}

/// A `timeout_ms` at or above this (websockets' `ping_timeout=None`): pings go out every interval
/// and a missing Pong never closes the session.
pub const NO_PONG_TIMEOUT_MS: u64 = 1 << 40;

async fn run(s: Session, interval: u64) {
    loop {
        tokio::time::sleep(Duration::from_millis(interval)).await;
        if s.state() != State::Open {
            return;
        }
        let timeout = s.shared.settings.timeout_ms();
        let pong = match s.send_ping(s.next_ping_payload()) {
            Ok(pong) => pong,
            Err(Error::WouldBlock) => continue, // only without a timeout: too many unanswered pings
            Err(_) => return,
        };
        if timeout >= NO_PONG_TIMEOUT_MS {
            continue;
        }
        match tokio::time::timeout(Duration::from_millis(timeout), pong).await {
            Ok(Ok(_)) => continue,
            Ok(Err(_)) => return,
            Err(_) => {
                s.set_end(End::Failed(Error::Timeout(format!("no pong within {timeout} ms"))));
                s.fail(Violation::new(ViolationKind::PingTimeout, "ping timeout"));
                return;
            }
        }
    }
}
