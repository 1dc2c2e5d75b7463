//! The push-style callbacks a session delivers its events to, and their dispatch: one at a time
//! per session, with the writer's drain delivered in between.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::Session;
use crate::protocol::{CloseReason, Frame};

/// Push-style callbacks. They run on runtime threads; one session's callbacks never run
/// concurrently. A slow callback slows that session's reading (natural backpressure).
pub trait EventHandler: Send + Sync + 'static {
    /// The session started.
    fn on_open(&self, _session: &Session) {}
    /// A complete Text/Binary message arrived (one frame of it with `SessionConfig::deliver_fragments`).
    fn on_message(&self, session: &Session, frame: Frame);
    /// A Ping arrived (the Pong is sent automatically unless `SessionConfig::auto_pong` is off).
    fn on_ping(&self, _session: &Session, _payload: &Bytes) {}
    /// A Pong arrived.
    fn on_pong(&self, _session: &Session, _payload: &Bytes) {}
    /// The outgoing queue fell below its low-water mark after having been over its high-water mark.
    fn on_drain(&self, _session: &Session) {}
    /// The session ended; called exactly once.
    fn on_close(&self, _session: &Session, _reason: &CloseReason) {}
}

/// The callback side of a session: its handler, if any, and the lock that keeps its callbacks
/// from running concurrently, with the drain the writer flags for delivery.
pub(crate) struct Callbacks {
    handler: Option<Arc<dyn EventHandler>>,
    lock: Mutex<()>,
    drain_pending: AtomicBool,
}

impl Callbacks {
    /// Callbacks to `handler` (none: a pull-style session).
    pub(super) fn new(handler: Option<Arc<dyn EventHandler>>) -> Self {
        Self { handler, lock: Mutex::new(()), drain_pending: AtomicBool::new(false) }
    }

    /// Whether there is a handler (push style).
    pub(super) fn has_handler(&self) -> bool {
        self.handler.is_some()
    }

    /// Runs `f` with the handler under the callback lock, then a drain flagged meanwhile with
    /// `on_drain`.
    fn call(&self, f: impl FnOnce(&dyn EventHandler), on_drain: impl Fn(&dyn EventHandler)) {
        if let Some(h) = &self.handler {
            {
                let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
                f(h.as_ref());
            }
            self.deliver_drain(h.as_ref(), on_drain);
        }
    }

    /// Flags a drain and runs `on_drain` for it now, or, when a callback is running, lets that
    /// callback's caller run it when the callback returns.
    fn drained(&self, on_drain: impl Fn(&dyn EventHandler)) {
        if let Some(h) = &self.handler {
            self.drain_pending.store(true, Ordering::Release);
            self.deliver_drain(h.as_ref(), on_drain);
        }
    }

    /// Runs `on_drain` for a flagged drain unless a callback holds the lock: that one calls this
    /// when it returns. Called by both sides after their part (the writer after setting the flag,
    /// a callback after unlocking), so no flagged drain is left behind.
    fn deliver_drain(&self, h: &dyn EventHandler, on_drain: impl Fn(&dyn EventHandler)) {
        loop {
            // Pairs with the other side's fence: either its `try_lock` sees our lock released, or we
            // see its flag.
            std::sync::atomic::fence(Ordering::SeqCst);
            if !self.drain_pending.load(Ordering::Relaxed) {
                return;
            }
            let _guard = match self.lock.try_lock() {
                Ok(g) => g,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return,
            };
            if self.drain_pending.swap(false, Ordering::AcqRel) {
                on_drain(h);
            }
        }
    }
}

impl Session {
    /// Whether the session is a push-style one (an event handler receives its messages).
    pub fn has_event_handler(&self) -> bool {
        self.shared.callbacks.has_handler()
    }

    /// Runs `f` with the event handler under the session's callback lock, so a session's
    /// callbacks never run concurrently.
    pub(crate) fn with_handler(&self, f: impl FnOnce(&dyn EventHandler)) {
        self.shared.callbacks.call(f, |h| h.on_drain(self));
    }

    /// The writer drained the queue below its low-water mark: `on_drain` runs now, or when the
    /// callback running at the moment returns.
    pub(super) fn drained(&self) {
        self.shared.callbacks.drained(|h| h.on_drain(self));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler whose callbacks the tests do not call.
    struct Quiet;

    impl EventHandler for Quiet {
        fn on_message(&self, _: &Session, _: Frame) {}
    }

    #[test]
    fn a_drain_during_a_callback_is_delivered_when_the_callback_returns() {
        let callbacks = Callbacks::new(Some(Arc::new(Quiet)));
        let log = Mutex::new(vec![]);
        let on_drain = |_: &dyn EventHandler| log.lock().unwrap().push("drain");
        callbacks.call(
            |_| {
                callbacks.drained(on_drain);
                assert!(log.lock().unwrap().is_empty(), "no callback runs inside another");
                log.lock().unwrap().push("callback");
            },
            on_drain,
        );
        assert_eq!(*log.lock().unwrap(), ["callback", "drain"]);
        callbacks.drained(on_drain);
        assert_eq!(*log.lock().unwrap(), ["callback", "drain", "drain"], "outside a callback: at once");
    }

    #[test]
    fn without_a_handler_nothing_is_called() {
        let callbacks = Callbacks::new(None);
        assert!(!callbacks.has_handler());
        callbacks.call(|_| unreachable!("no handler"), |_| unreachable!("no handler"));
        callbacks.drained(|_| unreachable!("no handler"));
    }
}
