//! Delivering one publish to a topic's local subscribers: framed once, compressed once per
//! shareable deflate setting, never waiting for any subscriber.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::{Hub, Published, SlowSubscriber};
use crate::deflate::{Deflater, SharedSetting};
use crate::protocol::frame::encode_frame;
use crate::protocol::{Frame, FrameType};
use crate::session::send_ring::SendBatch;
use crate::session::{Delivery, FlushNow, FlushSend, Session, SharedMessage, SharedNow, SharedSend};

/// Bound on the compressors kept for shared settings (one per distinct setting in use; a server
/// has one configuration, so in practice one or two).
const MAX_SHARED_DEFLATERS: usize = 16;

/// The compressors publishes use for shareable settings, kept between publishes (a zlib state is
/// too large to build per publish).
#[derive(Default)]
pub(crate) struct SharedDeflaters(Mutex<HashMap<SharedSetting, Deflater>>);

impl SharedDeflaters {
    /// `payload` compressed for `setting` (the tail stripped), one compression.
    fn compress(&self, setting: SharedSetting, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        // A publish on another thread holds the kept one: compress with a fresh one rather than wait.
        let Ok(mut kept) = self.0.try_lock() else {
            Deflater::for_setting(setting).compress(payload, true, &mut out);
            return out;
        };
        if !kept.contains_key(&setting) && kept.len() >= MAX_SHARED_DEFLATERS {
            kept.clear();
        }
        kept.entry(setting).or_insert_with(|| Deflater::for_setting(setting)).compress(payload, true, &mut out);
        out
    }
}

/// Outside a reader's message callback, a publish that starts this long after the previous one
/// started (and with no flush pending) writes at once. Far longer than the gap between the
/// publishes of a publishing thread's loop (microseconds), far shorter than the gap at a rate a
/// client can follow (20 ms at 50 publishes/s).
const QUIET: Duration = Duration::from_millis(1);

/// Subscribers with deferred writes, flushed by one task per burst of publishes: every publish
/// made before that task runs (a batch of messages the publisher's reader decoded, or a fast
/// publishing thread) leaves in one write per subscriber, as uWebSockets drains its topic tree once
/// per event-loop iteration. A publish with nothing to batch with (see [`Flusher::write_now`])
/// skips the flusher: it writes each idle subscriber in the pass that queues it.
#[derive(Default)]
pub(crate) struct Flusher {
    pending: Mutex<Vec<Session>>,
    scheduled: AtomicBool,
    /// When the last publish outside a reader's callback started, in nanoseconds since [`epoch`].
    last: AtomicU64,
}

/// The reference point of [`Flusher::last`].
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl Flusher {
    /// Whether a publish starting now has nothing to batch with, so it writes its idle subscribers
    /// at once: never while a flush is pending (it joins that one); in a reader's message callback,
    /// when no more of its peer's input is already read (no more publishes follow); elsewhere, when
    /// the previous such publish started over [`QUIET`] ago.
    pub(super) fn write_now(&self) -> bool {
        // A host batch batches by its end, not by time: its publishes defer.
        if super::host_batch::is_open() {
            return false;
        }
        let quiet = match crate::session::more_input_read() {
            Some(more) => !more,
            None => {
                let now = epoch().elapsed().as_nanos() as u64;
                let last = self.last.swap(now, Ordering::Relaxed);
                last == 0 || now.saturating_sub(last) > QUIET.as_nanos() as u64
            }
        };
        quiet && !self.scheduled.load(Ordering::Acquire)
    }

    /// Adds `sessions` to the next flush, scheduling it unless it already is.
    pub(super) fn defer(self: &Arc<Self>, sessions: Vec<Session>) {
        if sessions.is_empty() {
            return;
        }
        {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if pending.is_empty() {
                *pending = sessions;
            } else {
                pending.extend(sessions);
            }
        }
        // In a host batch on this thread, the batch's end flushes (other threads' publishes still
        // schedule their own flush, which takes these sessions too).
        if super::host_batch::collect(self) {
            return;
        }
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            let me = self.clone();
            crate::runtime::spawn(async move { me.flush() });
        }
    }

    fn flush(&self) {
        // Cleared first: a publish after the take schedules the next flush.
        self.scheduled.store(false, Ordering::Release);
        self.flush_pending();
    }

    /// Writes every deferred subscriber (the flush task, or the end of a host batch), those whose
    /// queue is one buffer in batches of one system call (see `session::send_ring`).
    pub(super) fn flush_pending(&self) {
        let sessions = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let mut writes = SendBatch::new();
        for (i, s) in sessions.iter().enumerate() {
            // As in `Hub::deliver_now`: the next one's state comes in while this one is written.
            if let Some(next) = sessions.get(i + 1) {
                next.prefetch_shared_send();
            }
            match s.begin_flush(!writes.holding(), writes.usable()) {
                FlushNow::Begun(mut w) => {
                    let (fd, ptr, len) = w.write();
                    // SAFETY: `w` keeps the outbox locked, and with it the socket open and the
                    // coalescing buffer (the bytes) unchanged, until its write is recorded.
                    unsafe { writes.push(w, fd, ptr, len) };
                    if writes.full() {
                        writes.send(FlushSend::end);
                    }
                }
                FlushNow::Done => {}
                FlushNow::Busy => {
                    // It waits for the lock: the batch's are released first.
                    writes.send(FlushSend::end);
                    s.flush_shared();
                }
            }
        }
        writes.send(FlushSend::end);
    }
}

/// One publish on its way to the subscribers: each encoding is made the first time a subscriber needs it.
pub(super) struct Prepared<'a> {
    deflaters: &'a SharedDeflaters,
    frame: Frame,
    compress: Option<bool>,
    plain: Option<Bytes>,
    /// Compressed frames by setting (a handful at most: a short list beats a map).
    compressed: Vec<(SharedSetting, Bytes)>,
    compressions: usize,
}

impl<'a> Prepared<'a> {
    /// `frame` on its way, compressed (where a subscriber needs it) with `deflaters`.
    pub(super) fn new(deflaters: &'a SharedDeflaters, frame: Frame, compress: Option<bool>) -> Self {
        Prepared { deflaters, frame, compress, plain: None, compressed: Vec::new(), compressions: 0 }
    }
}

impl SharedMessage for Prepared<'_> {
    fn frame(&self) -> &Frame {
        &self.frame
    }

    fn compress(&self) -> Option<bool> {
        self.compress
    }

    fn plain(&mut self) -> Bytes {
        let frame = &self.frame;
        self.plain.get_or_insert_with(|| encode(frame.kind, false, &frame.data)).clone()
    }

    fn compressed(&mut self, setting: SharedSetting) -> Bytes {
        if let Some((_, b)) = self.compressed.iter().find(|(s, _)| *s == setting) {
            return b.clone();
        }
        let payload = self.deflaters.compress(setting, &self.frame.data);
        self.compressions += 1;
        let frame = encode(self.frame.kind, true, &payload);
        self.compressed.push((setting, frame.clone()));
        frame
    }

    fn shared_frame(&mut self, setting: Option<SharedSetting>) -> &Bytes {
        let Some(setting) = setting else {
            let frame = &self.frame;
            return self.plain.get_or_insert_with(|| encode(frame.kind, false, &frame.data));
        };
        self.compressed(setting);
        &self.compressed.iter().find(|(s, _)| *s == setting).expect("made just above").1
    }

    fn compressed_by_session(&mut self) {
        self.compressions += 1;
    }
}

/// A complete, unmasked frame.
fn encode(kind: FrameType, rsv1: bool, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 10);
    encode_frame(&mut out, kind.opcode(), true, rsv1, payload, None);
    out.freeze()
}

impl Hub {
    /// Delivers a message to this process's subscribers of `topic` (but `exclude`, a session id):
    /// what every publish ends in, and what the backplane calls for messages from other nodes.
    /// The payload was validated (UTF-8 for text) by the caller.
    pub(crate) fn fanout_local(
        &self,
        topic: &str,
        payload: &[u8],
        text: bool,
        compress: Option<bool>,
        exclude: Option<u64>,
    ) -> Published {
        let mut published = Published::default();
        let Some(t) = self.registry.topic(topic) else {
            self.metrics.totals.publish(0, 0, 0);
            return published;
        };
        let kind = if text { FrameType::Text } else { FrameType::Binary };
        let mut msg = Prepared {
            deflaters: &self.deflaters,
            frame: Frame::new(kind, Bytes::copy_from_slice(payload)),
            compress,
            plain: None,
            compressed: Vec::new(),
            compressions: 0,
        };
        let mut slow = Vec::new();
        let mut deferred = Vec::new();
        let write_now = self.flusher.write_now();
        {
            let members = t.members();
            if write_now {
                self.deliver_now(members.sessions(), &mut msg, exclude, &mut published, &mut slow);
            } else {
                for s in members.sessions() {
                    if exclude == Some(s.id()) {
                        continue;
                    }
                    match s.send_shared(&mut msg) {
                        Delivery::Queued => published.delivered += 1,
                        Delivery::Deferred => {
                            published.delivered += 1;
                            deferred.push(s.clone());
                        }
                        Delivery::MidFragment => published.dropped += 1,
                        Delivery::Closing => {}
                        Delivery::OverLimit => match self.policy {
                            SlowSubscriber::Drop => published.dropped += 1,
                            SlowSubscriber::Close(_) => slow.push(s.clone()),
                        },
                    }
                }
            }
        }
        self.flusher.defer(deferred);
        if let SlowSubscriber::Close(code) = self.policy {
            for s in &slow {
                tracing::info!(parent: s.span(), code, topic, "slow subscriber closed: over its write limit");
                // Already closing when the close fails: the first reason stands.
                let _ = s.close(code, "slow subscriber");
            }
            published.closed = slow.len();
        }
        if published.dropped > 0 {
            tracing::debug!(topic, dropped = published.dropped, "publish skipped slow subscribers");
        }
        let (d, x, c) = (published.delivered, published.dropped, published.closed);
        self.metrics.totals.publish(d, x, c);
        if let Some(counts) = &t.counts {
            counts.publish(d, x, c);
        }
        if msg.compressions > 0 {
            self.metrics.compressions.fetch_add(msg.compressions as u64, Ordering::Relaxed);
        }
        published
    }

    /// The delivery pass of a publish with nothing to batch with: each subscriber written in the
    /// pass that queues it ([`Session::send_shared_now`]), the idle ones handed to the kernel in
    /// batches of one system call each (see `session::send_ring`). Out of line, so the deferred pass in
    /// [`Hub::fanout_local`] (the full-rate one) is compiled as it was.
    #[inline(never)]
    fn deliver_now(
        &self,
        members: &[Session],
        msg: &mut Prepared<'_>,
        exclude: Option<u64>,
        published: &mut Published,
        slow: &mut Vec<Session>,
    ) {
        let mut sends = SendBatch::new();
        for (i, s) in members.iter().enumerate() {
            if let Some(next) = members.get(i + 1) {
                next.prefetch_shared_send();
            }
            // The id only when there is one to skip: its line is not otherwise read here.
            if exclude.is_some_and(|e| e == s.id()) {
                continue;
            }
            let delivery = match s.begin_shared_now(msg, !sends.holding()) {
                SharedNow::Begun(send) => match send.fd().filter(|_| sends.usable()) {
                    Some(fd) => {
                        let frame = msg.shared_frame(send.setting);
                        // SAFETY: the socket is open while its session's outbox, locked by `send`,
                        // holds the writer that owns it; the frame is one of `msg`'s encodings,
                        // which live as long as `msg` and are never changed once made.
                        unsafe { sends.push(send, fd, frame.as_ptr(), frame.len()) };
                        if sends.full() {
                            published.delivered += end_shared_sends(&mut sends, msg);
                        }
                        continue;
                    }
                    None => {
                        let frame = msg.shared_frame(send.setting);
                        let n = send.write(frame);
                        send.end(frame, n)
                    }
                },
                SharedNow::Other => {
                    // It may wait for a lock: the batch's are released first.
                    published.delivered += end_shared_sends(&mut sends, msg);
                    s.send_shared_now(msg)
                }
            };
            match delivery {
                Delivery::Queued | Delivery::Deferred => published.delivered += 1,
                Delivery::MidFragment => published.dropped += 1,
                Delivery::Closing => {}
                Delivery::OverLimit => match self.policy {
                    SlowSubscriber::Drop => published.dropped += 1,
                    SlowSubscriber::Close(_) => slow.push(s.clone()),
                },
            }
        }
        published.delivered += end_shared_sends(&mut sends, msg);
    }
}

/// Sends a batch of idle subscribers' writes of `msg` and records each (unlocking its outbox);
/// how many were delivered. At a low publish rate a delivery is mostly the kernel's work per
/// `send`, and one `io_uring_enter` for the batch costs a fraction of a system call per subscriber.
fn end_shared_sends(sends: &mut SendBatch<SharedSend<'_>>, msg: &mut Prepared<'_>) -> usize {
    sends.send(|send, n| {
        let frame = msg.shared_frame(send.setting);
        send.end(frame, n);
    })
}
