//! How far the writing has got: the sequence number of the last frame handed to the socket, and
//! the wake-ups of whoever waits for it (flushes, the closing handshake, the automatic-reply bound).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// The written mark, changed by whoever hands frames to the socket.
#[derive(Default)]
pub(crate) struct Written {
    /// Sequence number of the last frame handed to the socket.
    seq: AtomicU64,
    /// Wakes the waiters when `seq` moves.
    notify: Notify,
    /// Tasks waiting on `notify`: writes skip the notification when there are none.
    waiters: AtomicUsize,
}

impl Written {
    /// The sequence number of the last frame handed to the socket.
    pub(crate) fn seq(&self) -> u64 {
        self.seq.load(Ordering::SeqCst)
    }

    /// Records that frames up to `seq` reached the socket and wakes whoever waits for that.
    /// SeqCst on both sides (here: store, then load the waiter count; waiters: count, then load
    /// `seq`) means a waiter either sees the new `seq` or is seen here and notified.
    pub(crate) fn publish(&self, seq: u64) {
        self.seq.store(seq, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }

    /// Wakes every waiter (the session ended).
    pub(crate) fn wake_all(&self) {
        self.notify.notify_waiters();
    }

    /// Counts the caller among the waiters while the guard lives; read `seq` only after this.
    pub(crate) fn waiter(&self) -> Waiter<'_> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        Waiter(self)
    }
}

/// A task counted among the waiters on the written mark.
pub(crate) struct Waiter<'a>(&'a Written);

impl Waiter<'_> {
    /// A wake-up for the next move of the mark; enable it, then check `seq`, then await it.
    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.0.notify.notified()
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}
