//! The byte streams a session can run on: plain TCP, TLS over TCP, or an in-memory duplex.

use std::future::Future;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::server::TlsStream;

/// A connection split into independently owned read and write halves.
pub trait Transport: Send + 'static {
    /// The read half.
    type Read: AsyncRead + Unpin + Send + 'static;
    /// The write half.
    type Write: AsyncWrite + Unpin + Send + 'static;
    /// Splits the connection.
    fn split(self) -> (Self::Read, Self::Write);
    /// Waits until reading would make progress, so idle sessions hold no read buffer.
    fn readable(read: &Self::Read) -> impl Future<Output = io::Result<()>> + Send;
}

impl Transport for TcpStream {
    type Read = OwnedReadHalf;
    type Write = OwnedWriteHalf;
    fn split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        self.into_split()
    }
    fn readable(read: &OwnedReadHalf) -> impl Future<Output = io::Result<()>> + Send {
        read.readable()
    }
}

impl Transport for TlsStream<TcpStream> {
    type Read = ReadHalf<TlsStream<TcpStream>>;
    type Write = WriteHalf<TlsStream<TcpStream>>;
    fn split(self) -> (Self::Read, Self::Write) {
        tokio::io::split(self)
    }
    fn readable(_: &Self::Read) -> impl Future<Output = io::Result<()>> + Send {
        // Decrypted bytes may already be buffered inside rustls: let the read itself wait.
        std::future::ready(Ok(()))
    }
}

impl Transport for DuplexStream {
    type Read = ReadHalf<DuplexStream>;
    type Write = WriteHalf<DuplexStream>;
    fn split(self) -> (Self::Read, Self::Write) {
        tokio::io::split(self)
    }
    fn readable(_: &Self::Read) -> impl Future<Output = io::Result<()>> + Send {
        std::future::ready(Ok(()))
    }
}
