//! Ktor's pinger: a Ping every interval, Close 1011 when its Pong is late.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{End, Session, State};
use crate::error::Error;
use crate::protocol::{Violation, ViolationKind};

/// Stops the running pinger, if any, and starts one with the current settings.
pub(super) fn restart(s: &Session) {
    let mut slot = s.shared.pinger.lock().unwrap();
    if let Some(old) = slot.take() {
        old.abort();
    }
    let interval = s.shared.ping_interval_ms.load(Ordering::Relaxed);
    if interval == 0 || s.state() != State::Open {
        return;
    }
    *slot = Some(crate::runtime::spawn(run(s.clone(), interval)));
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
        let timeout = s.shared.timeout_ms.load(Ordering::Relaxed);
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
