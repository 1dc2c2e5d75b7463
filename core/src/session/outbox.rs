//! The bounded outgoing queue: frames encoded at enqueue time, coalesced, written by one writer task.

use std::collections::VecDeque;

use std::io::IoSlice;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use crate::deflate::Deflater;
use crate::error::{Error, Result};
use crate::protocol::frame::{MAX_CONTROL_PAYLOAD, OPCODE_CONTINUATION, OPCODE_PONG, encode_frame, encode_header};
use crate::protocol::utf8::Utf8Validator;
use crate::protocol::{CloseFrame, Frame, FrameType};
use crate::session::DirectWrite;

/// Payloads at least this large are queued by reference instead of copied into the coalescing buffer.
const ZERO_COPY_MIN: usize = 16 * 1024;

/// Bound on automatic replies (the Pongs answering the peer's Pings) queued and not yet written,
/// whatever the write limits: past it the reader stops reading until they are written, so a peer
/// that floods Pings and reads nothing holds at most this much of the server's memory.
pub const MAX_QUEUED_REPLIES: usize = 64 * 1024;

/// Bytes waiting to be written, and the send-side protocol state (fragments, compression, close).
#[derive(Default)]
pub(crate) struct Outbox {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    /// Bytes queued and not yet handed to the socket.
    pub buffered: usize,
    /// Frames queued since the session started (flush waits for the writer to reach it).
    pub enqueued_seq: u64,
    /// A Close frame has been queued: nothing else may follow it.
    pub close_queued: bool,
    /// Sequence number of the queued Close frame.
    pub close_seq: u64,
    /// The writer has taken the Close frame.
    pub close_taken: bool,
    /// The Close frame queued (what `close_taken` hands to the socket).
    pub close_frame: Option<CloseFrame>,
    /// The writer task has a batch in flight (direct writes must not overtake it).
    pub writing: bool,
    /// The queue went over its high-water mark; `drain` is due when it falls below low water.
    pub need_drain: bool,
    /// Automatic replies (Pongs) queued since the writer last caught up with them, in bytes.
    pub replies: usize,
    /// Sequence number of the last automatic reply queued.
    pub reply_seq: u64,
    fragment: Option<(FrameType, bool)>,
    utf8: Option<Utf8Validator>,
    pub deflater: Option<Deflater>,
    /// The socket for direct writes while the session lives; dropped when it ends, so the socket
    /// closes then even while handles to the session are still held (a binding's wrapper object).
    pub direct: Option<Arc<dyn DirectWrite>>,
}

/// What the writer takes in one go.
pub(crate) struct Batch {
    pub chunks: Vec<Bytes>,
    pub seq: u64,
    pub has_close: bool,
}

impl Outbox {
    /// Validates and encodes a user frame (data or Ping/Pong); the caller checked state and limits.
    pub fn push_user(&mut self, frame: &Frame, compress: Option<bool>, mask: Option<[u8; 4]>) -> Result<usize> {
        if frame.rsv2 || frame.rsv3 {
            return Err(Error::invalid("RSV2/RSV3 cannot be set: no extension uses them"));
        }
        match frame.kind {
            FrameType::Close => Err(Error::invalid("send a Close frame with close(code, reason)")),
            FrameType::Ping | FrameType::Pong => {
                if !frame.fin {
                    return Err(Error::invalid("control frames cannot be fragmented"));
                }
                Ok(self.push_control(frame.kind.opcode(), &frame.data, mask)?)
            }
            FrameType::Text | FrameType::Binary => self.push_data(frame, compress, mask),
        }
    }

    fn push_data(&mut self, frame: &Frame, compress: Option<bool>, mask: Option<[u8; 4]>) -> Result<usize> {
        let (opcode, compressed) = match self.fragment {
            Some((kind, _)) if kind != frame.kind => {
                return Err(Error::invalid(format!(
                    "a fragmented {} message is in progress; finish it before sending {}",
                    kind.as_str(),
                    frame.kind.as_str()
                )));
            }
            Some((_, compressed)) => (OPCODE_CONTINUATION, compressed),
            None => {
                let compressed = match &self.deflater {
                    Some(d) => compress.unwrap_or_else(|| d.wants(frame.data.len())),
                    None => false,
                };
                (frame.kind.opcode(), compressed)
            }
        };
        if frame.kind == FrameType::Text {
            let mut v = self.utf8.take().unwrap_or_default();
            if v.feed(&frame.data, frame.fin).is_err() {
                return Err(Error::invalid("text frame is not valid UTF-8"));
            }
            if !frame.fin {
                self.utf8 = Some(v);
            }
        }
        self.fragment = if frame.fin { None } else { Some((frame.kind, compressed)) };
        let rsv1 = compressed && opcode != OPCODE_CONTINUATION;
        let len = if compressed {
            let mut out = Vec::new();
            self.deflater.as_mut().expect("compressed only with a deflater").compress(&frame.data, frame.fin, &mut out);
            self.push_encoded(opcode, frame.fin, rsv1, Bytes::from(out), mask)
        } else {
            self.push_encoded(opcode, frame.fin, rsv1, frame.data.clone(), mask)
        };
        Ok(len)
    }

    /// Whether a fragmented message is in progress (only its continuations or control frames may follow).
    pub fn in_fragment(&self) -> bool {
        self.fragment.is_some()
    }

    /// Queues a complete data frame encoded once for many sessions (a topic publish): copied into the
    /// coalescing buffer when small, queued by reference when large. The caller checked state, limits
    /// and `in_fragment`.
    pub fn push_shared(&mut self, frame: &Bytes) -> usize {
        if frame.len() < ZERO_COPY_MIN {
            self.tail.extend_from_slice(frame);
        } else {
            if !self.tail.is_empty() {
                self.chunks.push_back(self.tail.split().freeze());
            }
            self.chunks.push_back(frame.clone());
        }
        self.account(frame.len())
    }

    /// Queues the automatic Pong answering a Ping, unless the replies not yet written would exceed
    /// [`MAX_QUEUED_REPLIES`]: then `Err(seq)`, the sequence number to wait for (the writer has
    /// taken every queued reply) before trying again. `written` is the last sequence number written.
    pub fn push_reply(&mut self, payload: &[u8], mask: Option<[u8; 4]>, written: u64) -> Result<(), u64> {
        if written >= self.reply_seq {
            self.replies = 0;
        }
        let size = 2 + payload.len() + if mask.is_some() { 4 } else { 0 };
        if self.replies > 0 && self.replies + size > MAX_QUEUED_REPLIES {
            return Err(self.reply_seq);
        }
        self.push_control(OPCODE_PONG, payload, mask).expect("a ping payload is at most 125 bytes");
        self.replies += size;
        self.reply_seq = self.enqueued_seq;
        Ok(())
    }

    /// Queues a control frame (Ping/Pong/Close payload already built).
    pub fn push_control(&mut self, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Result<usize> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(Error::invalid(format!(
                "control frame payload is {} bytes; the limit is {MAX_CONTROL_PAYLOAD}",
                payload.len()
            )));
        }
        let before = self.tail.len();
        encode_frame(&mut self.tail, opcode, true, false, payload, mask);
        Ok(self.account(self.tail.len() - before))
    }

    fn push_encoded(&mut self, opcode: u8, fin: bool, rsv1: bool, payload: Bytes, mask: Option<[u8; 4]>) -> usize {
        let before = self.tail.len();
        if payload.len() < ZERO_COPY_MIN || mask.is_some() {
            encode_frame(&mut self.tail, opcode, fin, rsv1, &payload, mask);
            return self.account(self.tail.len() - before);
        }
        encode_header(&mut self.tail, opcode, fin, rsv1, payload.len(), None);
        let head = self.tail.len() - before;
        self.chunks.push_back(self.tail.split().freeze());
        let len = payload.len();
        self.chunks.push_back(payload);
        self.account(head + len)
    }

    fn account(&mut self, bytes: usize) -> usize {
        self.buffered += bytes;
        self.enqueued_seq += 1;
        bytes
    }

    /// Writes what the socket takes right now, without waiting. `Some((seq, has_close))` when
    /// everything queued went out; `None` when something is left for the writer task.
    pub fn write_direct(&mut self, direct: &dyn DirectWrite) -> Option<(u64, bool)> {
        if self.chunks.is_empty() {
            // The common case: only small frames, all in the coalescing buffer — reuse it.
            let n = direct.try_write(&self.tail).unwrap_or(0);
            self.buffered -= n;
            if n < self.tail.len() {
                self.tail.advance(n);
                return None;
            }
            self.tail.clear();
            return Some(self.all_written());
        }
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        // Straight from the queue (no batch, no allocation); what is not taken stays queued.
        loop {
            let n = {
                let mut slices = [IoSlice::new(&[]); MAX_IOV];
                let count = io_slices(&self.chunks, &mut slices);
                match direct.try_write_vectored(&slices[..count]) {
                    Ok(n) if n > 0 => n,
                    _ => return None,
                }
            };
            self.buffered -= n;
            consume_front(&mut self.chunks, n);
            if self.chunks.is_empty() {
                return Some(self.all_written());
            }
        }
    }

    /// Everything queued reached the socket: the sequence number to publish, and whether the
    /// Close frame was among it (first time only).
    fn all_written(&mut self) -> (u64, bool) {
        let has_close = self.close_queued && !self.close_taken;
        self.close_taken |= has_close;
        (self.enqueued_seq, has_close)
    }

    /// Takes everything queued, for one write.
    pub fn take(&mut self) -> Option<Batch> {
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        if self.chunks.is_empty() {
            return None;
        }
        let has_close = self.close_queued && !self.close_taken;
        self.close_taken |= has_close;
        Some(Batch { chunks: self.chunks.drain(..).collect(), seq: self.enqueued_seq, has_close })
    }
}

/// At most this many chunks go into one vectored write (well under any IOV_MAX).
pub(crate) const MAX_IOV: usize = 64;

/// Points `out` at the first chunks, for one vectored write; returns how many it holds.
pub(crate) fn io_slices<'a>(chunks: impl IntoIterator<Item = &'a Bytes>, out: &mut [IoSlice<'a>]) -> usize {
    let mut count = 0;
    for (slot, chunk) in out.iter_mut().zip(chunks) {
        *slot = IoSlice::new(chunk);
        count += 1;
    }
    count
}

/// Drops `n` written bytes from the front of the queue (and any empty chunks there).
fn consume_front(chunks: &mut VecDeque<Bytes>, mut n: usize) {
    while let Some(front) = chunks.front_mut() {
        if n < front.len() {
            front.advance(n);
            return;
        }
        n -= front.len();
        chunks.pop_front();
    }
}

/// Consumes `n` written bytes from the front of `chunks`; returns how many chunks are done.
pub(crate) fn advance(chunks: &mut [Bytes], mut n: usize) -> usize {
    let mut done = 0;
    while n > 0 {
        let c = &mut chunks[done];
        if n >= c.len() {
            n -= c.len();
            done += 1;
        } else {
            c.advance(n);
            n = 0;
        }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_become_continuations_and_cannot_interleave_types() {
        let mut ob = Outbox::default();
        ob.push_user(&Frame::text("a").with_fin(false), None, None).unwrap();
        let err = ob.push_user(&Frame::binary(&b"b"[..]), None, None).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
        ob.push_user(&Frame::ping(&b"p"[..]), None, None).unwrap();
        ob.push_user(&Frame::text("b"), None, None).unwrap();
        let batch = ob.take().unwrap();
        let wire: Vec<u8> = batch.chunks.concat();
        assert_eq!(wire, [0x01, 1, b'a', 0x89, 1, b'p', 0x80, 1, b'b']);
        assert_eq!(batch.seq, 3);
    }

    #[test]
    fn oversize_control_payload_and_invalid_text_are_rejected_without_queueing() {
        let mut ob = Outbox::default();
        assert!(ob.push_user(&Frame::ping(vec![0u8; 126]), None, None).is_err());
        let bad = Frame::new(FrameType::Text, &b"\xff"[..]);
        assert!(ob.push_user(&bad, None, None).is_err());
        assert!(ob.take().is_none());
        assert_eq!(ob.buffered, 0);
    }

    /// A socket that takes `budget` bytes in total, then would block.
    struct Limited {
        budget: std::sync::Mutex<usize>,
        out: std::sync::Mutex<Vec<u8>>,
    }

    impl DirectWrite for Limited {
        fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
            let mut budget = self.budget.lock().unwrap();
            if *budget == 0 {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(*budget - n).min(1000);
                self.out.lock().unwrap().extend_from_slice(&b[..take]);
                n += take;
                if take < b.len() {
                    break;
                }
            }
            *budget -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_partial_direct_write_leaves_the_rest_queued_in_order() {
        let mut ob = Outbox::default();
        let big: Vec<u8> = (0..40_000u32).map(|i| (i % 253) as u8).collect();
        ob.push_user(&Frame::text("head"), None, None).unwrap();
        ob.push_user(&Frame::binary(big.clone()), None, None).unwrap();
        ob.push_user(&Frame::text("tail"), None, None).unwrap();
        let total = ob.buffered;
        let sock = Limited { budget: std::sync::Mutex::new(25_000), out: Default::default() };
        assert_eq!(ob.write_direct(&sock), None, "the socket took only part of it");
        assert_eq!(ob.buffered, total - 25_000);
        let mut wire = sock.out.into_inner().unwrap();
        wire.extend(ob.take().expect("the rest is still queued").chunks.concat());
        let mut expected = vec![0x81, 4];
        expected.extend_from_slice(b"head");
        expected.extend_from_slice(&[0x82, 126, 0x9c, 0x40]);
        expected.extend_from_slice(&big);
        expected.extend_from_slice(&[0x81, 4]);
        expected.extend_from_slice(b"tail");
        assert!(wire == expected, "the bytes on the wire are the frames in order");
    }

    #[test]
    fn automatic_replies_stop_at_their_own_bound_until_the_writer_takes_them() {
        let mut ob = Outbox::default();
        let payload = [7u8; 125];
        let mut queued = 0;
        let wait_for = loop {
            match ob.push_reply(&payload, None, 0) {
                Ok(()) => queued += 1,
                Err(seq) => break seq,
            }
        };
        assert_eq!(queued, MAX_QUEUED_REPLIES / 127);
        assert_eq!(wait_for, queued as u64);
        assert!(ob.push_reply(&payload, None, wait_for - 1).is_err(), "one reply still unwritten");
        ob.push_reply(&payload, None, wait_for).expect("all written: room again");
        assert_eq!(ob.buffered, (queued + 1) * 127);
    }

    #[test]
    fn a_shared_frame_is_copied_when_small_and_queued_by_reference_when_large() {
        let mut ob = Outbox::default();
        let small = Bytes::from_static(&[0x81, 2, b'h', b'i']);
        let large = Bytes::from(vec![7u8; ZERO_COPY_MIN]);
        assert_eq!(ob.push_shared(&small), 4);
        assert_eq!(ob.push_shared(&large), ZERO_COPY_MIN);
        assert_eq!((ob.buffered, ob.enqueued_seq), (4 + ZERO_COPY_MIN, 2));
        let batch = ob.take().unwrap();
        assert_eq!(batch.chunks[0], small);
        assert_eq!(batch.chunks[1].as_ptr(), large.as_ptr(), "the large frame is the caller's bytes");
        ob.push_user(&Frame::text("a").with_fin(false), None, None).unwrap();
        assert!(ob.in_fragment(), "a shared data frame may not go in now");
    }

    #[test]
    fn large_payloads_are_queued_without_copying() {
        let mut ob = Outbox::default();
        let payload = Bytes::from(vec![5u8; 100_000]);
        ob.push_user(&Frame::binary(payload.clone()), None, None).unwrap();
        let batch = ob.take().unwrap();
        assert_eq!(batch.chunks.len(), 2);
        assert_eq!(batch.chunks[1].as_ptr(), payload.as_ptr());
    }
}
