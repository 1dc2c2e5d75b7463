//! What the load generator talks to: a WebSocket URL (plain or TLS) or a raw TCP echo.

use crate::tls::TlsClient;
use std::io;
use std::path::Path;

/// A parsed `ws://host:port/path`, `wss://host:port/path` or `tcp://host:port` target.
#[derive(Clone, Debug)]
pub struct Target {
    /// `host:port` to connect to.
    pub addr: String,
    /// The request path for the handshake (`/` when absent).
    pub path: String,
    /// True for `tcp://`: no handshake, no framing, bytes are echoed as-is.
    pub raw: bool,
    /// `Some` for `wss://`: the TLS client that wraps each connection.
    pub tls: Option<TlsClient>,
}

impl Target {
    /// Parses `ws://host:port[/path]`, `wss://host:port[/path]` or `tcp://host:port`; `wss://`
    /// needs `tls_ca` (the PEM certificates to trust), the other schemes refuse it.
    pub fn parse(url: &str, tls_ca: Option<&Path>) -> io::Result<Self> {
        let (raw, secure, rest) = if let Some(r) = url.strip_prefix("ws://") {
            (false, false, r)
        } else if let Some(r) = url.strip_prefix("wss://") {
            (false, true, r)
        } else if let Some(r) = url.strip_prefix("tcp://") {
            (true, false, r)
        } else {
            return Err(invalid(format!(
                "unsupported url {url:?}: use ws://host:port/path, wss://host:port/path or tcp://host:port"
            )));
        };
        let (addr, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let Some((host, _port)) = addr.rsplit_once(':') else {
            return Err(invalid(format!("url {url:?} needs an explicit port")));
        };
        let tls = match (secure, tls_ca) {
            (true, Some(ca)) => Some(TlsClient::new(host, ca)?),
            (true, None) => return Err(invalid(format!("url {url:?} needs --tls-ca FILE (the certificate to trust)"))),
            (false, Some(_)) => return Err(invalid(format!("--tls-ca applies to wss:// urls only, not {url:?}"))),
            (false, None) => None,
        };
        Ok(Self { addr: addr.to_owned(), path: path.to_owned(), raw, tls })
    }

    /// The URL scheme this target was parsed from.
    pub fn scheme(&self) -> &'static str {
        match (self.raw, self.tls.is_some()) {
            (true, _) => "tcp",
            (false, true) => "wss",
            (false, false) => "ws",
        }
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ws_url_with_default_path() {
        let t = Target::parse("ws://127.0.0.1:9001", None).unwrap();
        assert_eq!(t.addr, "127.0.0.1:9001");
        assert_eq!(t.path, "/");
        assert!(!t.raw);
    }

    #[test]
    fn parses_tcp_url_as_raw() {
        let t = Target::parse("tcp://127.0.0.1:9/x", None).unwrap();
        assert!(t.raw);
        assert_eq!(t.path, "/x");
    }

    #[test]
    fn rejects_url_without_port() {
        assert!(Target::parse("ws://localhost/", None).is_err());
    }

    #[test]
    fn wss_url_without_a_certificate_to_trust_is_refused() {
        let e = Target::parse("wss://127.0.0.1:9001/", None).unwrap_err();
        assert!(e.to_string().contains("--tls-ca"), "{e}");
    }

    #[test]
    fn tls_ca_with_a_plain_url_is_refused() {
        let e = Target::parse("ws://127.0.0.1:9001/", Some(Path::new("cert.pem"))).unwrap_err();
        assert!(e.to_string().contains("wss://"), "{e}");
    }

    #[test]
    fn tls_ca_file_without_certificates_is_refused() {
        let path = std::env::temp_dir().join(format!("loadgen-empty-{}.pem", std::process::id()));
        std::fs::write(&path, "not a certificate\n").unwrap();
        let e = Target::parse("wss://127.0.0.1:9001/", Some(&path)).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(e.to_string().contains("no certificate"), "{e}");
    }
}
