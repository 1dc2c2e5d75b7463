//! The byte streams a session can run on: plain TCP, TLS over TCP, a Unix stream socket, or an
//! in-memory duplex.

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::sync::Arc;

use bytes::BytesMut;
use socket2::SockRef;
use tokio::io::Interest;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// A non-blocking write usable from any thread: lets a sender hand bytes straight to the socket
/// when the writer task is idle, saving a task wake-up per message.
pub trait DirectWrite: Send + Sync {
    /// Writes what the socket accepts now; `WouldBlock` when it accepts nothing.
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Writes what the socket accepts now from one buffer.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.try_write_vectored(&[IoSlice::new(buf)])
    }
    /// The socket's descriptor, when writes to it can go straight to `send(2)`: the outbox keeps
    /// it beside this writer, so a topic publish at a low rate writes each subscriber without
    /// reaching through this object and the stream (each a cold cache line by then) nor the
    /// readiness the runtime keeps for it. `None`: every write goes through this object.
    #[cfg(unix)]
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
    /// Starts a task for what a direct write left, if this writer starts one on demand (true);
    /// false when the session's writer task is woken instead.
    #[doc(hidden)]
    fn spawn_writer(&self) -> bool {
        false
    }
}

/// A connection split into independently owned read and write sides.
pub trait Transport: Send + 'static {
    /// The read side.
    type Read: Send + 'static;
    /// The write side.
    type Write: Send + 'static;
    /// Splits the connection; the third part is present when the stream supports direct writes.
    fn split(self) -> (Self::Read, Self::Write, Option<Arc<dyn DirectWrite>>);
    /// Waits until reading would make progress, so idle sessions hold no read buffer.
    fn readable(read: &Self::Read) -> impl Future<Output = io::Result<()>> + Send;
    /// Reads what is available into `buf` (0 = end of stream).
    fn read_into<'a>(read: &'a mut Self::Read, buf: &'a mut BytesMut)
    -> impl Future<Output = io::Result<usize>> + Send;
    /// Writes some of `bufs`, waiting until the socket accepts at least one byte.
    fn write_vectored<'a>(
        write: &'a mut Self::Write,
        bufs: &'a [IoSlice<'a>],
    ) -> impl Future<Output = io::Result<usize>> + Send;
    /// Flushes buffered output (TLS records).
    fn flush(write: &mut Self::Write) -> impl Future<Output = io::Result<()>> + Send;
    /// Ends the write direction (FIN, or TLS close_notify then FIN).
    fn shutdown(write: &mut Self::Write) -> impl Future<Output = io::Result<()>> + Send;
}

/// One side of a TCP connection shared by the reader, the writer and direct senders.
pub struct TcpSide(pub(crate) Arc<TcpStream>);

/// `send`/`sendmsg` flag that turns a write to a vanished peer into EPIPE instead of SIGPIPE:
/// C hosts keep SIGPIPE's default action, which would kill the whole process.
#[cfg(target_os = "linux")]
pub(crate) const NO_SIGPIPE: std::ffi::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(target_os = "linux"))]
pub(crate) const NO_SIGPIPE: std::ffi::c_int = 0;

/// `send` flag for a write that must not block whatever the descriptor's mode.
#[cfg(target_os = "linux")]
const DONT_WAIT: std::ffi::c_int = libc::MSG_DONTWAIT;
#[cfg(not(target_os = "linux"))]
const DONT_WAIT: std::ffi::c_int = 0;

impl DirectWrite for TcpStream {
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.try_io(Interest::WRITABLE, || SockRef::from(self).send_vectored_with_flags(bufs, NO_SIGPIPE))
    }
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.try_io(Interest::WRITABLE, || SockRef::from(self).send_with_flags(buf, NO_SIGPIPE))
    }
    #[cfg(unix)]
    fn raw_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(std::os::fd::AsRawFd::as_raw_fd(self))
    }
}

/// Writes what the socket `fd` accepts now from `buf`, without blocking whatever the descriptor's
/// mode and without consulting the runtime's readiness: `WouldBlock` when it accepts nothing, and
/// the writer's own write then finds the socket full and waits for it.
///
/// # Safety
/// `fd` must be an open socket for the whole call (the outbox holds the writer that owns it).
#[cfg(unix)]
pub(crate) unsafe fn send_unchecked(fd: std::os::fd::RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the caller keeps `fd` open for the call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    SockRef::from(&fd).send_with_flags(buf, NO_SIGPIPE | DONT_WAIT)
}

impl Transport for TcpStream {
    type Read = TcpSide;
    type Write = TcpSide;
    fn split(self) -> (TcpSide, TcpSide, Option<Arc<dyn DirectWrite>>) {
        let tcp = Arc::new(self);
        let direct: Arc<dyn DirectWrite> = tcp.clone();
        (TcpSide(tcp.clone()), TcpSide(tcp), Some(direct))
    }
    fn readable(read: &TcpSide) -> impl Future<Output = io::Result<()>> + Send {
        read_ready(&read.0)
    }
    async fn read_into(read: &mut TcpSide, buf: &mut BytesMut) -> io::Result<usize> {
        loop {
            read_ready(&read.0).await?;
            match try_read_draining(&read.0, buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }
    async fn write_vectored(write: &mut TcpSide, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        loop {
            write.0.writable().await?;
            match DirectWrite::try_write_vectored(&*write.0, bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }
    async fn flush(_: &mut TcpSide) -> io::Result<()> {
        Ok(())
    }
    async fn shutdown(write: &mut TcpSide) -> io::Result<()> {
        shutdown_write(&write.0)
    }
}

/// Waits for read readiness through the stream's single reader-waker slot (only the session's
/// reader task reads), which costs less per wait than `TcpStream::readable`'s waiter list.
fn read_ready(tcp: &TcpStream) -> impl Future<Output = io::Result<()>> + Send + '_ {
    std::future::poll_fn(move |cx| tcp.poll_read_ready(cx))
}

/// Reads what the socket holds into the spare capacity of `buf`, without waiting.
///
/// A read that leaves part of the spare capacity unfilled has drained the socket (epoll is
/// edge-triggered), so the read readiness is cleared right away, as tokio's own `poll_read` does:
/// the next wait parks until new bytes arrive instead of first making a read that only returns
/// `EAGAIN` (one system call saved per incoming burst). End of stream stays observable: tokio
/// never clears the read-closed state.
pub(crate) fn try_read_draining(tcp: &TcpStream, buf: &mut BytesMut) -> io::Result<usize> {
    let mut drained = None;
    let result = tcp.try_io(Interest::READABLE, || {
        let spare = buf.spare_capacity_mut();
        let room = spare.len();
        let n = SockRef::from(tcp).recv(spare)?;
        // SAFETY: `recv` initialised the first `n` bytes of the spare capacity.
        unsafe { buf.set_len(buf.len() + n) };
        if n > 0 && n < room {
            drained = Some(n);
            // Reported to `try_io` as "would block" so that it clears the readiness.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    match drained {
        Some(n) => Ok(n),
        None => result,
    }
}

/// Sends FIN; a peer that already went away is not an error.
fn shutdown_write(tcp: &TcpStream) -> io::Result<()> {
    match SockRef::from(tcp).shutdown(Shutdown::Write) {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        other => other,
    }
}

/// Transports built on tokio's AsyncRead/AsyncWrite halves (no direct writes).
macro_rules! split_transport {
    ($stream:ty) => {
        impl Transport for $stream {
            type Read = ReadHalf<$stream>;
            type Write = WriteHalf<$stream>;
            fn split(self) -> (Self::Read, Self::Write, Option<Arc<dyn DirectWrite>>) {
                let (r, w) = tokio::io::split(self);
                (r, w, None)
            }
            fn readable(_: &Self::Read) -> impl Future<Output = io::Result<()>> + Send {
                // Bytes may already be buffered inside the stream: let the read itself wait.
                std::future::ready(Ok(()))
            }
            async fn read_into(read: &mut Self::Read, buf: &mut BytesMut) -> io::Result<usize> {
                read.read_buf(buf).await
            }
            async fn write_vectored(write: &mut Self::Write, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                write.write_vectored(bufs).await
            }
            async fn flush(write: &mut Self::Write) -> io::Result<()> {
                write.flush().await
            }
            async fn shutdown(write: &mut Self::Write) -> io::Result<()> {
                write.shutdown().await
            }
        }
    };
}

/// A TCP stream for TLS whose writes never raise SIGPIPE (rustls writes through it).
pub struct NoSigPipeTcp(pub TcpStream);

impl tokio::io::AsyncRead for NoSigPipeTcp {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for NoSigPipeTcp {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }
    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        loop {
            std::task::ready!(self.0.poll_write_ready(cx))?;
            match DirectWrite::try_write_vectored(&self.0, bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                other => return std::task::Poll::Ready(other),
            }
        }
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut std::task::Context<'_>) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(shutdown_write(&self.0))
    }
}

split_transport!(TlsStream<NoSigPipeTcp>);
split_transport!(DuplexStream);
split_transport!(tokio::net::UnixStream);
