//! SPEC 13.1: a server with no listener of its own serves only the connections its host hands over.
mod common;

use std::time::Duration;

use common::*;
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{Handler, Initiator, ServerBuilder, ServerConfig};

/// A client connected through the host's own listener, and the host's end of it.
async fn host_connection() -> (std::net::TcpStream, tokio::task::JoinHandle<Client>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let client = tokio::spawn(async move { tokio_tungstenite::connect_async(url).await.expect("upgraded").0 });
    let (tcp, _) = tokio::task::spawn_blocking(move || listener.accept().unwrap()).await.unwrap();
    (tcp, client)
}

#[tokio::test]
async fn a_detached_server_listens_nowhere_and_serves_adopted_connections() {
    let config = ServerConfig { port: 0, ..ServerConfig::default() };
    let server = ServerBuilder::new(config).fallback(Handler::events(Echo)).start_detached().unwrap();
    assert!(server.is_detached());
    assert_eq!(server.local_addr(), "0.0.0.0:0".parse().unwrap());
    assert!(!server.is_closed());
    let (tcp, client) = host_connection().await;
    server.adopt_tcp(tcp, b"").unwrap();
    let mut client = within(client).await.unwrap();
    send(&mut client, Message::text("hi")).await;
    assert_eq!(next(&mut client).await, Some(Message::text("hi")));
}

#[tokio::test]
async fn a_closed_detached_server_answers_adopted_connections_with_503() {
    let server = ServerBuilder::new(ServerConfig::default()).fallback(Handler::events(Echo)).start_detached().unwrap();
    server.close();
    assert!(server.is_closed());
    within(server.wait()).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (tcp, _) = listener.accept().unwrap();
    assert!(within(server.adopt_tcp(tcp, b"").unwrap()).await.is_none());
    let mut out = vec![];
    within(client.read_to_end(&mut out)).await.unwrap();
    assert!(out.starts_with(b"HTTP/1.1 503"), "{}", String::from_utf8_lossy(&out));
}

#[tokio::test]
async fn shutting_down_a_detached_server_closes_its_adopted_sessions_with_1001() {
    let server = ServerBuilder::new(ServerConfig::default()).fallback(Handler::events(Echo)).start_detached().unwrap();
    let (tcp, client) = host_connection().await;
    let session = within(server.adopt_tcp(tcp, b"").unwrap()).await.unwrap();
    let mut client = within(client).await.unwrap();
    let shutdown = tokio::spawn({
        let server = server.clone();
        async move { server.shutdown(Duration::from_secs(5)).await }
    });
    assert!(matches!(next(&mut client).await, Some(Message::Close(Some(f))) if u16::from(f.code) == 1001));
    // Reading on sends the client's Close echo and sees the end.
    assert_eq!(next(&mut client).await, None);
    within(shutdown).await.unwrap();
    let reason = within(session.close_reason()).await;
    assert_eq!((reason.code, reason.initiator), (1001, Initiator::Local));
    assert_eq!(server.connection_count(), 0);
}
