//! The upgrade request as a plain JS object.

use napi_derive::napi;
use wssession_core::Request;

/// The HTTP upgrade request of a session (Ktor's `call`); `rawHeaders` keeps repeats and order.
#[napi(object)]
pub struct RequestInfo {
    /// HTTP method ("GET").
    pub method: String,
    /// The request target as sent ("/chat?room=1").
    pub url: String,
    /// The path part of the target ("/chat").
    pub path: String,
    /// The query string without '?', or null.
    pub query: Option<String>,
    /// HTTP version ("1.1").
    pub http_version: String,
    /// Header names and values alternating, in arrival order, as Node's `rawHeaders`.
    pub raw_headers: Vec<String>,
    /// The peer's IP address.
    pub remote_address: String,
    /// The peer's port.
    pub remote_port: u32,
    /// Our IP address the peer connected to.
    pub local_address: String,
    /// Our port.
    pub local_port: u32,
    /// Whether the connection is TLS.
    pub secure: bool,
    /// The chosen subprotocol, if any.
    pub subprotocol: Option<String>,
    /// The negotiated `Sec-WebSocket-Extensions` value ("" when none).
    pub extensions: String,
}

impl From<&Request> for RequestInfo {
    fn from(r: &Request) -> Self {
        RequestInfo {
            method: r.method.clone(),
            url: r.target.clone(),
            path: r.path.clone(),
            query: r.query.clone(),
            http_version: format!("1.{}", r.version),
            raw_headers: r.headers.iter().flat_map(|(n, v)| [n.to_owned(), v.to_owned()]).collect(),
            remote_address: r.remote_addr.ip().to_string(),
            remote_port: r.remote_addr.port() as u32,
            local_address: r.local_addr.ip().to_string(),
            local_port: r.local_addr.port() as u32,
            secure: r.tls,
            subprotocol: r.subprotocol.clone(),
            extensions: r.extensions.clone(),
        }
    }
}
