//! Servers sharing topics through a backplane, and real clients of their sessions.
#![allow(dead_code)]

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{Frame, Server, ServerConfig, Session};

use crate::common::{Client, connect, next, next_session, session_server};

/// A server whose topics go through the backplane at `url`, and the sessions it accepts.
pub async fn node(url: &str) -> (Server, UnboundedReceiver<Session>) {
    session_server(ServerConfig { backplane: Some(url.to_owned()), ..ServerConfig::default() }).await
}

/// A real client and its server-side session.
pub async fn pair(server: &Server, sessions: &mut UnboundedReceiver<Session>) -> (Client, Session) {
    let client = connect(server).await;
    (client, next_session(sessions).await)
}

/// Asserts that the next message `client` sees is `text`.
pub async fn expect_text(client: &mut Client, text: &str) {
    assert_eq!(next(client).await, Some(Message::text(text)));
}

/// Proves `client` got nothing before this point: a message sent to it directly arrives next.
pub async fn got_nothing_else(client: &mut Client, session: &Session) {
    session.try_send(Frame::text("marker")).unwrap();
    expect_text(client, "marker").await;
}
