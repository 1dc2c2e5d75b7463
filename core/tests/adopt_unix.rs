//! SPEC 13.1 for Unix stream sockets (Python's `unix_serve`): a connection the host accepted on its own
//! Unix socket takes the same handshake path as a TCP one.
mod common;

use std::os::fd::IntoRawFd;

use common::*;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::adopt::UNIX_ADDR;
use wssession_core::{Handler, Server, ServerBuilder, ServerConfig};

fn detached() -> Server {
    ServerBuilder::new(ServerConfig::default()).route("/chat", Handler::events(Echo)).start_detached().unwrap()
}

/// A real client on the other end of a Unix socket pair.
async fn client(theirs: std::os::unix::net::UnixStream) -> WsOverUnix {
    theirs.set_nonblocking(true).unwrap();
    let stream = tokio::net::UnixStream::from_std(theirs).unwrap();
    within(tokio_tungstenite::client_async("ws://localhost/chat", stream)).await.expect("upgraded").0
}

type WsOverUnix = tokio_tungstenite::WebSocketStream<tokio::net::UnixStream>;

async fn echo_once(ws: &mut WsOverUnix, text: &str) -> Option<Message> {
    use futures_util::{SinkExt, StreamExt};
    within(ws.send(Message::text(text))).await.unwrap();
    within(ws.next()).await.and_then(Result::ok)
}

#[tokio::test]
async fn an_adopted_unix_connection_is_upgraded_and_routed() {
    let server = detached();
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let adoption = server.adopt_unix(ours, b"").unwrap();
    let mut ws = client(theirs).await;
    let session = within(adoption).await.expect("upgraded");
    assert_eq!((session.request().path.as_str(), session.request().remote_addr), ("/chat", UNIX_ADDR));
    assert_eq!(echo_once(&mut ws, "over unix").await, Some(Message::text("over unix")));
}

#[tokio::test]
async fn adopt_fd_recognises_a_unix_socket() {
    let server = detached();
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let adoption = unsafe { server.adopt_fd(ours.into_raw_fd(), b"") }.unwrap();
    let mut ws = client(theirs).await;
    within(adoption).await.expect("upgraded");
    assert_eq!(echo_once(&mut ws, "by fd").await, Some(Message::text("by fd")));
}
