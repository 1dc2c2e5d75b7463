//! Parsing a bounded HTTP/1.1 request head with httparse.

use std::net::SocketAddr;
use std::ops::Range;

use crate::request::{Headers, Request};

/// Why a request head could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadError {
    /// The head is larger than the byte limit (431).
    TooLarge,
    /// More header lines than the limit (431).
    TooManyHeaders,
    /// Not an HTTP/1.x request (400).
    Malformed(String),
}

impl HeadError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            HeadError::TooLarge | HeadError::TooManyHeaders => 431,
            HeadError::Malformed(_) => 400,
        }
    }
}

/// Parses the head at the start of `buf`: `Ok(Some((request, head_len)))` when complete,
/// `Ok(None)` when more bytes are needed.
pub fn parse_head(
    buf: &[u8],
    max_bytes: usize,
    max_headers: usize,
    remote_addr: SocketAddr,
    local_addr: SocketAddr,
) -> Result<Option<(Request, usize)>, HeadError> {
    Ok(parse_located(buf, max_bytes, max_headers, remote_addr, local_addr)?.map(|h| (h.request, h.len)))
}

/// A complete head: the request, and where its parts sit in the bytes it was parsed from.
pub(crate) struct ParsedHead {
    /// The request, owning copies of its parts.
    pub request: Request,
    /// The head's length, up to and including its empty line.
    pub len: usize,
    /// Where the request target sits in the head.
    pub target: Range<usize>,
    /// How many header lines the head has.
    pub headers: usize,
}

/// As [`parse_head`], also saying where the target sits and how many headers there are (what a
/// [`super::LazyRequest`] needs to keep only the head's bytes).
pub(crate) fn parse_located(
    buf: &[u8],
    max_bytes: usize,
    max_headers: usize,
    remote_addr: SocketAddr,
    local_addr: SocketAddr,
) -> Result<Option<ParsedHead>, HeadError> {
    let mut slots = vec![httparse::EMPTY_HEADER; max_headers];
    let mut parsed = httparse::Request::new(&mut slots);
    let status = match parsed.parse(buf) {
        Ok(s) => s,
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    };
    let len = match status {
        httparse::Status::Partial => {
            return if buf.len() > max_bytes { Err(HeadError::TooLarge) } else { Ok(None) };
        }
        httparse::Status::Complete(len) if len > max_bytes => return Err(HeadError::TooLarge),
        httparse::Status::Complete(len) => len,
    };
    // httparse borrows the target from `buf`: its offset there is where it starts.
    let target_at = parsed.path.map_or(0..0, |p| {
        let start = p.as_ptr() as usize - buf.as_ptr() as usize;
        start..start + p.len()
    });
    let target = parsed.path.unwrap_or("/").to_owned();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
        None => (target.clone(), None),
    };
    let mut headers = Vec::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| HeadError::Malformed(format!("header {} is not valid UTF-8", h.name)))?;
        headers.push((h.name.to_owned(), value.to_owned()));
    }
    let request = Request {
        method: parsed.method.unwrap_or("").to_owned(),
        target,
        path,
        query,
        version: parsed.version.unwrap_or(0),
        headers: Headers::from_pairs(headers),
        remote_addr,
        local_addr,
        tls: false,
        subprotocol: None,
        extensions: String::new(),
    };
    Ok(Some(ParsedHead { request, len, target: target_at, headers: parsed.headers.len() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> Result<Option<(Request, usize)>, HeadError> {
        parse_head(buf, 1024, 4, "127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap())
    }

    #[test]
    fn parses_target_query_and_repeated_headers() {
        let head = b"GET /chat?room=1 HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\n\r\nrest";
        let (req, len) = parse(head).unwrap().unwrap();
        assert_eq!((req.path.as_str(), req.query.as_deref(), len), ("/chat", Some("room=1"), head.len() - 4));
        assert_eq!(req.headers.get_all("X-A").collect::<Vec<_>>(), ["1", "2"]);
    }

    #[test]
    fn partial_heads_wait_and_limits_give_431() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap(), None);
        assert_eq!(parse(b"\x16\x03\x01 hello\r\n\r\n").unwrap_err().status(), 400);
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 2000));
        assert_eq!(parse(&big).unwrap_err(), HeadError::TooLarge);
        let many = b"GET / HTTP/1.1\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\n\r\n";
        assert_eq!(parse(many).unwrap_err(), HeadError::TooManyHeaders);
    }
}
