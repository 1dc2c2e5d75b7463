//! Opening one client connection: TCP connect plus, for WebSocket targets, the upgrade.

use crate::handshake;
use crate::stream::Stream;
use crate::target::Target;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};

/// What the server agreed to for permessage-deflate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateAgreed {
    /// The server resets its compression context after each message.
    pub server_no_context_takeover: bool,
}

/// An open connection, handshake done.
pub struct Conn {
    /// The socket, or the TLS session over it.
    pub stream: Stream,
    /// `Some` when permessage-deflate was negotiated.
    pub deflate: Option<DeflateAgreed>,
    /// Bytes read past the end of the handshake response.
    pub leftover: Vec<u8>,
}

/// Connects (and runs the TLS handshake for `wss://`) and, unless the target is raw TCP, performs
/// the WebSocket handshake.
pub async fn connect(target: &Target, offer_deflate: bool) -> io::Result<Conn> {
    connect_from(target, offer_deflate, None).await
}

/// Connections per loopback source address: below the 28,000-odd ports of Linux's default
/// ephemeral range, which is per (source, destination) pair.
pub const PER_SOURCE: usize = 25_000;

/// The loopback source address of connection `i` of `n` to a loopback target: 127.0.0.1 while
/// one source address has ports enough for all `n`, else 127.0.0.2, .3, … (`PER_SOURCE` each).
pub fn source_for(target: &Target, i: usize, n: usize) -> Option<Ipv4Addr> {
    let dest: SocketAddr = target.addr.parse().ok()?;
    if n <= PER_SOURCE || !dest.ip().is_loopback() {
        return None;
    }
    Some(Ipv4Addr::new(127, 0, 0, 2 + u8::try_from(i / PER_SOURCE).ok()?))
}

/// As `connect`, with the socket bound to `source` (port chosen by the kernel) when given.
pub async fn connect_from(target: &Target, offer_deflate: bool, source: Option<Ipv4Addr>) -> io::Result<Conn> {
    let tcp = match source {
        None => TcpStream::connect(&target.addr).await?,
        Some(ip) => {
            let dest: SocketAddr = target.addr.parse().map_err(|_| bad("a source address needs an IP target"))?;
            let sock = TcpSocket::new_v4()?;
            sock.bind(SocketAddr::new(ip.into(), 0))?;
            sock.connect(dest).await?
        }
    };
    tcp.set_nodelay(true)?;
    let mut stream = match &target.tls {
        Some(tls) => Stream::Tls(Box::new(tls.connect(tcp).await?)),
        None => Stream::Plain(tcp),
    };
    if target.raw {
        return Ok(Conn { stream, deflate: None, leftover: Vec::new() });
    }
    let key = handshake::random_key();
    let req = handshake::client_request(&target.addr, &target.path, &key, offer_deflate);
    stream.send_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    let end = loop {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed during the handshake"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = handshake::head_end(&buf) {
            break end;
        }
        if buf.len() > 16 * 1024 {
            return Err(bad("handshake response head exceeds 16 KiB"));
        }
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad("non-UTF-8 response head"))?;
    if !head.starts_with("HTTP/1.1 101") {
        let status = head.lines().next().unwrap_or("").to_owned();
        return Err(bad(&format!("expected 101, got {status:?}")));
    }
    if handshake::header(head, "sec-websocket-accept") != Some(&handshake::accept_key(&key)) {
        return Err(bad("wrong Sec-WebSocket-Accept"));
    }
    let deflate = handshake::header(head, "sec-websocket-extensions")
        .filter(|v| v.contains("permessage-deflate"))
        .map(|v| DeflateAgreed { server_no_context_takeover: v.contains("server_no_context_takeover") });
    Ok(Conn { stream, deflate, leftover: buf[end..].to_vec() })
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

/// Opens `n` connections, at most `concurrency` handshakes in flight; failures are counted.
/// More connections than one loopback source address has ports for are spread over several.
pub async fn connect_many(
    target: &Target,
    offer_deflate: bool,
    n: usize,
    concurrency: usize,
) -> (Vec<Conn>, Vec<io::Error>) {
    let mut set = tokio::task::JoinSet::new();
    let mut conns = Vec::with_capacity(n);
    let mut errors = Vec::new();
    let mut started = 0;
    while conns.len() + errors.len() < n {
        while started < n && set.len() < concurrency.max(1) {
            let t = target.clone();
            let source = source_for(target, started, n);
            set.spawn(async move { connect_from(&t, offer_deflate, source).await });
            started += 1;
        }
        match set.join_next().await {
            Some(Ok(Ok(c))) => conns.push(c),
            Some(Ok(Err(e))) => errors.push(e),
            Some(Err(e)) => errors.push(io::Error::other(e)),
            None => break,
        }
    }
    (conns, errors)
}
