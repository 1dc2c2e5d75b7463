//! Validation happens once, in the core: a server refuses settings out of the ranges `ServerConfig`
//! documents (naming the setting), and an accept hook's invalid choice (status 101 or out of range,
//! a header that is no token or carries CR/LF, session settings out of range) gets a 500 instead of
//! reaching the wire.
mod common;

use common::*;
use wssession_core::{Accept, Decision, Error, Handler, HttpResponse, ServerBuilder, ServerConfig, SessionConfig};

#[tokio::test]
async fn a_server_refuses_to_start_with_a_setting_out_of_range_and_names_it() {
    let mut config = ServerConfig::default();
    config.deflate.server_max_window_bits = 16;
    match ServerBuilder::new(config).fallback(Handler::events(Echo)).start().await {
        Err(Error::OutOfRange(msg)) => assert!(msg.contains("server_max_window_bits"), "{msg}"),
        other => panic!("expected OutOfRange, got {other:?}"),
    }
    let mut edge = ServerConfig::default();
    edge.deflate.server_max_window_bits = 8;
    edge.deflate.enabled = true;
    let server = ServerBuilder::new(edge).fallback(Handler::events(Echo)).start().await.expect("8 is in range");
    assert!(still_serves(&server).await);
}

async fn status_with_hook(decision: fn() -> Decision) -> u16 {
    let server = ServerBuilder::new(ServerConfig::default())
        .fallback(Handler::events(Echo))
        .accept_hook(move |_| async move { decision() })
        .start()
        .await
        .unwrap();
    let request = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    http_status(&server, request).await
}

#[tokio::test]
async fn an_accept_hooks_invalid_decision_is_answered_with_500_and_nothing_of_it_is_written() {
    assert_eq!(status_with_hook(|| Decision::Respond(HttpResponse::new(101, ""))).await, 500);
    assert_eq!(status_with_hook(|| Decision::Respond(HttpResponse::new(1000, ""))).await, 500);
    let injected = || Decision::Respond(HttpResponse::new(403, "").with_header("X-A", "1\r\nSet-Cookie: x=1"));
    assert_eq!(status_with_hook(injected).await, 500);
    let bad_name = || Decision::Accept(Accept { headers: vec![("Bad Name".into(), "v".into())], ..Accept::default() });
    assert_eq!(status_with_hook(bad_name).await, 500);
    let bad_session = || {
        let config = SessionConfig { incoming_queue: 0, ..SessionConfig::default() };
        Decision::Accept(Accept { config: Some(config), ..Accept::default() })
    };
    assert_eq!(status_with_hook(bad_session).await, 500);
    assert_eq!(status_with_hook(|| Decision::Respond(HttpResponse::new(100, ""))).await, 100);
    assert_eq!(status_with_hook(|| Decision::Respond(HttpResponse::new(599, ""))).await, 599);
}
