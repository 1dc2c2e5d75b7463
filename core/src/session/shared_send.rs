//! Queuing one message encoded for many sessions (a topic publish), without ever waiting.

use bytes::Bytes;

use super::{Session, State, bump, engine};
use crate::deflate::SharedSetting;
use crate::protocol::Frame;

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
    /// Not queued: the session's outgoing queue is over its high-water mark.
    OverLimit,
    /// Not queued: a fragmented message the application is sending is in progress.
    MidFragment,
    /// Not queued: the session is closing or closed.
    Closing,
}

impl Session {
    /// Queues `msg` unless the queue is over its high-water mark (never waits), without writing
    /// it: see [`Delivery::Deferred`]. Sessions without
    /// masking get a shared encoding: the plain frame, or the one compressed for their shareable
    /// deflate setting; the others (masking, or deflate with context takeover) encode it themselves.
    pub(crate) fn send_shared(&self, msg: &mut dyn SharedMessage) -> Delivery {
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
        let len = msg.frame().data.len();
        let compressed = match &ob.compression {
            Some(c) => msg.compress().unwrap_or(len >= c.threshold),
            None => false,
        };
        let setting = ob.compression.filter(|_| compressed).and_then(|c| c.shared);
        if ob.conn.masking() || (compressed && setting.is_none()) {
            if ob.push_user(msg.frame(), Some(compressed)).is_err() {
                // Validated by the publisher; nothing else can refuse a complete data frame.
                return Delivery::MidFragment;
            }
            if compressed {
                msg.compressed_by_session();
            }
        } else {
            let frame = match setting {
                Some(s) => msg.compressed(s),
                None => msg.plain(),
            };
            if ob.push_shared(&frame).is_err() {
                // Checked above: open, not inside a fragmented message, not masking.
                return Delivery::MidFragment;
            }
        }
        // Updated only under the outbox lock.
        bump(&sh.stats.messages_out, 1);
        bump(&sh.stats.bytes_out, len as u64);
        if idle { Delivery::Deferred } else { Delivery::Queued }
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
