//! The upgrade request a session was opened with (Ktor's `call`).

use std::net::SocketAddr;

/// HTTP headers in arrival order; repeated names kept, lookups case-insensitive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, String)>,
}

impl Headers {
    /// Headers from (name, value) pairs.
    pub fn from_pairs(entries: Vec<(String, String)>) -> Self {
        Self { entries }
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// All (name, value) pairs in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the comma-separated values of `name` contain `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name).flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// The request that opened a session: method, target, headers, addresses and what was negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// HTTP method ("GET" for any accepted session).
    pub method: String,
    /// The request target as sent ("/chat?room=1").
    pub target: String,
    /// The path part of the target ("/chat").
    pub path: String,
    /// The query string without '?', if any ("room=1").
    pub query: Option<String>,
    /// HTTP minor version (1 for HTTP/1.1).
    pub version: u8,
    /// The request headers.
    pub headers: Headers,
    /// The peer's address.
    pub remote_addr: SocketAddr,
    /// Our address the peer connected to.
    pub local_addr: SocketAddr,
    /// Whether the connection is TLS (`wss://`).
    pub tls: bool,
    /// The subprotocol chosen for the session, if any.
    pub subprotocol: Option<String>,
    /// The negotiated `Sec-WebSocket-Extensions` response value ("" when none).
    pub extensions: String,
}

impl Request {
    /// Subprotocols the client offered, in its order.
    pub fn offered_subprotocols(&self) -> Vec<String> {
        self.headers
            .get_all("sec-websocket-protocol")
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// The `Origin` header, if sent.
    pub fn origin(&self) -> Option<&str> {
        self.headers.get("origin")
    }

    /// Whether the request asks for a WebSocket upgrade at all.
    pub fn is_upgrade(&self) -> bool {
        self.headers.has_token("upgrade", "websocket")
    }
}
