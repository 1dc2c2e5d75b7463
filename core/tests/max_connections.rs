//! SPEC 9.2: handshakes beyond `max_connections` get 503; slots free up when sessions end.
mod common;

use common::*;
use wssession_core::{Handler, ServerConfig};

#[tokio::test]
async fn connections_over_the_limit_get_503_and_a_freed_slot_is_reused() {
    let config = ServerConfig { max_connections: 1, ..ServerConfig::default() };
    let server = start(config, Handler::events(Echo)).await;
    let raw = Raw::connect(&server).await;
    eventually(|| server.connection_count() == 1).await;
    let (status, text) = http_exchange(
        &server,
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    assert_eq!(status, 503, "{text}");
    eventually(|| server.session_count() == 1).await;
    drop(raw);
    eventually(|| server.connection_count() == 0).await;
    assert!(still_serves(&server).await, "the freed slot accepts a new session");
}
