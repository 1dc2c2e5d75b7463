//! Issue 16: the engine's `tracing` events, captured with a `tracing-subscriber` layer: each carries
//! the expected level and fields, and the connection's span (id, peer, path).
#[path = "common/capture.rs"]
mod capture;
mod common;

use std::net::SocketAddr;

use capture::{Record, all_records, records, wait_record};
use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::Message;
use tracing::Level;
use wssession_core::{Handler, ServerConfig, Session};

fn from(peer: SocketAddr) -> impl Fn(&Record) -> bool {
    let peer = peer.to_string();
    move |r| r.field("peer") == peer
}

fn client_addr(c: &Client) -> SocketAddr {
    match c.get_ref() {
        MaybeTlsStream::Plain(tcp) => tcp.local_addr().unwrap(),
        _ => unreachable!("plain ws:// clients only"),
    }
}

#[tokio::test]
async fn a_refused_handshake_is_logged_at_info_with_status_reason_and_path() {
    records();
    let server = wssession_core::Server::builder().route("/chat", Handler::events(Echo)).start().await.unwrap();
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    let peer = tcp.local_addr().unwrap();
    let req = "GET /nowhere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
               Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    tcp.write_all(req.as_bytes()).await.unwrap();
    let r = wait_record(from(peer)).await;
    assert_eq!((r.level, r.message.as_str()), (Level::INFO, "handshake refused"));
    assert_eq!(r.field("status"), "404");
    assert_eq!(r.field("path"), "/nowhere");
    assert_eq!(r.field("reason"), "no WebSocket endpoint at /nowhere");
}

#[tokio::test]
async fn a_protocol_violation_is_logged_at_warn_with_its_kind_in_the_session_span() {
    records();
    let server = echo_server().await;
    let mut raw = Raw::connect(&server).await;
    let peer = raw.tcp.local_addr().unwrap();
    // An unmasked client frame (RFC 6455 §5.1).
    raw.write(&encode(1, true, b"hi", None)).await;
    assert_eq!(raw.read_close().await, Some(1002));
    let r = wait_record(|r| from(peer)(r) && r.message == "protocol violation").await;
    assert_eq!(r.level, Level::WARN);
    assert_eq!((r.field("kind"), r.field("code")), ("unmasked", "1002"));
    assert_eq!(r.field("path"), "/");
    assert!(r.field("id").parse::<u64>().is_ok(), "the span carries the session id: {r:?}");
    let closed = wait_record(|r| from(peer)(r) && r.message == "session closed").await;
    assert_eq!((closed.level, closed.field("code"), closed.field("initiator")), (Level::INFO, "1002", "local"));
    assert!(closed.field("duration_ms").parse::<u64>().is_ok());
}

#[tokio::test]
async fn a_failing_handler_is_logged_at_error_with_its_message() {
    records();
    let handler = Handler::task(|_s: Session| async { Err("database unavailable".into()) });
    let server = start(ServerConfig::default(), handler).await;
    let mut client = connect(&server).await;
    let peer = client_addr(&client);
    assert!(matches!(next(&mut client).await, Some(Message::Close(Some(f))) if u16::from(f.code) == 1011));
    let r = wait_record(|r| from(peer)(r) && r.message == "session handler failed").await;
    assert_eq!((r.level, r.field("error")), (Level::ERROR, "database unavailable"));
}

#[tokio::test]
async fn messages_leave_no_record_above_trace_and_open_and_close_are_logged_once() {
    records();
    let server = echo_server().await;
    let mut client = connect(&server).await;
    let peer = client_addr(&client);
    for i in 0..20 {
        send(&mut client, Message::text(format!("m{i}"))).await;
        assert_eq!(next(&mut client).await, Some(Message::text(format!("m{i}"))));
    }
    send(&mut client, Message::Close(None)).await;
    wait_record(|r| from(peer)(r) && r.message == "session closed").await;
    let above_trace: Vec<_> =
        all_records(|r| from(peer)(r) && r.level != Level::TRACE).into_iter().map(|r| (r.level, r.message)).collect();
    assert_eq!(above_trace, [(Level::INFO, "session open".into()), (Level::INFO, "session closed".into())]);
    let traced = all_records(|r| from(peer)(r) && r.message == "message received");
    assert_eq!(traced.len(), 20, "each message is traced at TRACE");
}
