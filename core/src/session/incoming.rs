//! The receive side of a pull-style session: the queue of messages the reader fills and `recv`
//! empties, how it ended, and the pause switch the reader obeys.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::task::AtomicWaker;
use tokio::sync::mpsc;

use super::Session;
use crate::error::{Error, Result};
use crate::protocol::Frame;

/// How the incoming side ended, handed to `recv` after the queue drains.
#[derive(Debug, Clone)]
pub(super) enum End {
    Clean,
    Failed(Error),
}

/// The receive side, changed by the reader (queue, end) and by `pause`/`resume`.
pub(crate) struct Incoming {
    /// Messages for `recv` (`None` once the queue has ended); no lock at all for push-style sessions
    /// (boxed: they keep one pointer for it).
    queue: Option<Box<tokio::sync::Mutex<Option<mpsc::Receiver<Frame>>>>>,
    /// How the incoming side ended (first wins); boxed: an open session carries 8 bytes for it.
    end: Mutex<Option<Box<End>>>,
    /// Whether the reader must stop reading, read on every pass.
    paused: AtomicBool,
    /// The reader waiting for `resume` (an inline slot: nothing is allocated for it).
    resumed: AtomicWaker,
}

impl Incoming {
    /// The receive side, and the sender the reader fills when there is a queue (pull style: no
    /// handler) of `capacity` messages.
    pub(super) fn new(pull: bool, capacity: usize) -> (Self, Option<mpsc::Sender<Frame>>) {
        let (tx, rx) = if pull {
            let (tx, rx) = mpsc::channel(capacity.max(1));
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let incoming = Self {
            queue: rx.map(|rx| Box::new(tokio::sync::Mutex::new(Some(rx)))),
            end: Mutex::new(None),
            paused: AtomicBool::new(false),
            resumed: AtomicWaker::new(),
        };
        (incoming, tx)
    }

    /// Records how the incoming side ends (first wins).
    pub(super) fn set_end(&self, end: End) {
        let mut slot = self.end.lock().unwrap();
        if slot.is_none() {
            *slot = Some(Box::new(end));
        }
    }

    /// What `recv` reports once the queue ended: `Ok(None)` after a clean end, else the failure.
    fn end_status(&self) -> Result<Option<Frame>> {
        match self.end.lock().unwrap().as_deref() {
            Some(End::Failed(e)) => Err(e.clone()),
            _ => Ok(None),
        }
    }

    /// Stops (or resumes) reading the socket.
    fn set_paused(&self, on: bool) {
        self.paused.store(on, Ordering::Release);
        if !on {
            self.resumed.wake();
        }
    }

    /// Whether the reader must stop reading (cheap: read on every pass).
    pub(super) fn paused_now(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// Completes once reading is not paused (for the reader: one waiter at a time).
    pub(super) async fn resumed(&self) {
        std::future::poll_fn(|cx| {
            // Registered before the check: a `resume` after it wakes this waker.
            self.resumed.register(cx.waker());
            if self.paused_now() { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
        })
        .await
    }
}

impl Session {
    /// Records how `incoming` ends (first wins).
    pub(super) fn set_end(&self, end: End) {
        self.shared.incoming.set_end(end);
    }

    /// The next complete Text/Binary message. `Ok(None)` once when the peer closed cleanly;
    /// an error once when the session failed (carrying why); [`Error::Closed`] after that.
    /// Only for sessions without an event handler (pull style).
    pub async fn recv(&self) -> Result<Option<Frame>> {
        let incoming = &self.shared.incoming;
        let Some(queue) = incoming.queue.as_deref() else { return Err(self.after_end()) };
        let mut guard = queue.lock().await;
        let Some(rx) = guard.as_mut() else {
            return Err(self.after_end());
        };
        match rx.recv().await {
            Some(frame) => Ok(Some(frame)),
            None => {
                *guard = None;
                incoming.end_status()
            }
        }
    }

    /// A message already queued, without waiting: `Ok(None)` when none is ready yet.
    pub fn try_recv(&self) -> Result<Option<Frame>> {
        let incoming = &self.shared.incoming;
        let Some(queue) = incoming.queue.as_deref() else { return Err(self.after_end()) };
        let Ok(mut guard) = queue.try_lock() else { return Ok(None) };
        let Some(rx) = guard.as_mut() else {
            return Err(self.after_end());
        };
        match rx.try_recv() {
            Ok(frame) => Ok(Some(frame)),
            Err(mpsc::error::TryRecvError::Empty) => Ok(None),
            Err(mpsc::error::TryRecvError::Disconnected) => {
                *guard = None;
                incoming.end_status().and(Err(self.after_end()))
            }
        }
    }

    /// Waits for at least one message and moves up to `limit` queued ones into `out`
    /// (one wake-up for many messages). Returns 0 at a clean end, like `recv`'s `Ok(None)`.
    pub async fn recv_many(&self, out: &mut Vec<Frame>, limit: usize) -> Result<usize> {
        let Some(queue) = self.shared.incoming.queue.as_deref() else { return Err(self.after_end()) };
        let mut guard = queue.lock().await;
        let Some(rx) = guard.as_mut() else {
            return Err(self.after_end());
        };
        let n = rx.recv_many(out, limit.max(1)).await;
        self.received(&mut guard, n)
    }

    /// The result of a batch receive that took `n` messages: 0 means the queue ended, so it is
    /// dropped and the end (clean or the failure) is reported.
    fn received(&self, queue: &mut Option<mpsc::Receiver<Frame>>, n: usize) -> Result<usize> {
        if n > 0 {
            return Ok(n);
        }
        *queue = None;
        self.shared.incoming.end_status().map(|_| 0)
    }

    /// As [`Session::recv_many`], polled in place instead of awaited: for an embedder whose own event
    /// loop drives receives (no future per wait). `cx`'s waker is woken when messages (or the end)
    /// arrive; while another receive holds the queue it is woken right away, to poll again.
    pub fn poll_recv_many(
        &self,
        cx: &mut std::task::Context<'_>,
        out: &mut Vec<Frame>,
        limit: usize,
    ) -> std::task::Poll<Result<usize>> {
        use std::task::Poll;
        let Some(queue) = self.shared.incoming.queue.as_deref() else {
            return Poll::Ready(Err(self.after_end()));
        };
        let Ok(mut guard) = queue.try_lock() else {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        };
        let Some(rx) = guard.as_mut() else {
            return Poll::Ready(Err(self.after_end()));
        };
        rx.poll_recv_many(cx, out, limit.max(1)).map(|n| self.received(&mut guard, n))
    }

    /// Why `recv` cannot deliver: a push-style session has no queue; a pull-style one has ended.
    fn after_end(&self) -> Error {
        if self.has_event_handler() {
            return Error::invalid("this session delivers messages to its event handler; recv is unavailable");
        }
        self.closed_error()
    }

    /// Stops reading the socket (TCP backpressure reaches the peer) until `resume`.
    pub fn pause(&self) {
        self.shared.incoming.set_paused(true);
    }

    /// Resumes reading after `pause`.
    pub fn resume(&self) {
        self.shared.incoming.set_paused(false);
    }

    /// Whether reading is paused.
    pub fn is_paused(&self) -> bool {
        self.shared.incoming.paused_now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_end_recorded_is_the_one_recv_reports() {
        let (incoming, _tx) = Incoming::new(true, 1);
        incoming.set_end(End::Clean);
        incoming.set_end(End::Failed(Error::Closed(None)));
        assert!(matches!(incoming.end_status(), Ok(None)));
        let (incoming, _tx) = Incoming::new(true, 1);
        incoming.set_end(End::Failed(Error::Closed(None)));
        incoming.set_end(End::Clean);
        assert!(matches!(incoming.end_status(), Err(Error::Closed(None))));
    }

    #[test]
    fn only_a_pull_style_session_gets_a_queue() {
        assert!(Incoming::new(true, 0).1.is_some());
        assert!(Incoming::new(false, 16).1.is_none());
    }

    #[tokio::test]
    async fn the_reader_sees_a_pause_at_once_and_wakes_on_resume() {
        let (incoming, _tx) = Incoming::new(false, 1);
        incoming.set_paused(true);
        assert!(incoming.paused_now());
        let waiting = incoming.resumed();
        tokio::pin!(waiting);
        assert!(futures_util::FutureExt::now_or_never(waiting.as_mut()).is_none(), "paused");
        incoming.set_paused(false);
        assert!(!incoming.paused_now());
        waiting.await;
    }
}
