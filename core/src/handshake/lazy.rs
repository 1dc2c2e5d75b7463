//! The upgrade request a session keeps: the head's bytes, parsed into a [`Request`] on first access.
//!
//! An accepted session answers `Session::request()` for life, but most applications never ask, or ask
//! once. Keeping the parsed request (its target, path and every header as separate strings) costs an
//! idle connection about as much as one allocation per header; keeping the head as one block of
//! bytes and parsing it again when asked costs one allocation.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::OnceLock;

use super::request::{ParsedHead, parse_located};
use crate::request::Request;

/// The request a session was opened with: given parsed, or kept as its head's bytes.
#[derive(Debug)]
pub(crate) enum LazyRequest {
    /// A request the host parsed itself (an adopted connection, a test).
    Parsed(Box<Request>),
    /// A request our handshake read: parsed again on first access.
    Head(KeptHead),
}

/// A head our handshake read, with what it agreed, and the request once someone asked for it.
#[derive(Debug)]
pub(crate) struct KeptHead {
    bytes: Box<[u8]>,
    /// Where the request target sits in `bytes` (a head is far below 4 GiB).
    target: Range<u32>,
    /// How many header lines the head has (the slots to parse it again with).
    headers: u32,
    remote_addr: SocketAddr,
    local_addr: SocketAddr,
    tls: bool,
    subprotocol: Option<Box<str>>,
    extensions: Box<str>,
    parsed: OnceLock<Box<Request>>,
}

impl LazyRequest {
    /// Keeps `head` (the bytes `parsed` came from, exactly its length) in place of `parsed.request`,
    /// whose addresses, TLS flag and agreed subprotocol and extensions it takes.
    pub(crate) fn from_head(head: &[u8], parsed: ParsedHead) -> LazyRequest {
        let ParsedHead { request, len, target, headers } = parsed;
        debug_assert_eq!(head.len(), len, "the head's bytes, nothing after them");
        LazyRequest::Head(KeptHead {
            // A copy of exactly the head: a slice of the read buffer would keep all of it.
            bytes: head.into(),
            target: target.start as u32..target.end as u32,
            headers: headers as u32,
            remote_addr: request.remote_addr,
            local_addr: request.local_addr,
            tls: request.tls,
            subprotocol: request.subprotocol.map(String::into_boxed_str),
            extensions: request.extensions.into_boxed_str(),
            parsed: OnceLock::new(),
        })
    }

    /// The request, parsed from the kept head the first time it is asked for.
    pub(crate) fn get(&self) -> &Request {
        match self {
            LazyRequest::Parsed(request) => request,
            LazyRequest::Head(head) => head.parsed.get_or_init(|| Box::new(head.parse())),
        }
    }

    /// The path part of the target ("/chat"), without parsing the head.
    pub(crate) fn path(&self) -> &str {
        match self {
            LazyRequest::Parsed(request) => &request.path,
            LazyRequest::Head(head) => {
                // The target's bytes were a `str` when httparse returned them; "/" as for a missing one.
                let target = std::str::from_utf8(&head.bytes[head.target.start as usize..head.target.end as usize])
                    .unwrap_or("/");
                let path = target.split_once('?').map_or(target, |(path, _)| path);
                if target.is_empty() { "/" } else { path }
            }
        }
    }

    /// The peer's address.
    pub(crate) fn remote_addr(&self) -> SocketAddr {
        match self {
            LazyRequest::Parsed(request) => request.remote_addr,
            LazyRequest::Head(head) => head.remote_addr,
        }
    }
}

impl From<Request> for LazyRequest {
    fn from(request: Request) -> Self {
        LazyRequest::Parsed(Box::new(request))
    }
}

impl KeptHead {
    /// The request as the handshake parsed it, with what it agreed.
    fn parse(&self) -> Request {
        let parsed =
            parse_located(&self.bytes, self.bytes.len(), self.headers as usize, self.remote_addr, self.local_addr);
        // The same bytes with the same limits parse as they did in the handshake.
        let mut request = parsed.ok().flatten().expect("a kept head parses as it did in the handshake").request;
        request.tls = self.tls;
        request.subprotocol = self.subprotocol.as_deref().map(str::to_owned);
        request.extensions = self.extensions.to_string();
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"GET /room/7?user=ann HTTP/1.1\r\nHost: x\r\nX-Tag: one\r\nx-tag: two\r\n\r\n";

    fn kept(head: &[u8]) -> LazyRequest {
        let (remote, local) = ("10.0.0.1:5000".parse().unwrap(), "10.0.0.2:80".parse().unwrap());
        let mut parsed = parse_located(head, 1024, 8, remote, local).unwrap().unwrap();
        parsed.request.tls = true;
        parsed.request.subprotocol = Some("chat".into());
        parsed.request.extensions = "permessage-deflate".into();
        LazyRequest::from_head(&head[..parsed.len], parsed)
    }

    #[test]
    fn a_kept_head_gives_the_request_the_handshake_parsed_with_what_it_agreed() {
        let request = kept(HEAD);
        let mut expected = parse_located(HEAD, 1024, 8, request.remote_addr(), "10.0.0.2:80".parse().unwrap())
            .unwrap()
            .unwrap()
            .request;
        expected.tls = true;
        expected.subprotocol = Some("chat".into());
        expected.extensions = "permessage-deflate".into();
        assert_eq!(request.get(), &expected);
        assert_eq!(request.get().headers.get_all("X-TAG").collect::<Vec<_>>(), ["one", "two"]);
        assert!(std::ptr::eq(request.get(), request.get()), "parsed once, then kept");
    }

    #[test]
    fn path_and_peer_come_without_parsing() {
        let request = kept(HEAD);
        assert_eq!((request.path(), request.remote_addr()), ("/room/7", "10.0.0.1:5000".parse().unwrap()));
        let LazyRequest::Head(head) = &request else { panic!("kept as its head") };
        assert!(head.parsed.get().is_none());
        assert_eq!(kept(b"GET /plain HTTP/1.1\r\n\r\n").path(), "/plain");
    }
}
