//! Handshakes driven by the host's loop (Node's `hostLoop`): the host accepts on the listener of
//! [`ServerBuilder::start_host_accept`](crate::ServerBuilder::start_host_accept) and calls
//! [`HostHandshake::read_ready`] on its own thread whenever the new socket is readable. The core reads
//! the request head (bounded by `max_head_bytes`/`max_headers`), decides with what the host says (or
//! hands the connection to its runtime when the host's decision needs to wait), writes the 101 or the
//! refusal and starts the session on that thread: with `SessionConfig::host_read` its open is
//! delivered there and its reader waits in [`Session::take_host_reader`]. Limits are the listener's:
//! `max_connections` (503), the handshake timeout (the host calls [`HostHandshake::time_out`] at
//! [`HostHandshake::deadline`]: 408), the head's size (431), a malformed head (400).

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Instant;

use bytes::BytesMut;
use socket2::SockRef;

use crate::adopt::admission_refused;
use crate::handler::Decision;
use crate::handshake::{HttpResponse, parse_located};
use crate::request::Request;
use crate::server::Server;
use crate::session::{HostTcp, Session};
use crate::transport::NO_SIGPIPE;

/// Bytes asked of one `recv` while the head is incomplete (never beyond `max_head_bytes` + 1).
const HEAD_CHUNK: usize = 4096;

/// One accepted connection whose request head the host's loop reads (see the module documentation).
/// Dropping it closes the connection and frees its connection slot.
pub struct HostHandshake {
    server: Server,
    tcp: Option<std::net::TcpStream>,
    buf: BytesMut,
    peer: SocketAddr,
    local: SocketAddr,
    deadline: Instant,
}

/// What [`HostHandshake::read_ready`] did.
#[derive(Debug)]
pub enum HeadStep {
    /// The head is incomplete: call again once the socket is readable.
    More,
    /// No session here: the request was answered (refused, metrics) and the connection closed, the
    /// peer went away, or the connection went on on the core's runtime (the decision had to wait).
    Ended,
    /// Upgraded: the session started on this thread.
    Open(Session),
}

impl std::fmt::Debug for HostHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostHandshake").field("peer", &self.peer).field("fd", &self.fd()).finish()
    }
}

impl Server {
    /// Takes a connection the host accepted from `peer` (non-blocking) for a handshake on the host's
    /// loop; `None` when the server is closed or at `max_connections` (503 written and the connection
    /// closed, counted as the listener counts it).
    pub fn host_handshake(&self, tcp: std::net::TcpStream, peer: SocketAddr) -> Option<HostHandshake> {
        let inner = &self.inner;
        if let Some(refusal) = admission_refused(inner) {
            inner.refused(&refusal, peer, None);
            answer_and_close(&tcp, &refusal);
            return None;
        }
        let _ = tcp.set_nodelay(true);
        // The listener's address unless it listens on every interface (no `getsockname` per connection).
        let local = match self.local_addr() {
            bound if bound.ip().is_unspecified() => tcp.local_addr().unwrap_or(bound),
            bound => bound,
        };
        let deadline = Instant::now() + inner.config.handshake_timeout;
        Some(HostHandshake { server: self.clone(), tcp: Some(tcp), buf: BytesMut::new(), peer, local, deadline })
    }
}

impl HostHandshake {
    /// The socket's descriptor, for the host's readiness watch (valid while this lives).
    pub fn fd(&self) -> RawFd {
        self.tcp.as_ref().map_or(-1, |t| t.as_raw_fd())
    }

    /// When the head must be complete: the host calls [`HostHandshake::time_out`] then.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The socket is readable: reads what it holds without blocking and, once the head is complete,
    /// answers it. `decide` is the host's accept decision for the request, `None` when it cannot decide
    /// now (the connection then goes on on the core's runtime, through the server's accept hook).
    pub fn read_ready(&mut self, decide: impl FnOnce(&Request) -> Option<Decision>) -> HeadStep {
        let cfg = &self.server.inner.config;
        let (max_bytes, max_headers) = (cfg.max_head_bytes, cfg.max_headers);
        let mut head = loop {
            match parse_located(&self.buf, max_bytes, max_headers, self.peer, self.local) {
                Ok(Some(done)) => break done,
                Ok(None) => {}
                Err(e) => {
                    return self.refuse(HttpResponse::text(e.status(), &format!("bad request head: {e:?}")), None);
                }
            }
            let want = HEAD_CHUNK.min(max_bytes + 1 - self.buf.len().min(max_bytes)).max(1);
            self.buf.reserve(want);
            let Some(tcp) = self.tcp.as_ref() else { return HeadStep::Ended };
            let spare = &mut self.buf.spare_capacity_mut()[..want];
            match SockRef::from(tcp).recv(spare) {
                Ok(0) => return self.end(),
                // SAFETY: `recv` initialised the first `n` bytes of the spare capacity.
                Ok(n) => unsafe { self.buf.set_len(self.buf.len() + n) },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return HeadStep::More,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.end(),
            }
        };
        let inner = self.server.inner.clone();
        let tcp = self.tcp.as_ref().expect("read above");
        if let Some(response) = inner.metrics_answer(&head.request) {
            answer_and_close(tcp, &response);
            return self.end();
        }
        let accept = match decide(&head.request) {
            None => return self.hand_over(),
            Some(d) if d.validate().is_err() => {
                let response = HttpResponse::text(500, "the accept hook's decision is invalid");
                return self.refuse(response, Some(head.request.path));
            }
            Some(Decision::Respond(response)) => return self.refuse(response, Some(head.request.path)),
            Some(Decision::Accept(a)) => a,
        };
        let (agreed, handler) = match inner.agree(&mut head.request, &accept) {
            Ok(agreed) => agreed,
            Err(response) => return self.refuse(response, Some(head.request.path)),
        };
        // A fresh socket's send buffer takes the 101 whole; one that does not is dropped as a failed write.
        if !send_now(self.tcp.as_ref().expect("read above"), &agreed.to_bytes()) {
            return self.end();
        }
        let leftover = self.buf.split_off(head.len);
        let tcp = self.tcp.take().expect("checked above");
        let buf = &self.buf;
        let opened = if accept.config.as_ref().unwrap_or(&inner.config.session).host_read {
            // Read by the host from the start: registered with the runtime for writability only.
            HostTcp::new(tcp).map(|t| inner.open_upgraded(t, buf, head, &accept, agreed, handler, leftover))
        } else {
            let _runtime = crate::runtime::runtime().enter();
            let tcp = tokio::net::TcpStream::from_std(tcp);
            tcp.map(|t| inner.open_upgraded(t, buf, head, &accept, agreed, handler, leftover))
        };
        match opened {
            Ok(session) => HeadStep::Open(session),
            // The registration failed (the socket is closed) before a session took the slot.
            Err(_) => {
                inner.release();
                HeadStep::Ended
            }
        }
    }

    /// The head did not arrive by [`HostHandshake::deadline`]: answers 408 and closes.
    pub fn time_out(mut self) {
        self.refuse(HttpResponse::text(408, "the request head did not arrive in time"), None);
    }

    /// Answers with `response` (logged and counted) and closes.
    fn refuse(&mut self, response: HttpResponse, path: Option<String>) -> HeadStep {
        self.server.inner.refused(&response, self.peer, path.as_deref());
        if let Some(tcp) = &self.tcp {
            answer_and_close(tcp, &response);
        }
        self.end()
    }

    /// The host's decision must wait: the core's runtime serves the connection (head bytes so far
    /// included), as a connection the host adopted.
    fn hand_over(&mut self) -> HeadStep {
        let Some(tcp) = self.tcp.take() else { return HeadStep::Ended };
        self.server.inner.release();
        if let Err(e) = self.server.adopt_tcp(tcp, &self.buf) {
            tracing::info!(parent: &self.server.inner.span, peer = %self.peer, error = %e, "handshake hand-over failed");
        }
        HeadStep::Ended
    }

    /// Closes the connection (if still held) and frees its slot.
    fn end(&mut self) -> HeadStep {
        if self.tcp.take().is_some() {
            self.server.inner.release();
        }
        HeadStep::Ended
    }
}

impl Drop for HostHandshake {
    fn drop(&mut self) {
        self.end();
    }
}

/// Writes all of `bytes` without blocking; false when the socket did not take them at once.
fn send_now(tcp: &std::net::TcpStream, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        match SockRef::from(tcp).send_with_flags(bytes, NO_SIGPIPE) {
            Ok(0) => return false,
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

/// Writes `response` as far as the socket takes it at once and ends our side (the caller drops the socket).
fn answer_and_close(tcp: &std::net::TcpStream, response: &HttpResponse) {
    send_now(tcp, &response.to_bytes());
    let _ = tcp.shutdown(std::net::Shutdown::Write);
}
