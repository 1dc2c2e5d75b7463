//! Connections the host (an `http.Server`, `https.Server`, an Express app, ...) accepted and hands over:
//! plain TCP sockets by fd (the core owns them from then on: no JS on the data path), other streams
//! (TLS terminated by Node, any duplex) through a byte pump, and connections the host upgraded itself.
//! JS decides on the request before the handover (`verifyClient`, `handleProtocols`, `'headers'`); the
//! accept hook finds that decision by the connection's addresses.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use napi::Env;
use napi::bindgen_prelude::{Buffer, Object};
use napi_derive::napi;
use wssession_core::handshake::parse_head;
use wssession_core::{Adoption, BytePump, Decision, DeflateParams, PeerInfo, Request, Session};

use crate::error::{invalid, invalid_range, to_js};
use crate::hub::{Ev, Hub, SessState};
use crate::server::{DecisionOptions, NativeServer, decision_from, flat_headers};
use crate::session::{NativeSession, promise};

/// Bytes a pump hands to JS per pull (at most).
const PULL_MAX: usize = 256 << 10;

/// The request line and headers of an `http.IncomingMessage`.
#[napi(object)]
pub struct RawRequest {
    /// `req.method`.
    pub method: String,
    /// `req.url`.
    pub url: String,
    /// `req.httpVersion` ("1.1").
    pub http_version: String,
    /// `req.rawHeaders`: names and values alternating, as received.
    pub raw_headers: Vec<String>,
}

/// Both ends of a connection the core cannot ask a socket about (a pumped stream).
#[napi(object)]
pub struct PeerAddress {
    /// The peer's IP address.
    pub remote_address: String,
    /// The peer's port.
    pub remote_port: u32,
    /// Our IP address.
    pub local_address: String,
    /// Our port.
    pub local_port: u32,
    /// Whether the host's stream is TLS.
    pub secure: bool,
}

/// The core's answer to an upgrade request: the 101 it would send, or the HTTP error.
#[napi(object)]
pub struct HandshakeInfo {
    /// 101, or the error status (400, 426, 431, ...).
    pub status: u32,
    /// Response headers, names and values alternating (for 101: Upgrade, Connection,
    /// Sec-WebSocket-Accept, Sec-WebSocket-Extensions when negotiated).
    pub headers: Vec<String>,
    /// Why the request was refused (errors only).
    pub message: Option<String>,
    /// The negotiated `Sec-WebSocket-Extensions` value ("" when none).
    pub extensions: String,
}

/// What the 101 of a connection the host upgraded itself agreed on.
#[napi(object)]
pub struct Agreed {
    /// The `Sec-WebSocket-Protocol` it answered with.
    pub protocol: Option<String>,
    /// The `Sec-WebSocket-Extensions` value it answered with ("" or absent: none).
    pub extensions: Option<String>,
}

/// A session on a connection the host upgraded itself and carries through a pump.
#[napi(object, object_from_js = false)]
pub struct UpgradedPump {
    /// The session: call `start(extensions)` once the pump runs.
    pub session: NativeSession,
    /// The pump carrying the connection's bytes.
    pub pump: NativePump,
}

/// A connection's (remote, local) addresses: unique among live TCP connections.
type ConnKey = (SocketAddr, SocketAddr);

/// Decisions JS made for connections being handed over, until the accept hook takes them.
#[derive(Default)]
pub(crate) struct Adopting {
    pending: Mutex<HashMap<ConnKey, (u32, Decision)>>,
    next_id: AtomicU32,
}

impl Adopting {
    fn insert(&self, key: ConnKey, decision: impl FnOnce(u32) -> napi::Result<Decision>) -> napi::Result<u32> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let d = decision(id)?;
        self.pending.lock().unwrap().insert(key, (id, d));
        Ok(id)
    }

    fn remove(&self, key: &ConnKey, id: u32) {
        let mut pending = self.pending.lock().unwrap();
        if pending.get(key).is_some_and(|(i, _)| *i == id) {
            pending.remove(key);
        }
    }

    /// The decision for the handed-over connection `req` arrived on, if it is one.
    pub(crate) fn take(&self, req: &Request) -> Option<Decision> {
        self.pending.lock().unwrap().remove(&(req.remote_addr, req.local_addr)).map(|(_, d)| d)
    }
}

/// The request head as the client sent it, rebuilt from Node's parsed request.
fn head_bytes(req: &RawRequest) -> napi::Result<Vec<u8>> {
    if !req.raw_headers.len().is_multiple_of(2) {
        return Err(invalid("rawHeaders must alternate names and values"));
    }
    let mut out = format!("{} {} HTTP/{}\r\n", req.method, req.url, req.http_version);
    for pair in req.raw_headers.chunks_exact(2) {
        out.push_str(&format!("{}: {}\r\n", pair[0], pair[1]));
    }
    out.push_str("\r\n");
    Ok(out.into_bytes())
}

fn socket_addr(ip: &str, port: u32) -> napi::Result<SocketAddr> {
    let ip: IpAddr = ip.parse().map_err(|_| invalid(format!("{ip:?} is not an IP address")))?;
    let port = u16::try_from(port).map_err(|_| invalid_range(format!("port {port} is out of range 0-65535")))?;
    Ok(SocketAddr::new(ip, port))
}

fn peer_info(p: &PeerAddress) -> napi::Result<PeerInfo> {
    Ok(PeerInfo {
        remote_addr: socket_addr(&p.remote_address, p.remote_port)?,
        local_addr: socket_addr(&p.local_address, p.local_port)?,
        tls: p.secure,
    })
}

/// A connected TCP socket of our own for the host's `fd` (a duplicate: the host closes its own).
fn dup_tcp(fd: i32) -> napi::Result<std::net::TcpStream> {
    if fd < 0 {
        return Err(invalid(format!("fd {fd} is not a file descriptor")));
    }
    // SAFETY: JS passes the descriptor of a socket handle it keeps open for the duration of this call;
    // it is only borrowed to duplicate it (F_DUPFD_CLOEXEC).
    let owned = unsafe { BorrowedFd::borrow_raw(fd) }
        .try_clone_to_owned()
        .map_err(|e| invalid(format!("cannot duplicate fd {fd}: {e}")))?;
    Ok(std::net::TcpStream::from(owned))
}

fn conn_key(tcp: &std::net::TcpStream) -> napi::Result<ConnKey> {
    let remote = tcp.peer_addr().map_err(|e| invalid(format!("the socket is not connected: {e}")))?;
    let local = tcp.local_addr().map_err(|e| invalid(format!("the socket has no local address: {e}")))?;
    Ok((remote, local))
}

impl NativeServer {
    /// The request of a handed-over connection, parsed by the core.
    fn parse_request(&self, req: &RawRequest, key: ConnKey, tls: bool) -> Result<Request, (u16, String)> {
        let bytes = head_bytes(req).map_err(|e| (400, e.reason.clone()))?;
        let cfg = self.server.config();
        match parse_head(&bytes, cfg.max_head_bytes, cfg.max_headers, key.0, key.1) {
            Ok(Some((mut r, _))) => {
                r.tls = tls;
                Ok(r)
            }
            Ok(None) => Err((400, "incomplete request head".into())),
            Err(e) => Err((e.status(), format!("{e:?}"))),
        }
    }

    /// Reports an adoption that ended without a session, so JS drops what it kept for it.
    fn watch(&self, adoption: Adoption, key: ConnKey, id: u32) {
        let hub: Arc<Hub> = Arc::clone(&self.hub);
        let adopting = Arc::clone(&self.adopting);
        wssession_core::runtime::spawn(async move {
            if adoption.await.is_none() {
                adopting.remove(&key, id);
                hub.emit(Ev::AdoptFailed { id });
            }
        });
    }

    /// The request of a connection the host upgraded, with what its 101 agreed recorded on it.
    fn upgraded_request(&self, req: &RawRequest, key: ConnKey, tls: bool, agreed: Agreed) -> napi::Result<Request> {
        let mut request = self.parse_request(req, key, tls).map_err(|(_, m)| invalid(m))?;
        request.subprotocol = agreed.protocol;
        request.extensions = agreed.extensions.unwrap_or_default();
        Ok(request)
    }
}

#[napi]
impl NativeServer {
    /// What the core answers `req` with: the 101's headers (the `'headers'` event shows them) or the
    /// HTTP error for an invalid upgrade. `peer` gives the addresses reported on the request.
    #[napi]
    pub fn handshake(&self, req: RawRequest, peer: PeerAddress) -> napi::Result<HandshakeInfo> {
        let p = peer_info(&peer)?;
        let refused = |status: u16, message: String, headers: Vec<(String, String)>| HandshakeInfo {
            status: status as u32,
            headers: headers.into_iter().flat_map(|(n, v)| [n, v]).collect(),
            message: Some(message),
            extensions: String::new(),
        };
        let request = match self.parse_request(&req, (p.remote_addr, p.local_addr), p.tls) {
            Ok(r) => r,
            Err((status, message)) => return Ok(refused(status, message, vec![])),
        };
        Ok(match self.server.handshake_response(&request) {
            Ok(h) => {
                HandshakeInfo { status: 101, headers: flat_headers(&h), message: None, extensions: h.extensions() }
            }
            Err(r) => {
                let message = String::from_utf8_lossy(&r.body).trim_end().to_owned();
                refused(r.status, message, r.headers)
            }
        })
    }

    /// The bytes of the refusal `decision` (a handshake JS refused before handing the connection over).
    #[napi]
    pub fn refusal(&self, decision: DecisionOptions) -> napi::Result<Buffer> {
        match decision_from(DecisionOptions { accept: false, ..decision }, SessState::default())? {
            Decision::Respond(r) => Ok(Buffer::from(r.to_bytes())),
            Decision::Accept(_) => Err(invalid("a refusal cannot accept")),
        }
    }

    /// Hands a plain TCP connection over by its descriptor (duplicated here; JS then destroys its own
    /// socket): the core reads the request from `req` plus `head` and answers with `decision` (101 and
    /// a session, or the refusal). Returns the adoption id the open event reports.
    #[napi]
    pub fn adopt_fd(&self, fd: i32, req: RawRequest, head: &[u8], decision: DecisionOptions) -> napi::Result<u32> {
        let tcp = dup_tcp(fd)?;
        let key = conn_key(&tcp)?;
        let mut initial = head_bytes(&req)?;
        initial.extend_from_slice(head);
        let id = self.adopting.insert(key, |id| decision_from(decision, SessState::adopted(id)))?;
        let adoption =
            self.server.adopt_tcp(tcp, &initial).inspect_err(|_| self.adopting.remove(&key, id)).map_err(to_js)?;
        self.watch(adoption, key, id);
        Ok(id)
    }

    /// Hands over a connection whose bytes JS carries (TLS terminated by Node): as `adoptFd`, through
    /// the returned pump.
    #[napi]
    pub fn adopt_pump(
        &self,
        req: RawRequest,
        head: &[u8],
        peer: PeerAddress,
        decision: DecisionOptions,
    ) -> napi::Result<NativePump> {
        let info = peer_info(&peer)?;
        let key = (info.remote_addr, info.local_addr);
        let mut initial = head_bytes(&req)?;
        initial.extend_from_slice(head);
        let id = self.adopting.insert(key, |id| decision_from(decision, SessState::adopted(id)))?;
        let (pump, adoption) = self.server.adopt_pump(&initial, info);
        self.watch(adoption, key, id);
        Ok(NativePump { pump: Arc::new(pump), id })
    }

    /// A session on a TCP connection the host already upgraded (it wrote the 101 with `agreed`):
    /// `head` holds the bytes read after the request. Nothing happens until `start`.
    #[napi]
    pub fn upgraded_fd(&self, fd: i32, req: RawRequest, head: &[u8], agreed: Agreed) -> napi::Result<NativeSession> {
        let tcp = dup_tcp(fd)?;
        let request = self.upgraded_request(&req, conn_key(&tcp)?, false, agreed)?;
        let session = self.server.upgraded_tcp(tcp, request, head).map_err(to_js)?;
        Ok(attached(session))
    }

    /// As `upgradedFd` for a connection whose bytes JS carries through the returned pump.
    #[napi]
    pub fn upgraded_pump(
        &self,
        req: RawRequest,
        head: &[u8],
        peer: PeerAddress,
        agreed: Agreed,
    ) -> napi::Result<UpgradedPump> {
        let info = peer_info(&peer)?;
        let request = self.upgraded_request(&req, (info.remote_addr, info.local_addr), info.tls, agreed)?;
        let (session, pump) = self.server.upgraded_pump(request, head).map_err(to_js)?;
        Ok(UpgradedPump { session: attached(session), pump: NativePump { pump: Arc::new(pump), id: 0 } })
    }
}

/// The Node adapter's state on a session the host upgraded (events find it there).
fn attached(session: Session) -> NativeSession {
    session.set_attachment(Some(Arc::new(SessState::default())));
    NativeSession::new(session)
}

/// The negotiated permessage-deflate parameters of a 101's `Sec-WebSocket-Extensions` value.
pub(crate) fn negotiated(session: &Session, extensions: &str) -> napi::Result<Option<DeflateParams>> {
    let server = session.server().ok_or_else(|| invalid("the session's server is gone"))?;
    DeflateParams::from_response_header(extensions, &server.config().deflate).map_err(to_js)
}

/// The host's end of a byte pump: JS pushes what its stream received and writes what it pulls.
#[napi]
pub struct NativePump {
    pump: Arc<BytePump>,
    id: u32,
}

#[napi]
impl NativePump {
    /// The adoption id (0 for an upgraded connection).
    #[napi(getter)]
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Takes what fits of `data` now; returns how many bytes that was (0: full, use `push`).
    #[napi]
    pub fn try_push(&self, data: &[u8]) -> napi::Result<u32> {
        self.pump.try_push(data).map(|n| n as u32).map_err(to_js)
    }

    /// Hands `data` to the session, resolving once all of it was taken (stop reading until then).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn push<'env>(&self, env: &'env Env, data: &[u8]) -> napi::Result<Object<'env>> {
        let pump = Arc::clone(&self.pump);
        let data = data.to_vec();
        promise(env, async move { pump.push(&data).await })
    }

    /// The next bytes to write to the host's stream; null once the session has finished writing.
    #[napi(ts_return_type = "Promise<Buffer | null>")]
    pub fn pull<'env>(&self, env: &'env Env) -> napi::Result<Object<'env>> {
        let (deferred, promise) =
            env.create_deferred::<Option<Buffer>, _>().map_err(|e| invalid(format!("cannot create a promise: {e}")))?;
        let pump = Arc::clone(&self.pump);
        wssession_core::runtime::spawn(async move {
            let out = pump.pull(PULL_MAX).await;
            deferred.resolve(move |_| Ok(out.map(|b| Buffer::from(Vec::<u8>::from(b)))));
        });
        Ok(promise)
    }

    /// The host's stream ended (the peer's FIN).
    #[napi]
    pub fn end(&self) {
        let pump = Arc::clone(&self.pump);
        wssession_core::runtime::spawn(async move { pump.end().await });
    }

    /// The host's stream failed or was destroyed: the session ends as on a TCP reset.
    #[napi]
    pub fn fail(&self) {
        self.pump.fail();
    }
}
