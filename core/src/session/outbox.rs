//! The bounded outgoing queue around the connection's send half: what is queued and not yet written,
//! direct writes from the sending thread, automatic-reply bounds and the drain flag.

use std::collections::VecDeque;

use std::io::IoSlice;
use std::sync::Arc;

use bytes::{Buf, Bytes};

use crate::deflate::SharedSetting;
use crate::error::Result;
use crate::protocol::{Frame, SendHalf, Violation};
use crate::session::DirectWrite;

/// Bound on automatic replies (the Pongs answering the peer's Pings) queued and not yet written,
/// whatever the write limits: past it the reader stops reading until they are written, so a peer
/// that floods Pings and reads nothing holds at most this much of the server's memory.
pub const MAX_QUEUED_REPLIES: usize = 64 * 1024;

/// The connection's send half (state, closing handshake, encoder and its output) and the write
/// bookkeeping around it; one lock guards both, so a sender encodes and writes in one go.
pub(crate) struct Outbox {
    /// The sans-I/O connection without its decoder.
    pub conn: SendHalf,
    /// Bytes queued and not yet handed to the socket.
    pub buffered: usize,
    /// The writer task has a batch in flight (direct writes must not overtake it).
    pub writing: bool,
    /// The queue went over its high-water mark; `drain` is due when it falls below low water.
    pub need_drain: bool,
    /// Automatic replies (Pongs) queued since the writer last caught up with them, in bytes.
    pub replies: usize,
    /// Sequence number of the last automatic reply queued.
    pub reply_seq: u64,
    /// What a shared (topic) frame needs to know of the negotiated compressor, if any.
    pub compression: Option<CompressShape>,
    /// The socket for direct writes while the session lives; dropped when it ends, so the socket
    /// closes then even while handles to the session are still held (a binding's wrapper object).
    pub direct: Option<Arc<dyn DirectWrite>>,
    /// `direct`'s descriptor (see [`DirectWrite::raw_fd`]), set and cleared with it by
    /// [`Outbox::set_direct`]: open whenever it is `Some`, as `direct` owns its socket.
    #[cfg(unix)]
    direct_fd: Option<std::os::fd::RawFd>,
}

/// What a frame encoded once for many sessions needs to know of a session's compressor: which
/// messages it compresses, and the setting its compressed frames can be shared under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompressShape {
    /// Messages from this size on are compressed unless the sender says.
    pub threshold: usize,
    /// The shareable setting (`server_no_context_takeover`), or none: the session compresses itself.
    pub shared: Option<SharedSetting>,
}

/// What the writer takes in one go.
pub(crate) struct Batch {
    pub chunks: Vec<Bytes>,
    pub seq: u64,
    pub has_close: bool,
}

impl Outbox {
    /// An empty queue for an open connection (`masking`: mask outgoing frames).
    pub fn new(masking: bool) -> Self {
        Self {
            conn: SendHalf::new(masking),
            buffered: 0,
            writing: false,
            need_drain: false,
            replies: 0,
            reply_seq: 0,
            compression: None,
            direct: None,
            #[cfg(unix)]
            direct_fd: None,
        }
    }

    /// Sets (or, with `None`, drops) the socket for direct writes, and the descriptor kept beside it.
    pub fn set_direct(&mut self, direct: Option<Arc<dyn DirectWrite>>) {
        #[cfg(unix)]
        {
            self.direct_fd = direct.as_ref().and_then(|d| d.raw_fd());
        }
        self.direct = direct;
    }

    /// The sequence number of the last frame queued (flush waits for the writer to reach it).
    pub fn seq(&mut self) -> u64 {
        self.conn.output().seq()
    }

    /// Validates and encodes a user frame (data or Ping/Pong); the caller checked limits.
    pub fn push_user(&mut self, frame: &Frame, compress: Option<bool>) -> Result<usize> {
        let n = self.conn.send(frame, compress)?;
        self.buffered += n;
        Ok(n)
    }

    /// Queues a Ping the session sends (the pinger's or the user's).
    pub fn push_ping(&mut self, payload: &[u8]) -> Result<usize> {
        let n = self.conn.ping(payload)?;
        self.buffered += n;
        Ok(n)
    }

    /// Queues our Close (see [`SendHalf::close`]); whether it was queued now.
    pub fn close(&mut self, code: u16, reason: &str) -> bool {
        self.counted(|c| c.close(code, reason))
    }

    /// Fails the connection (see [`SendHalf::fail`]); whether its Close was queued now.
    pub fn fail(&mut self, violation: Violation) -> bool {
        self.counted(|c| c.fail(violation))
    }

    /// The peer's Close arrived (see [`SendHalf::receive_close`]); whether our echo was queued now.
    pub fn receive_close(&mut self, frame: Option<(u16, String)>) -> bool {
        self.counted(|c| {
            let echo = c.close_seq().is_none();
            c.receive_close(frame);
            echo
        })
    }

    /// Runs a send-half step that may queue a control frame (they always land in the coalescing
    /// buffer) and counts what it added.
    fn counted<T>(&mut self, f: impl FnOnce(&mut SendHalf) -> T) -> T {
        let before = self.conn.output().tail.len();
        let out = f(&mut self.conn);
        self.buffered += self.conn.output().tail.len() - before;
        out
    }

    /// Whether a fragmented message is in progress (only its continuations or control frames may follow).
    pub fn in_fragment(&self) -> bool {
        self.conn.in_fragment()
    }

    /// Queues a complete data frame encoded once for many sessions (a topic publish): copied into the
    /// coalescing buffer when small, queued by reference when large (see [`SendHalf::send_encoded`]).
    /// The caller checked limits.
    pub fn push_shared(&mut self, frame: &Bytes) -> Result<usize> {
        let n = self.conn.send_encoded(frame.clone())?;
        self.buffered += n;
        Ok(n)
    }

    /// Sends a complete data frame encoded once for many sessions (a topic publish) on an idle
    /// queue straight from `frame`, not through this session's coalescing buffer (cold at a low
    /// publish rate): counted as queued, handed to the socket, and only what the socket did not
    /// take stays queued, by reference. `Some((seq, has_close))` as [`Outbox::write_direct`] when
    /// all of it went out. The caller checked limits, that nothing is queued or being written, and
    /// that there is a socket for direct writes.
    #[cfg(test)]
    pub fn send_shared_direct(&mut self, frame: &Bytes) -> Result<Option<(u64, bool)>> {
        self.begin_shared_direct()?;
        let n = self.write_idle(frame);
        Ok(self.end_shared_direct(frame, n))
    }

    /// The first half of [`Outbox::send_shared_direct`]: counts the frame as queued (with no bytes:
    /// a frame the connection cannot take now never reaches the wire). Its bytes are then due to
    /// the socket, before anything queued after it.
    pub fn begin_shared_direct(&mut self) -> Result<()> {
        self.conn.send_encoded(Bytes::new())?;
        Ok(())
    }

    /// The second half of [`Outbox::send_shared_direct`]: the socket took `n` bytes of `frame`;
    /// queues the rest by reference. `Some((seq, has_close))` as [`Outbox::write_direct`] when all
    /// of it went out.
    pub fn end_shared_direct(&mut self, frame: &Bytes, n: usize) -> Option<(u64, bool)> {
        if n >= frame.len() {
            return Some(self.all_written());
        }
        self.conn.output().chunks.push_back(frame.slice(n..));
        self.buffered += frame.len() - n;
        None
    }

    /// Everything queued, when it is one buffer: only small frames, all in the coalescing buffer.
    pub fn tail_only(&mut self) -> Option<&[u8]> {
        let out = self.conn.output();
        (out.chunks.is_empty() && !out.tail.is_empty()).then_some(&out.tail[..])
    }

    /// The socket took `n` bytes of the coalescing buffer, all that was queued ([`Outbox::tail_only`]):
    /// `Some((seq, has_close))` as [`Outbox::write_direct`] when that was all of it.
    pub fn end_tail_write(&mut self, n: usize) -> Option<(u64, bool)> {
        let out = self.conn.output();
        self.buffered -= n;
        if n < out.tail.len() {
            out.tail.advance(n);
            return None;
        }
        out.tail.clear();
        Some(self.all_written())
    }

    /// The descriptor kept beside the socket for direct writes (see [`DirectWrite::raw_fd`]).
    #[cfg(unix)]
    pub fn direct_fd(&self) -> Option<std::os::fd::RawFd> {
        self.direct_fd
    }

    /// Writes what the socket accepts now from `buf` on an idle queue (nothing of ours is waiting for
    /// the socket's readiness): straight to `send(2)` on the kept descriptor when there is one.
    pub fn write_idle(&self, buf: &[u8]) -> usize {
        #[cfg(unix)]
        if let Some(fd) = self.direct_fd {
            // SAFETY: `direct_fd` is `direct`'s descriptor, set and cleared with it, and `direct`
            // owns the socket, so it is open while `self` (locked by the caller) holds it.
            return unsafe { crate::transport::send_unchecked(fd, buf) }.unwrap_or(0);
        }
        self.direct.as_ref().map_or(0, |d| d.try_write(buf).unwrap_or(0))
    }

    /// Queues the automatic Pong answering a Ping, unless the replies not yet written would exceed
    /// [`MAX_QUEUED_REPLIES`]: then `Err(seq)`, the sequence number to wait for (the writer has
    /// taken every queued reply) before trying again. `written` is the last sequence number written.
    /// Nothing is queued once our Close is.
    pub fn push_reply(&mut self, payload: &[u8], written: u64) -> Result<(), u64> {
        if written >= self.reply_seq {
            self.replies = 0;
        }
        let size = 2 + payload.len() + if self.conn.masking() { 4 } else { 0 };
        if self.replies > 0 && self.replies + size > MAX_QUEUED_REPLIES {
            return Err(self.reply_seq);
        }
        if self.counted(|c| c.reply(payload)).is_some() {
            self.replies += size;
            self.reply_seq = self.seq();
        }
        Ok(())
    }

    /// Writes what the socket takes right now, without waiting. `Some((seq, has_close))` when
    /// everything queued went out; `None` when something is left for the writer task.
    pub fn write_direct(&mut self, direct: &dyn DirectWrite) -> Option<(u64, bool)> {
        let out = self.conn.output();
        if out.chunks.is_empty() {
            // The common case: only small frames, all in the coalescing buffer — reuse it.
            let n = direct.try_write(&out.tail).unwrap_or(0);
            return self.end_tail_write(n);
        }
        if !out.tail.is_empty() {
            let tail = out.tail.split().freeze();
            out.chunks.push_back(tail);
        }
        // Straight from the queue (no batch, no allocation); what is not taken stays queued.
        loop {
            let out = self.conn.output();
            let n = {
                let mut slices = [IoSlice::new(&[]); MAX_IOV];
                let count = io_slices(&out.chunks, &mut slices);
                match direct.try_write_vectored(&slices[..count]) {
                    Ok(n) if n > 0 => n,
                    _ => return None,
                }
            };
            consume_front(&mut out.chunks, n);
            let empty = out.chunks.is_empty();
            self.buffered -= n;
            if empty {
                return Some(self.all_written());
            }
        }
    }

    /// Everything queued reached the socket: the sequence number to publish, and whether the
    /// Close frame was among it (first time only).
    fn all_written(&mut self) -> (u64, bool) {
        let seq = self.seq();
        (seq, self.conn.handed_over(seq))
    }

    /// Takes everything queued, for one write.
    pub fn take(&mut self) -> Option<Batch> {
        if self.conn.output().is_empty() {
            return None;
        }
        let seq = self.seq();
        let chunks = self.conn.output().take();
        let has_close = self.conn.handed_over(seq);
        Some(Batch { chunks, seq, has_close })
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
        let mut ob = Outbox::new(false);
        let big: Vec<u8> = (0..40_000u32).map(|i| (i % 253) as u8).collect();
        ob.push_user(&Frame::text("head"), None).unwrap();
        ob.push_user(&Frame::binary(big.clone()), None).unwrap();
        ob.push_user(&Frame::text("tail"), None).unwrap();
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
    fn a_shared_frame_sent_directly_leaves_what_the_socket_did_not_take_queued_by_reference() {
        let mut ob = Outbox::new(false);
        let frame: Bytes = (0..800u32).map(|i| (i % 251) as u8).collect();
        let whole = Arc::new(Limited { budget: std::sync::Mutex::new(usize::MAX), out: Default::default() });
        ob.set_direct(Some(whole));
        assert_eq!(ob.send_shared_direct(&frame).unwrap(), Some((1, false)), "an open socket takes it all");
        assert_eq!(ob.buffered, 0, "nothing left queued");
        let sock = Arc::new(Limited { budget: std::sync::Mutex::new(300), out: Default::default() });
        ob.set_direct(Some(sock.clone()));
        assert_eq!(ob.send_shared_direct(&frame).unwrap(), None, "this socket takes 300 bytes");
        assert_eq!((ob.buffered, ob.seq()), (500, 2));
        let rest = ob.take().expect("the rest is queued").chunks;
        assert_eq!(rest[0].as_ptr(), frame[300..].as_ptr(), "the rest is the publisher's bytes");
        let mut wire = sock.out.lock().unwrap().clone();
        wire.extend(rest.concat());
        assert!(wire == frame, "the socket sees the frame whole and in order");
        ob.push_user(&Frame::text("a").with_fin(false), None).unwrap();
        let nothing = Arc::new(Limited { budget: std::sync::Mutex::new(usize::MAX), out: Default::default() });
        ob.set_direct(Some(nothing.clone()));
        assert!(ob.send_shared_direct(&frame).is_err(), "refused inside a fragmented message");
        assert!(nothing.out.lock().unwrap().is_empty(), "and nothing reached the socket");
    }

    #[test]
    fn automatic_replies_stop_at_their_own_bound_until_the_writer_takes_them() {
        let mut ob = Outbox::new(false);
        let payload = [7u8; 125];
        let mut queued = 0;
        let wait_for = loop {
            match ob.push_reply(&payload, 0) {
                Ok(()) => queued += 1,
                Err(seq) => break seq,
            }
        };
        assert_eq!(queued, MAX_QUEUED_REPLIES / 127);
        assert_eq!(wait_for, queued as u64);
        assert!(ob.push_reply(&payload, wait_for - 1).is_err(), "one reply still unwritten");
        ob.push_reply(&payload, wait_for).expect("all written: room again");
        assert_eq!(ob.buffered, (queued + 1) * 127);
    }

    #[test]
    fn a_shared_frame_is_copied_when_small_and_queued_by_reference_when_large() {
        let mut ob = Outbox::new(false);
        let small = Bytes::from_static(&[0x81, 2, b'h', b'i']);
        let large = Bytes::from(vec![7u8; 64 * 1024]);
        assert_eq!(ob.push_shared(&small).unwrap(), 4);
        assert_eq!(ob.push_shared(&large).unwrap(), 64 * 1024);
        assert_eq!((ob.buffered, ob.seq()), (4 + 64 * 1024, 2));
        let batch = ob.take().unwrap();
        assert_eq!(batch.chunks[0], small);
        assert_eq!(batch.chunks[1].as_ptr(), large.as_ptr(), "the large frame is the caller's bytes");
        ob.push_user(&Frame::text("a").with_fin(false), None).unwrap();
        assert!(ob.in_fragment(), "a shared data frame may not go in now");
    }

    #[test]
    fn large_payloads_are_queued_without_copying() {
        let mut ob = Outbox::new(false);
        let payload = Bytes::from(vec![5u8; 100_000]);
        ob.push_user(&Frame::binary(payload.clone()), None).unwrap();
        let batch = ob.take().unwrap();
        assert_eq!(batch.chunks.len(), 2);
        assert_eq!(batch.chunks[1].as_ptr(), payload.as_ptr());
    }
}
