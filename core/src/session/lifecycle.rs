//! Where a session is in its life: its state, whether it was terminated, when its closing
//! handshake began, the close reason once it ended, and the wake-up of the reader waiting on these.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::task::Waker;
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

use crate::protocol::close::CloseReason;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Created, `start` not yet called.
    Connecting = 0,
    /// Messages flow both ways.
    Open = 1,
    /// A Close was sent or received; no more sends.
    Closing = 2,
    /// Finished; `close_reason` is resolved.
    Closed = 3,
}

/// The session's life, changed only through these methods (one state moves one way).
pub(crate) struct Lifecycle {
    state: AtomicU8,
    /// Set by terminate/abort and when the session ends: the I/O stops at its next check.
    terminated: AtomicBool,
    /// When the closing handshake began (the close timeout counts from it).
    close_started: OnceLock<Instant>,
    /// The close reason, published once when the session ends.
    reason: OnceLock<Box<CloseReason>>,
    /// Wakes whoever waits for the close reason (a `Notify` allocates nothing until someone waits,
    /// unlike a `watch` channel's shared block).
    ended: Notify,
    /// Wakes the reader: terminated, close initiated, a setting changed, our Close written.
    wake: AtomicWaker,
}

impl Lifecycle {
    /// A session not yet started.
    pub(super) fn new() -> Self {
        Self {
            state: AtomicU8::new(State::Connecting as u8),
            terminated: AtomicBool::new(false),
            close_started: OnceLock::new(),
            reason: OnceLock::new(),
            ended: Notify::new(),
            wake: AtomicWaker::new(),
        }
    }

    /// The current state.
    pub(super) fn state(&self) -> State {
        match self.state.load(Ordering::Acquire) {
            0 => State::Connecting,
            1 => State::Open,
            2 => State::Closing,
            _ => State::Closed,
        }
    }

    /// `start` was called: messages flow.
    pub(super) fn open(&self) {
        self.state.store(State::Open as u8, Ordering::Release);
    }

    /// A Close was queued: an open session moves to `Closing`, the close timer starts (once) and
    /// the reader wakes to arm it.
    pub(super) fn closing(&self) {
        let _ =
            self.state.compare_exchange(State::Open as u8, State::Closing as u8, Ordering::AcqRel, Ordering::Acquire);
        self.close_started.get_or_init(Instant::now);
        self.wake.wake();
    }

    /// Moves to `Closed` and stops the I/O; true for the one call that ended the session.
    pub(super) fn end(&self) -> bool {
        if self.state.swap(State::Closed as u8, Ordering::AcqRel) == State::Closed as u8 {
            return false;
        }
        self.terminated.store(true, Ordering::Release);
        true
    }

    /// Stops the I/O at its next check (terminate, abort) and wakes the reader to see it.
    pub(super) fn terminate(&self) {
        self.terminated.store(true, Ordering::Release);
        self.wake.wake();
    }

    /// Whether the I/O must stop.
    pub(super) fn is_terminated(&self) -> bool {
        self.terminated.load(Ordering::Acquire)
    }

    /// When the closing handshake times out, `timeout` after it began; `None` before it began.
    pub(super) fn close_deadline(&self, timeout: Duration) -> Option<Instant> {
        Some(*self.close_started.get()? + timeout)
    }

    /// Wakes the reader to look at the state, the deadline and the settings again.
    pub(super) fn wake(&self) {
        self.wake.wake();
    }

    /// Registers the reader's waker for [`Lifecycle::wake`].
    pub(super) fn register(&self, waker: &Waker) {
        self.wake.register(waker);
    }

    /// Publishes how the session ended (once: the session ends once).
    pub(super) fn publish(&self, reason: CloseReason) {
        let _ = self.reason.set(Box::new(reason));
        self.ended.notify_waiters();
    }

    /// The close reason if the session has ended.
    pub(super) fn reason(&self) -> Option<CloseReason> {
        self.reason.get().map(|r| CloseReason::clone(r))
    }

    /// Resolves with the close reason once the session has ended.
    pub(super) async fn reason_when_ended(&self) -> CloseReason {
        self.ended().await;
        CloseReason::clone(self.reason.get().expect("the session ended"))
    }

    /// Completes once the session has ended.
    pub(super) async fn ended(&self) {
        loop {
            let notified = self.ended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.reason.get().is_some() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_moves_open_then_closing_then_closed_and_ends_once() {
        let life = Lifecycle::new();
        assert_eq!(life.state(), State::Connecting);
        assert_eq!(life.close_deadline(Duration::from_secs(1)), None);
        life.open();
        assert_eq!(life.state(), State::Open);
        life.closing();
        assert_eq!(life.state(), State::Closing);
        let deadline = life.close_deadline(Duration::from_secs(1)).expect("the close timer started");
        life.closing();
        assert_eq!(life.close_deadline(Duration::from_secs(1)), Some(deadline), "the first close starts the timer");
        assert!(!life.is_terminated());
        assert!(life.end());
        assert!(!life.end(), "a session ends once");
        assert_eq!(life.state(), State::Closed);
        assert!(life.is_terminated());
    }

    #[test]
    fn closing_does_not_reopen_an_ended_session() {
        let life = Lifecycle::new();
        life.open();
        life.end();
        life.closing();
        assert_eq!(life.state(), State::Closed);
    }

    #[tokio::test]
    async fn the_close_reason_reaches_those_who_wait_for_it() {
        let life = std::sync::Arc::new(Lifecycle::new());
        let waiting = tokio::spawn({
            let life = life.clone();
            async move { life.reason_when_ended().await }
        });
        assert_eq!(life.reason(), None);
        life.publish(CloseReason::abnormal());
        life.ended().await;
        assert_eq!(waiting.await.unwrap(), CloseReason::abnormal());
        assert_eq!(life.reason(), Some(CloseReason::abnormal()));
    }
}
