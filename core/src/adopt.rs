//! Connections the host owns (SPEC 13): sockets it accepted, streams it can only pump bytes through,
//! and connections it already upgraded itself.
//!
//! Adopted connections take the listener's path (limits, handshake timeout, routing, accept hook,
//! `max_connections`, 101, registry); already-upgraded ones skip to an unstarted session that the host
//! starts with the negotiated extensions (Ktor's `start(negotiatedExtensions)`).

use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, FromRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::handshake::{Handshake, HttpResponse};
use crate::request::Request;
use crate::server::{Server, ServerInner, Slot, at_limit, handle_connection, handshake_on, respond_and_close};
use crate::session::{BytePump, Session, pump};

/// The outcome of one adopted connection's handshake: resolves with the started session, or `None` when
/// the handshake was refused or failed (the connection is then closed). Dropping it changes nothing.
pub struct Adoption(JoinHandle<Option<Session>>);

impl Future for Adoption {
    type Output = Option<Session>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Session>> {
        Pin::new(&mut self.0).poll(cx).map(|r| r.ok().flatten())
    }
}

impl std::fmt::Debug for Adoption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Adoption")
    }
}

/// Where a pumped connection comes from: the host knows, the core cannot ask a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's address.
    pub remote_addr: SocketAddr,
    /// Our address the peer connected to.
    pub local_addr: SocketAddr,
    /// Whether the host's stream is TLS (`wss://`; reported by `Request::tls`).
    pub tls: bool,
}

/// What kind of connected stream socket a descriptor is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StreamKind {
    Tcp,
    Unix,
}

/// Checks that `fd` is a connected TCP or Unix stream socket, without taking it.
fn stream_kind(fd: RawFd) -> Result<StreamKind> {
    if fd < 0 {
        return Err(Error::invalid(format!("fd {fd} is not a file descriptor")));
    }
    // SAFETY: only borrowed for these queries; the caller promises `fd` is open (see `adopt_fd`).
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    let sock = socket2::SockRef::from(&borrowed);
    let peer = sock.peer_addr().ok().filter(|_| sock.r#type().is_ok_and(|t| t == socket2::Type::STREAM));
    match peer {
        Some(a) if a.as_socket().is_some() => Ok(StreamKind::Tcp),
        Some(a) if a.is_unix() => Ok(StreamKind::Unix),
        _ => Err(Error::invalid(format!("fd {fd} is not a connected TCP or Unix stream socket"))),
    }
}

/// Checks that `fd` is a connected TCP socket, without taking it.
fn check_tcp_fd(fd: RawFd) -> Result<()> {
    match stream_kind(fd)? {
        StreamKind::Tcp => Ok(()),
        StreamKind::Unix => Err(Error::invalid(format!("fd {fd} is a Unix socket; a TCP connection is needed here"))),
    }
}

/// The address a Unix-socket connection reports as its remote and local address (it has no IP one).
pub const UNIX_ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::UNSPECIFIED, 0));

/// The handshake and session on an admitted stream that needs no TLS step; the slot is given back
/// unless a session takes it over.
async fn serve_plain<S>(
    inner: &std::sync::Arc<ServerInner>,
    stream: S,
    remote: SocketAddr,
    local: SocketAddr,
    tls: bool,
    initial: BytesMut,
) -> Option<Session>
where
    S: crate::transport::Transport + tokio::io::AsyncRead + AsyncWrite + Unpin,
{
    let mut slot = Slot(inner, true);
    let deadline = tokio::time::Instant::now() + inner.config.handshake_timeout;
    let session = handshake_on(inner, stream, remote, local, tls, deadline, initial).await;
    slot.1 = session.is_none();
    session
}

/// `stream` when the server takes it (a connection slot is then held for it); otherwise it was answered
/// with 503 (the server is closed, or at `max_connections`) and closed.
async fn admitted<S: AsyncWrite + Unpin>(inner: &ServerInner, stream: S, peer: SocketAddr) -> Option<S> {
    let Some(refusal) = admission_refused(inner) else { return Some(stream) };
    inner.refused(&refusal, peer, None);
    respond_and_close(stream, refusal).await;
    None
}

/// Takes a connection slot for a connection the host hands over, or the 503 that refuses it (the server
/// is closed, or at `max_connections`).
pub(crate) fn admission_refused(inner: &ServerInner) -> Option<HttpResponse> {
    if inner.is_stopping() {
        Some(HttpResponse::text(503, "the server is closed"))
    } else if !inner.admit() {
        Some(at_limit())
    } else {
        None
    }
}

/// Registers `tcp` with the core's runtime (made non-blocking, Nagle off as on the listener's sockets).
pub(crate) fn to_tokio(tcp: std::net::TcpStream) -> Result<(TcpStream, SocketAddr)> {
    let peer = tcp.peer_addr().map_err(|e| Error::invalid(format!("the socket is not connected: {e}")))?;
    tcp.set_nonblocking(true)?;
    let _ = tcp.set_nodelay(true);
    let _runtime = crate::runtime::runtime().enter();
    Ok((TcpStream::from_std(tcp)?, peer))
}

impl Server {
    /// Serves a TCP connection the host accepted, as if the listener had: TLS (when configured), the
    /// handshake with its limits and timeout, routing, the accept hook, `max_connections` (503 beyond),
    /// the 101 and the session. `initial` holds bytes the host already read from it: none, part of the
    /// request head, the whole head, or the head and frames after it. The core owns `tcp` from here.
    /// Refused (and `tcp` closed) only for a socket that is not connected, or `initial` bytes on a TLS
    /// server (they would be TLS records). A tokio `TcpStream` is adopted with `tcp.into_std()?`.
    pub fn adopt_tcp(&self, tcp: std::net::TcpStream, initial: &[u8]) -> Result<Adoption> {
        self.check_initial(initial)?;
        let (tcp, peer) = to_tokio(tcp)?;
        let inner = self.inner.clone();
        let initial = BytesMut::from(initial);
        Ok(Adoption(crate::runtime::spawn(async move {
            let tcp = admitted(&inner, tcp, peer).await?;
            handle_connection(inner, tcp, peer, initial).await
        })))
    }

    /// As [`Server::adopt_tcp`] for a raw socket descriptor (C, Node, Python): a connected TCP socket,
    /// or a Unix stream socket ([`Server::adopt_unix`]). On success the core owns `fd` and closes it
    /// when the connection ends; on error `fd` is left untouched and still the caller's.
    ///
    /// # Safety
    /// `fd` must be an open descriptor that nothing else closes or uses afterwards (on success).
    pub unsafe fn adopt_fd(&self, fd: RawFd, initial: &[u8]) -> Result<Adoption> {
        match stream_kind(fd)? {
            StreamKind::Tcp => {
                self.check_initial(initial)?;
                // SAFETY: a connected TCP socket the caller hands over (the function's contract).
                self.adopt_tcp(unsafe { std::net::TcpStream::from_raw_fd(fd) }, initial)
            }
            // SAFETY: a connected Unix stream socket the caller hands over (the function's contract).
            StreamKind::Unix => self.adopt_unix(unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) }, initial),
        }
    }

    /// Serves a Unix stream socket connection the host accepted (Python's `unix_serve`), with the same
    /// handshake path as [`Server::adopt_tcp`] but never TLS. Its request reports [`UNIX_ADDR`] as both
    /// addresses.
    pub fn adopt_unix(&self, unix: std::os::unix::net::UnixStream, initial: &[u8]) -> Result<Adoption> {
        unix.set_nonblocking(true)?;
        let unix = {
            let _runtime = crate::runtime::runtime().enter();
            tokio::net::UnixStream::from_std(unix)?
        };
        let inner = self.inner.clone();
        let initial = BytesMut::from(initial);
        Ok(Adoption(crate::runtime::spawn(async move {
            let unix = admitted(&inner, unix, UNIX_ADDR).await?;
            serve_plain(&inner, unix, UNIX_ADDR, UNIX_ADDR, false, initial).await
        })))
    }

    fn check_initial(&self, initial: &[u8]) -> Result<()> {
        if !initial.is_empty() && self.config().tls.is_some() {
            return Err(Error::invalid(
                "initial bytes cannot be adopted by a TLS server (they would be TLS records): adopt the socket \
                 before reading from it, or terminate TLS in the host and use a byte pump",
            ));
        }
        Ok(())
    }

    /// Serves a connection whose bytes the host carries (TLS terminated by the host, any duplex):
    /// the same path as [`Server::adopt_tcp`] (never TLS: the pumped bytes are plain), over a
    /// [`BytePump`] the host feeds with what it receives and drains of what to send.
    pub fn adopt_pump(&self, initial: &[u8], peer: PeerInfo) -> (BytePump, Adoption) {
        let (stream, host_end) = pump();
        let inner = self.inner.clone();
        let initial = BytesMut::from(initial);
        let adoption = Adoption(crate::runtime::spawn(async move {
            let stream = admitted(&inner, stream, peer.remote_addr).await?;
            serve_plain(&inner, stream, peer.remote_addr, peer.local_addr, peer.tls, initial).await
        }));
        (host_end, adoption)
    }

    /// The 101 this server would answer `request` with (accept key, subprotocol by its preference,
    /// permessage-deflate by its settings), for a host that writes the response itself; or the HTTP
    /// error for an invalid upgrade. Then hand the connection to an `upgraded_*` method and start the
    /// session with [`Handshake::deflate`].
    pub fn handshake_response(&self, request: &Request) -> std::result::Result<Handshake, HttpResponse> {
        let cfg = self.config();
        Handshake::negotiate(request, None, &cfg.subprotocols, &cfg.deflate)
    }

    /// A session on a TCP connection the host already upgraded (it wrote the 101): `request` is the
    /// upgrade request with the agreed subprotocol and extensions (see [`Handshake::apply`]),
    /// `leftover` the bytes read after its head. The session is registered (it counts against
    /// `max_connections`, `shutdown` closes it) and handled by the route for its path (or the fallback;
    /// without either it is pull-style). It does nothing until [`Session::start`] with the negotiated
    /// parameters; start or terminate it. The accept hook is not consulted: the host decided.
    /// Fails with [`Error::Handshake`] when the server is closed or at its limit (`tcp` is closed).
    pub fn upgraded_tcp(&self, tcp: std::net::TcpStream, request: Request, leftover: &[u8]) -> Result<Session> {
        self.check_room()?;
        let (tcp, _) = to_tokio(tcp).inspect_err(|_| self.inner.release())?;
        Ok(self.upgraded_on(tcp, request, leftover))
    }

    /// As [`Server::upgraded_tcp`] for a raw socket descriptor. On success the core owns `fd`; on error
    /// `fd` is left untouched and still the caller's.
    ///
    /// # Safety
    /// `fd` must be an open descriptor that nothing else closes or uses afterwards (on success).
    pub unsafe fn upgraded_fd(&self, fd: RawFd, request: Request, leftover: &[u8]) -> Result<Session> {
        check_tcp_fd(fd)?;
        self.check_room()?;
        // SAFETY: a connected TCP socket the caller hands over (the function's contract).
        let tcp = unsafe { std::net::TcpStream::from_raw_fd(fd) };
        let (tcp, _) = to_tokio(tcp).inspect_err(|_| self.inner.release())?;
        Ok(self.upgraded_on(tcp, request, leftover))
    }

    /// As [`Server::upgraded_tcp`] for a connection whose bytes the host carries through the returned
    /// [`BytePump`].
    pub fn upgraded_pump(&self, request: Request, leftover: &[u8]) -> Result<(Session, BytePump)> {
        self.check_room()?;
        let (stream, host_end) = pump();
        Ok((self.upgraded_on(stream, request, leftover), host_end))
    }

    /// Takes a connection slot for an already-upgraded connection, or says why not.
    fn check_room(&self) -> Result<()> {
        if self.inner.is_stopping() {
            return Err(Error::Handshake("the server is closed; it takes no more connections".into()));
        }
        if !self.inner.admit() {
            return Err(Error::Handshake(format!(
                "the server is at its connection limit (max_connections = {})",
                self.config().max_connections
            )));
        }
        Ok(())
    }

    fn upgraded_on<T: crate::transport::Transport>(&self, stream: T, request: Request, leftover: &[u8]) -> Session {
        let handler = self.inner.route(&request.path);
        let config = self.config().session.clone();
        self.inner.new_session(stream, request.into(), config, BytesMut::from(leftover), handler)
    }
}
