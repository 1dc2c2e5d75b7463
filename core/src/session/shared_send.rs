//! Queuing one message encoded for many sessions (a topic publish), without ever waiting.

use std::cell::Cell;
use std::sync::MutexGuard;

use bytes::Bytes;

use super::outbox::Outbox;
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
    /// The whole frame for `setting` (`None`: uncompressed), lent rather than cloned: a session
    /// that writes it at once and keeps nothing of it costs no reference count.
    fn shared_frame(&mut self, setting: Option<SharedSetting>) -> &Bytes;
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

/// What [`Session::begin_shared_now`] did.
pub(crate) enum SharedNow<'a> {
    /// The frame is counted and due to the socket: write it, then [`SharedSend::end`].
    Begun(SharedSend<'a>),
    /// Not the idle shared case (or the lock was busy): [`Session::send_shared_now`] delivers it.
    Other,
}

/// A subscriber's write-at-once delivery in progress: its outbox stays locked (nothing else reaches
/// its socket) from [`Session::begin_shared_now`] until [`SharedSend::end`] records what the socket
/// took, so a batch of them can go to the kernel in one system call.
pub(crate) struct SharedSend<'a> {
    session: &'a Session,
    ob: MutexGuard<'a, Outbox>,
    /// The encoding this session takes (`None`: uncompressed).
    pub setting: Option<SharedSetting>,
    /// The message's payload length, for the counters.
    len: usize,
}

impl SharedSend<'_> {
    /// The socket's descriptor, for a batch of sends (`None`: write it with [`SharedSend::write`]).
    #[cfg(unix)]
    pub fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.ob.direct_fd()
    }

    /// Hands `frame` to the socket now, alone; the bytes it took.
    pub fn write(&self, frame: &[u8]) -> usize {
        self.ob.write_idle(frame)
    }

    /// Records that the socket took `n` bytes of `frame` (this session's shared encoding): the
    /// rest stays queued, by reference, for the writer. Unlocks the outbox.
    pub fn end(mut self, frame: &Bytes, n: usize) -> Delivery {
        let sh = &*self.session.shared;
        // Updated only under the outbox lock.
        bump(&sh.stats.messages_out, 1);
        bump(&sh.stats.bytes_out, self.len as u64);
        let written = self.ob.end_shared_direct(frame, n);
        engine::after_direct_write(self.session, &mut self.ob, written);
        Delivery::Queued
    }
}

/// What [`Session::begin_flush`] did.
pub(crate) enum FlushNow<'a> {
    /// All that is queued is one buffer, due to the socket: write it, then [`FlushSend::end`].
    Begun(FlushSend<'a>),
    /// Nothing to write, or handed to the socket or the writer as [`Session::flush_shared`] does.
    Done,
    /// The lock was busy: [`Session::flush_shared`] flushes it.
    Busy,
}

/// A deferred write in progress (what [`Session::flush_shared`] hands to the socket): the outbox
/// stays locked from [`Session::begin_flush`] until [`FlushSend::end`] records what the socket
/// took, so a batch of them can go to the kernel in one system call.
pub(crate) struct FlushSend<'a> {
    session: &'a Session,
    ob: MutexGuard<'a, Outbox>,
    #[cfg(unix)]
    fd: std::os::fd::RawFd,
}

impl FlushSend<'_> {
    /// The socket's descriptor and the bytes to write (valid while this is held).
    #[cfg(unix)]
    pub fn write(&mut self) -> (std::os::fd::RawFd, *const u8, usize) {
        let buf = self.ob.tail_only().unwrap_or_default();
        (self.fd, buf.as_ptr(), buf.len())
    }

    /// Records that the socket took `n` bytes; the rest is handed on as [`Session::flush_shared`]
    /// would. Unlocks the outbox.
    pub fn end(mut self, n: usize) {
        let written = self.ob.end_tail_write(n);
        engine::after_direct_write(self.session, &mut self.ob, written);
    }
}

impl Session {
    /// The outbox, locked; without `wait`, `None` when another thread holds it (a caller holding
    /// other sessions' locks never waits for one).
    fn lock_outbox(&self, wait: bool) -> Option<MutexGuard<'_, Outbox>> {
        if wait {
            return Some(self.shared.outbox.lock().unwrap());
        }
        self.shared.outbox.try_lock().ok()
    }

    /// Begins [`Session::flush_shared`] for a batch of writes (`batch`: the thread has one): when
    /// all that is queued is the coalescing buffer and nothing else writes, keeps the outbox locked
    /// for the caller to write it and [`FlushSend::end`]; otherwise flushes as `flush_shared` does.
    /// `wait`: wait for a busy lock (otherwise [`FlushNow::Busy`]).
    pub(crate) fn begin_flush(&self, wait: bool, batch: bool) -> FlushNow<'_> {
        let sh = &*self.shared;
        let Some(mut ob) = self.lock_outbox(wait) else { return FlushNow::Busy };
        if ob.buffered == 0 || ob.writing {
            return FlushNow::Done;
        }
        #[cfg(unix)]
        if batch
            && !ob.need_drain
            && !sh.life.is_terminated()
            && let Some(fd) = ob.direct_fd()
            && ob.tail_only().is_some()
        {
            return FlushNow::Begun(FlushSend { session: self, ob, fd });
        }
        let _ = batch;
        engine::kick(self, &mut ob);
        FlushNow::Done
    }

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
        if ob.buffered > sh.settings.limits().high_water {
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

    /// As [`Session::send_shared`], but nothing is deferred: a shared encoding on an idle queue goes
    /// to the socket at once under the same lock, straight from the shared frame (what the socket
    /// does not take is queued by reference for the writer task), and every other case is queued
    /// and handed to the writer as a direct send would be. Never returns [`Delivery::Deferred`].
    pub(crate) fn send_shared_now(&self, msg: &mut dyn SharedMessage) -> Delivery {
        match self.begin_shared_now(msg, true) {
            SharedNow::Begun(send) => {
                let frame = msg.shared_frame(send.setting);
                let n = send.write(frame);
                send.end(frame, n)
            }
            SharedNow::Other => {
                // Anything but the idle shared case: queued as a deferred publish, then handed on now.
                let delivery = self.send_shared(msg);
                if delivery == Delivery::Deferred {
                    self.flush_shared();
                    return Delivery::Queued;
                }
                delivery
            }
        }
    }

    /// Begins [`Session::send_shared_now`]'s idle case: when the queue is idle, the session open and
    /// the message shareable, counts the frame as queued and keeps the outbox locked until the
    /// caller hands the frame to the socket and [`SharedSend::end`]s. `wait`: wait for a busy lock
    /// (otherwise [`SharedNow::Other`], so a caller holding other sessions' locks never waits).
    pub(crate) fn begin_shared_now<'a>(&'a self, msg: &dyn SharedMessage, wait: bool) -> SharedNow<'a> {
        let sh = &*self.shared;
        let Some(mut ob) = self.lock_outbox(wait) else { return SharedNow::Other };
        let direct = ob.buffered == 0
            && !ob.writing
            && !ob.need_drain
            && !ob.conn.masking()
            && !ob.in_fragment()
            && !self.is_closing(&ob)
            && self.state() != State::Closed
            && !sh.life.is_terminated()
            && ob.direct.is_some();
        let len = msg.frame().data.len();
        let shared = match &ob.compression {
            None => Some(None),
            Some(c) if !msg.compress().unwrap_or(len >= c.threshold) => Some(None),
            Some(c) => c.shared.map(Some),
        };
        // Checked above: open, not inside a fragmented message, not masking.
        let (Some(setting), true) = (shared, direct && ob.begin_shared_direct().is_ok()) else {
            return SharedNow::Other;
        };
        SharedNow::Begun(SharedSend { session: self, ob, setting, len })
    }

    /// Asks the CPU to bring in what [`Session::send_shared_now`] reads of this session (the outbox
    /// and its lock, the state, the written mark, the counters) without waiting for it: a publish
    /// calls it for the next subscriber before writing the current one, so at a low publish rate,
    /// where every subscriber's state has gone cold since the last publish, the fetch overlaps the
    /// current subscriber's `send` instead of stalling on it. Only a hint: it reads nothing.
    #[inline]
    pub(crate) fn prefetch_shared_send(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: SSE is part of the x86_64 baseline, and a prefetch is a hint that never
            // faults nor reads into the program, whatever the address.
            let fetch = |p: *const i8| unsafe { _mm_prefetch::<_MM_HINT_T0>(p) };
            /// Cache lines asked for from the start of the outbox (its lock, the queue's state, the
            /// connection's send half).
            const OUTBOX_LINES: usize = 4;
            let sh = &*self.shared;
            let outbox = std::ptr::from_ref(&sh.outbox).cast::<i8>();
            let lines = std::mem::size_of_val(&sh.outbox).div_ceil(64).min(OUTBOX_LINES);
            for i in 0..lines {
                fetch(outbox.wrapping_add(i * 64));
            }
            for p in [
                std::ptr::from_ref(&sh.life).cast::<i8>(),
                std::ptr::from_ref(&sh.written).cast::<i8>(),
                std::ptr::from_ref(&sh.stats).cast::<i8>(),
            ] {
                fetch(p);
            }
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
