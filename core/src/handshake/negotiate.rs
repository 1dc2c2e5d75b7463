//! The answer to a valid upgrade request: accept key, subprotocol and permessage-deflate parameters.
//! The server's own handshake uses it, and so can a host that writes the 101 itself.

use crate::deflate::{self, DeflateConfig, DeflateParams};
use crate::request::Request;

use super::response::{upgrade_bytes, upgrade_headers};
use super::{HttpResponse, validate_upgrade};

/// What was agreed for one upgrade; everything a `101 Switching Protocols` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The `Sec-WebSocket-Accept` value derived from the client's key.
    pub accept_key: String,
    /// The chosen subprotocol (`Sec-WebSocket-Protocol`), if any.
    pub subprotocol: Option<String>,
    /// The negotiated permessage-deflate parameters: give them to [`crate::Session::start`].
    pub deflate: Option<DeflateParams>,
    /// Extra response headers (the accept hook's, or the host's).
    pub headers: Vec<(String, String)>,
}

impl Handshake {
    /// Validates `request` as an RFC 6455 upgrade and negotiates with it: the subprotocol is `chosen`
    /// when given, else the first of `preference` the client offered; permessage-deflate follows
    /// `deflate` and the client's offers. An invalid upgrade gives the HTTP error to answer with.
    pub fn negotiate(
        request: &Request,
        chosen: Option<&str>,
        preference: &[String],
        deflate: &DeflateConfig,
    ) -> Result<Handshake, HttpResponse> {
        let key = validate_upgrade(request)?;
        let offered = request.offered_subprotocols();
        let subprotocol =
            chosen.map(str::to_owned).or_else(|| preference.iter().find(|p| offered.contains(p)).cloned());
        let deflate = deflate::negotiate(request.headers.get_all("sec-websocket-extensions"), deflate);
        Ok(Handshake {
            accept_key: tungstenite::handshake::derive_accept_key(key.as_bytes()),
            subprotocol,
            deflate,
            headers: vec![],
        })
    }

    /// The `Sec-WebSocket-Extensions` response value ("" when nothing was negotiated).
    pub fn extensions(&self) -> String {
        self.deflate.as_ref().map(DeflateParams::response_header).unwrap_or_default()
    }

    /// Every response header of the 101, in order (Upgrade, Connection, Sec-WebSocket-Accept, then the
    /// negotiated ones and the extra ones).
    pub fn response_headers(&self) -> Vec<(String, String)> {
        upgrade_headers(&self.accept_key, self.subprotocol.as_deref(), &self.extensions(), &self.headers)
    }

    /// The whole `101 Switching Protocols` response on the wire.
    pub fn to_bytes(&self) -> Vec<u8> {
        upgrade_bytes(&self.response_headers())
    }

    /// Records the agreed subprotocol and extensions on `request` (what `Session::request` reports).
    pub fn apply(&self, request: &mut Request) {
        request.subprotocol = self.subprotocol.clone();
        request.extensions = self.extensions();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::parse_head;

    fn request(extra: &[(&str, &str)]) -> Request {
        let mut head = String::from(
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        );
        for (n, v) in extra {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let addr = "127.0.0.1:1".parse().unwrap();
        parse_head(head.as_bytes(), 4096, 16, addr, addr).unwrap().unwrap().0
    }

    #[test]
    fn negotiates_key_subprotocol_and_deflate_into_one_response() {
        let req = request(&[
            ("Sec-WebSocket-Protocol", "a, b"),
            ("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=10"),
        ]);
        let hs = Handshake::negotiate(&req, None, &["b".into()], &DeflateConfig::enabled()).unwrap();
        assert_eq!(hs.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(hs.subprotocol.as_deref(), Some("b"));
        assert_eq!(hs.extensions(), "permessage-deflate; server_max_window_bits=10");
        let text = String::from_utf8(hs.to_bytes()).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.contains("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn an_invalid_upgrade_gives_its_http_error() {
        let mut req = request(&[]);
        req.method = "POST".into();
        assert_eq!(Handshake::negotiate(&req, None, &[], &DeflateConfig::default()).unwrap_err().status, 400);
    }
}
