//! What the load generator talks to: a WebSocket URL or a raw TCP echo.

use std::io;

/// A parsed `ws://host:port/path` or `tcp://host:port` target.
#[derive(Clone, Debug)]
pub struct Target {
    /// `host:port` to connect to.
    pub addr: String,
    /// The request path for the handshake (`/` when absent).
    pub path: String,
    /// True for `tcp://`: no handshake, no framing, bytes are echoed as-is.
    pub raw: bool,
}

impl Target {
    /// Parses `ws://host:port[/path]` or `tcp://host:port`.
    pub fn parse(url: &str) -> io::Result<Self> {
        let (raw, rest) = if let Some(r) = url.strip_prefix("ws://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("tcp://") {
            (true, r)
        } else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsupported url {url:?}: use ws://host:port/path or tcp://host:port"),
            ));
        };
        let (addr, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if !addr.contains(':') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("url {url:?} needs an explicit port")));
        }
        Ok(Self { addr: addr.to_owned(), path: path.to_owned(), raw })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ws_url_with_default_path() {
        let t = Target::parse("ws://127.0.0.1:9001").unwrap();
        assert_eq!(t.addr, "127.0.0.1:9001");
        assert_eq!(t.path, "/");
        assert!(!t.raw);
    }

    #[test]
    fn parses_tcp_url_as_raw() {
        let t = Target::parse("tcp://127.0.0.1:9/x").unwrap();
        assert!(t.raw);
        assert_eq!(t.path, "/x");
    }

    #[test]
    fn rejects_url_without_port() {
        assert!(Target::parse("ws://localhost/").is_err());
    }
}
