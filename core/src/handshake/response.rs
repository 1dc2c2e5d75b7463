//! HTTP responses: the 101 upgrade and plain error/content responses.

use bytes::Bytes;

use crate::error::{Error, Result};

/// A plain HTTP response (rejections, 4xx/5xx errors, or content served by the accept hook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Extra headers (Content-Length and Connection: close are added when written).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Bytes,
}

/// Whether `s` is an HTTP token (RFC 9110 §5.6.2): header names and subprotocols must be.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Checks a status that answers an upgrade request instead of the 101: 100–599, but not 101 (only
/// the handshake itself switches protocols).
pub fn check_status(status: u16) -> Result<()> {
    if (100..=599).contains(&status) && status != 101 {
        Ok(())
    } else {
        Err(Error::out_of_range(format!("HTTP status {status} must be 100-599 and not 101")))
    }
}

/// Checks a response header: the name an HTTP token, the value free of CR, LF and other control
/// characters (tab allowed), so nothing can be smuggled into the response head.
pub fn check_header(name: &str, value: &str) -> Result<()> {
    if !is_token(name) {
        return Err(Error::invalid(format!("header name {name:?} is not an HTTP token")));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(Error::invalid(format!("the value of header {name} contains CR, LF or another control character")));
    }
    Ok(())
}

/// Checks every header of a list (see [`check_header`]).
pub fn check_headers(headers: &[(String, String)]) -> Result<()> {
    headers.iter().try_for_each(|(n, v)| check_header(n, v))
}

impl HttpResponse {
    /// A response checked as adapters build it from user input: status 100–599 except 101, header
    /// names HTTP tokens, no CR/LF in values.
    pub fn checked(status: u16, headers: Vec<(String, String)>, body: impl Into<Bytes>) -> Result<Self> {
        check_status(status)?;
        check_headers(&headers)?;
        Ok(Self { status, headers, body: body.into() })
    }

    /// Checks this response as [`HttpResponse::checked`] does.
    pub fn validate(&self) -> Result<()> {
        check_status(self.status)?;
        check_headers(&self.headers)
    }

    /// A response with a body and no extra headers.
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        Self { status, headers: vec![], body: body.into() }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, body: &str) -> Self {
        Self::new(status, format!("{body}\n")).with_header("Content-Type", "text/plain; charset=utf-8")
    }

    /// The same response with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The bytes on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason_phrase(self.status));
        for (n, v) in &self.headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", self.body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// The `101 Switching Protocols` response for `key` with the negotiated values.
pub fn switching_protocols(
    key: &str,
    subprotocol: Option<&str>,
    extensions: &str,
    extra: &[(String, String)],
) -> Vec<u8> {
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    upgrade_bytes(&upgrade_headers(&accept, subprotocol, extensions, extra))
}

/// The headers of a 101: Upgrade, Connection, the accept value, the negotiated ones, then `extra`.
pub(crate) fn upgrade_headers(
    accept: &str,
    subprotocol: Option<&str>,
    extensions: &str,
    extra: &[(String, String)],
) -> Vec<(String, String)> {
    let mut out = vec![
        ("Upgrade".to_owned(), "websocket".to_owned()),
        ("Connection".to_owned(), "Upgrade".to_owned()),
        ("Sec-WebSocket-Accept".to_owned(), accept.to_owned()),
    ];
    if let Some(p) = subprotocol {
        out.push(("Sec-WebSocket-Protocol".to_owned(), p.to_owned()));
    }
    if !extensions.is_empty() {
        out.push(("Sec-WebSocket-Extensions".to_owned(), extensions.to_owned()));
    }
    out.extend(extra.iter().cloned());
    out
}

/// A 101 response with `headers`, on the wire.
pub(crate) fn upgrade_bytes(headers: &[(String, String)]) -> Vec<u8> {
    let mut out = String::from("HTTP/1.1 101 Switching Protocols\r\n");
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_responses_take_any_non_101_status_and_refuse_header_injection() {
        for ok in [100, 200, 204, 302, 401, 426, 503, 599] {
            assert!(HttpResponse::checked(ok, vec![], "").is_ok(), "{ok}");
        }
        for bad in [0, 99, 101, 600, 999] {
            assert!(HttpResponse::checked(bad, vec![], "").is_err(), "{bad}");
        }
        let h = |n: &str, v: &str| vec![(n.to_owned(), v.to_owned())];
        assert!(HttpResponse::checked(403, h("X-Why", "tab\tis fine"), "").is_ok());
        for (n, v) in [("X-Ok", "a\r\nSet-Cookie: x"), ("X-Ok", "a\nb"), ("Bad Name", "v"), ("", "v"), ("X:y", "v")] {
            assert!(HttpResponse::checked(403, h(n, v), "").is_err(), "{n:?}: {v:?}");
        }
    }

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        let text = String::from_utf8(switching_protocols("dGhlIHNhbXBsZSBub25jZQ==", Some("chat"), "", &[])).unwrap();
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(text.contains("Sec-WebSocket-Protocol: chat\r\n"));
        assert!(!text.contains("Extensions"));
    }
}
