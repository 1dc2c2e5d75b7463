//! Queuing one message encoded for many sessions (a topic publish), without ever waiting.

use std::cell::Cell;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{Session, State, bump, engine};
use crate::deflate::SharedSetting;
use crate::protocol::Frame;

thread_local! {
    /// Inside a message callback run by a session's reader: whether more of that peer's bytes were
    /// already read (so publishes made in the callback are part of a burst). `None` elsewhere.
    static MORE_INPUT: Cell<Option<bool>> = const { Cell::new(None) };
}

/// Runs `f`, a message callback of the reader, telling the publishes it makes whether more of the
/// peer's input is already read (`more_input`).
pub(super) fn in_reader_callback(more_input: bool, f: impl FnOnce()) {
    /// Restores the outer value even if `f` unwinds.
    struct Restore(Option<bool>);
    impl Drop for Restore {
        fn drop(&mut self) {
            MORE_INPUT.set(self.0);
        }
    }
    let _restore = Restore(MORE_INPUT.replace(Some(more_input)));
    f();
}

/// Inside a message callback the reader runs, whether more of its peer's input is already read
/// (more publishes are about to follow); `None` outside such a callback.
pub(crate) fn more_input_read() -> Option<bool> {
    MORE_INPUT.get()
}

/// A message being delivered to many sessions: it hands out its encodings, each made at most once.
pub(crate) trait SharedMessage {
    /// The message itself (for sessions that must encode it their own way).
    fn frame(&self) -> &Frame;
    /// The publisher's compression override (`None`: each session's deflate threshold decides).
    fn compress(&self) -> Option<bool>;
    /// The whole frame, uncompressed and unmasked.
    fn plain(&mut self) -> Bytes;
    /// The whole frame compressed for `setting` (RSV1 set).
    fn compressed(&mut self, setting: SharedSetting) -> Bytes;
    /// Records that one session compressed the message with its own context.
    fn compressed_by_session(&mut self);
}

/// What [`Session::send_shared`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Queued; the writer (or a write in progress) takes it.
    Queued,
    /// Queued into an idle queue: nothing writes it until [`Session::flush_shared`] is called.
    /// Deferring that write lets every publish of a burst leave in one write per subscriber.
    Deferred,
    /// The queue was idle and `write_now` was asked: handed to the socket at once (what the
    /// socket did not take, the writer task writes).
    Written,
    /// Not queued: the session's outgoing queue is over its high-water mark.
    OverLimit,
    /// Not queued: a fragmented message the application is sending is in progress.
    MidFragment,
    /// Not queued: the session is closing or closed.
    Closing,
}

impl Session {
    /// Queues `msg` unless the queue is over its high-water mark (never waits). With `write_now`
    /// an idle queue is written at once under the same lock (a shared frame straight from the
    /// publisher's bytes); without, it is left for [`Session::flush_shared`]: see
    /// [`Delivery::Deferred`]. Sessions without masking get a shared encoding: the plain frame, or
    /// the one compressed for their shareable deflate setting; the others (masking, or deflate with
    /// context takeover) encode it themselves.
    pub(crate) fn send_shared(&self, msg: &mut dyn SharedMessage, write_now: bool) -> Delivery {
        let sh = &*self.shared;
        let mut ob = sh.outbox.lock().unwrap();
        if self.is_closing(&ob) || self.state() == State::Closed {
            return Delivery::Closing;
        }
        if ob.buffered > sh.limits.high_water {
            ob.need_drain = true;
            return Delivery::OverLimit;
        }
        if ob.in_fragment() {
            return Delivery::MidFragment;
        }
        let idle = ob.buffered == 0 && !ob.writing;
        let write_now = idle && write_now;
        let len = msg.frame().data.len();
        let compressed = match &ob.compression {
            Some(c) => msg.compress().unwrap_or(len >= c.threshold),
            None => false,
        };
        let setting = ob.compression.filter(|_| compressed).and_then(|c| c.shared);
        // `Some(all written)` when handed to the socket straight from the shared frame.
        let sent = if ob.conn.masking() || (compressed && setting.is_none()) {
            let pushed = ob.push_user(msg.frame(), Some(compressed)).map(|_| None);
            if compressed {
                msg.compressed_by_session();
            }
            pushed
        } else {
            let frame = match setting {
                Some(s) => msg.compressed(s),
                None => msg.plain(),
            };
            let direct = ob.direct.take();
            let sent = match &direct {
                Some(d) if write_now && !ob.need_drain && !sh.terminated.load(Ordering::Acquire) => {
                    ob.send_shared_direct(&frame, d.as_ref()).map(Some)
                }
                _ => ob.push_shared(&frame).map(|_| None),
            };
            ob.direct = direct;
            sent
        };
        // Checked above: open, not inside a fragmented message; the publisher validated the
        // message, and only masking sessions encode it themselves.
        let Ok(sent) = sent else { return Delivery::MidFragment };
        // Updated only under the outbox lock.
        bump(&sh.stats.messages_out, 1);
        bump(&sh.stats.bytes_out, len as u64);
        match sent {
            Some(true) => {
                sh.written.publish(ob.seq());
                Delivery::Written
            }
            Some(false) => {
                sh.writer_wake.notify_one();
                Delivery::Written
            }
            None if write_now => {
                engine::kick(self, &mut ob);
                Delivery::Written
            }
            None if idle => Delivery::Deferred,
            None => Delivery::Queued,
        }
    }

    /// Hands what [`Session::send_shared`] deferred to the socket (what it does not take now, to
    /// the writer task).
    pub(crate) fn flush_shared(&self) {
        let mut ob = self.shared.outbox.lock().unwrap();
        if ob.buffered > 0 && !ob.writing {
            engine::kick(self, &mut ob);
        }
    }
}
