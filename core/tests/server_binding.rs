//! SPEC 9.1: binds host:port (0 = ephemeral, reported), IPv4 and IPv6; bind failures are clear errors.
mod common;

use common::*;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{Error, Handler, ServerBuilder, ServerConfig};

#[tokio::test]
async fn port_0_binds_an_ephemeral_port_and_reports_it() {
    let server = echo_server().await;
    assert_ne!(server.port(), 0);
    assert_eq!(server.local_addr().port(), server.port());
    assert!(server.local_addr().ip().is_loopback());
    assert!(still_serves(&server).await);
}

#[tokio::test]
async fn the_server_serves_over_ipv6() {
    let config = ServerConfig { host: "::1".into(), ..ServerConfig::default() };
    let server = start(config, Handler::events(Echo)).await;
    assert!(server.local_addr().is_ipv6());
    let (mut c, _) = within(tokio_tungstenite::connect_async(format!("ws://[::1]:{}/", server.port()))).await.unwrap();
    send(&mut c, Message::text("v6")).await;
    assert_eq!(next(&mut c).await, Some(Message::text("v6")));
}

#[tokio::test]
async fn binding_a_port_in_use_fails_with_an_io_error() {
    let first = echo_server().await;
    let config = ServerConfig { port: first.port(), ..ServerConfig::default() };
    // SO_REUSEADDR does not allow two listeners on one port.
    let second = ServerBuilder::new(config).fallback(Handler::events(Echo)).start().await;
    assert!(matches!(second, Err(Error::Io(_))), "{second:?}");
}

#[test]
fn start_blocking_works_from_a_plain_thread() {
    let server = std::thread::spawn(|| {
        ServerBuilder::new(ServerConfig::default()).fallback(Handler::events(Echo)).start_blocking()
    })
    .join()
    .unwrap()
    .unwrap();
    assert_ne!(server.port(), 0);
}
