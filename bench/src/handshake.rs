//! HTTP/1.1 upgrade handshake pieces shared by the client and the hand-rolled server handshake.

use base64::Engine;
use sha1::{Digest, Sha1};

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// A fresh random `Sec-WebSocket-Key`.
pub fn random_key() -> String {
    let bytes: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The client's upgrade request; offers permessage-deflate when `deflate`.
pub fn client_request(host: &str, path: &str, key: &str, deflate: bool) -> String {
    let ext = if deflate { "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n" } else { "" };
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
    )
}

/// Index just past the `\r\n\r\n` that ends an HTTP head, if it is complete.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The value of header `name` (case-insensitive) in an HTTP head.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The 101 response a server writes for a request head, or `None` if it is no upgrade.
pub fn server_response(request_head: &str) -> Option<String> {
    let key = header(request_head, "sec-websocket-key")?;
    Some(format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(key)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_example() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn header_lookup_is_case_insensitive() {
        let head = "HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: abc\r\n\r\n";
        assert_eq!(header(head, "sec-websocket-accept"), Some("abc"));
        assert_eq!(head_end(head.as_bytes()), Some(head.len()));
    }
}
