//! HTTP responses: the 101 upgrade and plain error/content responses.

use bytes::Bytes;

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

impl HttpResponse {
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
    fn accept_key_matches_rfc_6455_example() {
        let text = String::from_utf8(switching_protocols("dGhlIHNhbXBsZSBub25jZQ==", Some("chat"), "", &[])).unwrap();
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(text.contains("Sec-WebSocket-Protocol: chat\r\n"));
        assert!(!text.contains("Extensions"));
    }
}
