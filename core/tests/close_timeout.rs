//! SPEC 5.3: `close_timeout_ms` bounds the closing handshake; the code sent stays the reason.
mod common;

use common::*;
use wssession_core::{CloseReason, Error, Initiator};

#[tokio::test]
async fn close_timeout_shuts_the_socket_when_the_client_never_answers_close() {
    let (server, mut sessions) = session_server(config_with(|s| s.close_timeout_ms = 100)).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.close(4000, "going").unwrap();
    assert_eq!(raw.read_close_frame().await, Some((Some(4000), "going".to_owned())));
    // Never answer: the server must give up and shut the socket.
    assert!(raw.eof().await, "server shuts the socket after the close timeout");
    assert_eq!(ended(within(session.close_reason()).await), CloseReason::new(4000, "going", Initiator::Local));
    assert!(matches!(within(session.recv()).await, Err(Error::Closed(Some(r))) if r.code == 4000));
}

#[tokio::test]
async fn a_peer_that_answers_in_time_completes_the_handshake_normally() {
    let (server, mut sessions) = session_server(config_with(|s| s.close_timeout_ms = 5_000)).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.close(1000, "").unwrap();
    assert_eq!(raw.read_close().await, Some(1000));
    raw.send_close(1000, "").await;
    assert!(raw.eof().await);
    assert_eq!(ended(within(session.close_reason()).await), CloseReason::new(1000, "", Initiator::Local));
}
