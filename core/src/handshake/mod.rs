//! The opening handshake, server side: read a bounded request head, validate it, answer it.

mod lazy;
mod negotiate;
mod request;
mod response;

pub(crate) use lazy::LazyRequest;
pub use negotiate::Handshake;
pub use request::{HeadError, parse_head};
pub(crate) use request::{ParsedHead, parse_located};
pub use response::{HttpResponse, check_header, check_headers, check_status, is_token, switching_protocols};

use base64::Engine;

use crate::request::Request;

/// Checks that `req` is a valid RFC 6455 upgrade; returns the client's key or the HTTP error to send.
pub fn validate_upgrade(req: &Request) -> Result<String, HttpResponse> {
    if req.method != "GET" {
        return Err(HttpResponse::text(400, "WebSocket upgrade requires the GET method"));
    }
    if req.version != 1 {
        return Err(HttpResponse::text(400, "WebSocket upgrade requires HTTP/1.1"));
    }
    if !req.headers.has_token("upgrade", "websocket") {
        return Err(HttpResponse::text(400, "missing or invalid Upgrade: websocket header"));
    }
    if !req.headers.has_token("connection", "upgrade") {
        return Err(HttpResponse::text(400, "missing or invalid Connection: upgrade header"));
    }
    if req.headers.get("sec-websocket-version").map(str::trim) != Some("13") {
        return Err(HttpResponse::text(426, "unsupported Sec-WebSocket-Version; this server speaks 13")
            .with_header("Sec-WebSocket-Version", "13"));
    }
    let mut keys = req.headers.get_all("sec-websocket-key");
    let key = keys.next().map(str::trim).unwrap_or("");
    let valid = keys.next().is_none()
        && base64::engine::general_purpose::STANDARD.decode(key).map(|k| k.len() == 16).unwrap_or(false);
    if !valid {
        return Err(HttpResponse::text(400, "missing or invalid Sec-WebSocket-Key (must be 16 bytes, base64)"));
    }
    Ok(key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Headers;

    fn req(method: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: method.into(),
            target: "/".into(),
            path: "/".into(),
            query: None,
            version: 1,
            headers: Headers::from_pairs(headers.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()),
            remote_addr: "127.0.0.1:1".parse().unwrap(),
            local_addr: "127.0.0.1:2".parse().unwrap(),
            tls: false,
            subprotocol: None,
            extensions: String::new(),
        }
    }

    const GOOD: &[(&str, &str)] = &[
        ("Host", "x"),
        ("Upgrade", "WebSocket"),
        ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn accepts_a_valid_upgrade_with_comma_lists_and_any_case() {
        assert_eq!(validate_upgrade(&req("GET", GOOD)).unwrap(), "dGhlIHNhbXBsZSBub25jZQ==");
    }

    #[test]
    fn rejects_each_invalid_part_with_its_status() {
        let with = |name: &str, value: &str| {
            let h: Vec<(&str, &str)> = GOOD.iter().map(|&(n, v)| if n == name { (n, value) } else { (n, v) }).collect();
            validate_upgrade(&req("GET", &h)).unwrap_err().status
        };
        assert_eq!(validate_upgrade(&req("POST", GOOD)).unwrap_err().status, 400);
        assert_eq!(with("Upgrade", "h2c"), 400);
        assert_eq!(with("Connection", "close"), 400);
        assert_eq!(with("Sec-WebSocket-Version", "8"), 426);
        assert_eq!(with("Sec-WebSocket-Key", "c2hvcnQ="), 400);
        assert_eq!(with("Sec-WebSocket-Key", "not base64!!"), 400);
    }
}
