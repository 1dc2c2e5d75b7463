//! Delivering one publish to a topic's local subscribers: framed once, compressed once per
//! shareable deflate setting, never waiting for any subscriber.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};

use super::{Hub, Published, SlowSubscriber};
use crate::deflate::{Deflater, SharedSetting};
use crate::protocol::frame::encode_frame;
use crate::protocol::{Frame, FrameType};
use crate::session::{Delivery, Session, SharedMessage};

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

/// Subscribers with deferred writes, flushed by one task per burst of publishes: every publish
/// made before that task runs (a batch of messages the publisher's reader decoded, or a fast
/// publishing thread) leaves in one write per subscriber, as uWebSockets drains its topic tree once
/// per event-loop iteration. At a low rate a burst is one publish: one write per subscriber.
#[derive(Default)]
pub(crate) struct Flusher {
    pending: Mutex<Vec<Session>>,
    scheduled: AtomicBool,
}

impl Flusher {
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

    /// Writes every deferred subscriber (the flush task, or the end of a host batch).
    pub(super) fn flush_pending(&self) {
        let sessions = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for s in &sessions {
            s.flush_shared();
        }
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
        {
            let members = t.members();
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
}
