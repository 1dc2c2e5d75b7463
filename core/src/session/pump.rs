//! The byte pump: a session on a stream the core cannot own as a socket (TLS terminated by the host
//! runtime, a test harness, any duplex). The session runs on one end of a bounded in-memory
//! [`DuplexStream`], an ordinary [`Transport`](super::Transport); the host holds the other end as a
//! [`BytePump`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex as StdMutex;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::sync::{Mutex, Notify};

use crate::error::{Error, Result};

/// Bytes buffered in each direction before the writing side waits (the pump's backpressure bound).
pub const PUMP_BUFFER: usize = 64 * 1024;

/// The host's end of a byte pump. Push what the host's stream received, pull what the session wrote
/// and send it on; `end` or `fail` when the host's stream ends. Usable from any thread and any async
/// runtime (nothing in it needs the core's runtime); one `push` and one `pull` may run concurrently.
///
/// End of stream or an error on either side ends the session as a TCP EOF or reset would: its close
/// reason is 1006 (abnormal) unless a Close was exchanged first.
pub struct BytePump {
    /// The host's end; `None` after `fail`.
    stream: StdMutex<Option<DuplexStream>>,
    /// One push at a time keeps bytes in order (and keeps the pipe's single writer waker ours).
    pushing: Mutex<()>,
    /// One pull at a time (the pipe has a single reader waker).
    pulling: Mutex<()>,
    /// Wakes pending pushes and pulls when `fail` drops the stream.
    failed: Notify,
}

impl std::fmt::Debug for BytePump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BytePump").finish_non_exhaustive()
    }
}

/// A new pump: the session's transport and the host's end.
pub fn pump() -> (DuplexStream, BytePump) {
    let (session_side, host_side) = tokio::io::duplex(PUMP_BUFFER);
    let pump = BytePump {
        stream: StdMutex::new(Some(host_side)),
        pushing: Mutex::new(()),
        pulling: Mutex::new(()),
        failed: Notify::new(),
    };
    (session_side, pump)
}

/// The pump has no session side any more (ended, failed, or the session finished).
fn gone() -> Error {
    Error::Closed(None)
}

impl BytePump {
    /// Polls the host's end with `f`; `None` once `fail` dropped it.
    fn poll_stream<T>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(Pin<&mut DuplexStream>, &mut Context<'_>) -> Poll<T>,
    ) -> Poll<Option<T>> {
        match self.stream.lock().unwrap().as_mut() {
            Some(s) => f(Pin::new(s), cx).map(Some),
            None => Poll::Ready(None),
        }
    }

    /// Runs `fut` unless `fail` happens first (`None` then).
    async fn unless_failed<T>(&self, fut: impl Future<Output = Option<T>>) -> Option<T> {
        let failed = self.failed.notified();
        tokio::pin!(failed);
        failed.as_mut().enable();
        if self.stream.lock().unwrap().is_none() {
            return None;
        }
        tokio::select! {
            biased;
            _ = failed => None,
            out = fut => out,
        }
    }

    /// Hands `data` (received from the peer) to the session, waiting while the pump's buffer is full:
    /// the session reads only as fast as it handles messages, so a pending push is the signal to stop
    /// reading the host's stream. Fails with [`Error::Closed`] once the pump was ended or failed or
    /// the session's side is gone.
    pub async fn push(&self, mut data: &[u8]) -> Result<()> {
        let _one = self.pushing.lock().await;
        while !data.is_empty() {
            let write = std::future::poll_fn(|cx| self.poll_stream(cx, |s, cx| s.poll_write(cx, data)));
            match self.unless_failed(write).await {
                Some(Ok(n)) if n > 0 => data = &data[n..],
                _ => return Err(gone()),
            }
        }
        Ok(())
    }

    /// As [`BytePump::push`] without waiting: takes what fits now and returns how many bytes that was
    /// (0 when the buffer is full or another push is in progress).
    pub fn try_push(&self, data: &[u8]) -> Result<usize> {
        let Ok(_one) = self.pushing.try_lock() else { return Ok(0) };
        let waker = futures_util::task::noop_waker();
        match self.poll_stream(&mut Context::from_waker(&waker), |s, cx| s.poll_write(cx, data)) {
            Poll::Ready(Some(Ok(n))) => Ok(n),
            Poll::Ready(_) => Err(gone()),
            Poll::Pending => Ok(0),
        }
    }

    /// The next bytes the session wrote (at most `max`), to send to the peer; waits until there are
    /// some. `None` once the session has shut its side (after the closing handshake, or on terminate)
    /// and everything before it was pulled, or after `fail`: then close the host's stream.
    pub async fn pull(&self, max: usize) -> Option<Bytes> {
        let _one = self.pulling.lock().await;
        let read = std::future::poll_fn(|cx| self.poll_stream(cx, |s, cx| poll_chunk(s, cx, max)));
        self.unless_failed(read).await.flatten()
    }

    /// As [`BytePump::pull`] without waiting: `Ok(Some(bytes))`, `Ok(None)` at the end, and
    /// [`Error::WouldBlock`] when nothing is ready yet (or another pull is in progress).
    pub fn try_pull(&self, max: usize) -> Result<Option<Bytes>> {
        let Ok(_one) = self.pulling.try_lock() else { return Err(Error::WouldBlock) };
        let waker = futures_util::task::noop_waker();
        match self.poll_stream(&mut Context::from_waker(&waker), |s, cx| poll_chunk(s, cx, max)) {
            Poll::Ready(out) => Ok(out.flatten()),
            Poll::Pending => Err(Error::WouldBlock),
        }
    }

    /// The host's stream reached its end (the peer's FIN): the session reads end of stream after every
    /// byte pushed before. Later pushes fail; pulls go on until the session has finished writing.
    pub async fn end(&self) {
        let _one = self.pushing.lock().await;
        let shutdown = std::future::poll_fn(|cx| self.poll_stream(cx, |s, cx| s.poll_shutdown(cx)));
        let _ = shutdown.await;
    }

    /// The host's stream failed (reset, TLS error) or was destroyed: the session ends at once as on a
    /// TCP reset (1006 unless a Close was exchanged), pending and later pushes fail, pulls end.
    pub fn fail(&self) {
        // Dropping the host's end closes both directions for the session.
        let stream = self.stream.lock().unwrap().take();
        drop(stream);
        self.failed.notify_waiters();
    }
}

impl Drop for BytePump {
    fn drop(&mut self) {
        self.fail();
    }
}

/// Reads up to `max` bytes; `None` at end of stream.
fn poll_chunk(s: Pin<&mut DuplexStream>, cx: &mut Context<'_>, max: usize) -> Poll<Option<Bytes>> {
    let mut chunk = BytesMut::zeroed(max.clamp(1, PUMP_BUFFER));
    let mut buf = ReadBuf::new(&mut chunk);
    match s.poll_read(cx, &mut buf) {
        Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
            let n = buf.filled().len();
            chunk.truncate(n);
            Poll::Ready(Some(chunk.freeze()))
        }
        Poll::Ready(_) => Poll::Ready(None),
        Poll::Pending => Poll::Pending,
    }
}
