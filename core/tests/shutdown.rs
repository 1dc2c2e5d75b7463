//! SPEC 6 ("server shutdown" row) and 9.2: `shutdown(grace)` sends 1001 to every session, waits up
//! to the grace period, then shuts the rest; `close()` only stops accepting; `wait()` returns then.
mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{Initiator, ServerConfig};

#[tokio::test]
async fn shutdown_sends_1001_to_every_session_and_resolves_their_reasons_as_local() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let a = connect(&server).await;
    let b = connect(&server).await;
    let sa = next_session(&mut sessions).await;
    let sb = next_session(&mut sessions).await;
    // The clients answer the Close while they are read; each reports the first message it saw.
    let read_all = |mut c: Client| async move {
        let first = c.next().await;
        while let Some(Ok(_)) = c.next().await {}
        first
    };
    let (ra, rb) = (tokio::spawn(read_all(a)), tokio::spawn(read_all(b)));
    within(server.shutdown(Duration::from_secs(30))).await;
    for reader in [ra, rb] {
        match within(reader).await.unwrap() {
            Some(Ok(Message::Close(Some(f)))) => assert_eq!(u16::from(f.code), 1001),
            other => panic!("expected Close(1001), got {other:?}"),
        }
    }
    for s in [sa, sb] {
        let r = within(s.close_reason()).await;
        assert_eq!((r.code, r.initiator), (1001, Initiator::Local), "{r:?}");
    }
    assert!(server.is_closed());
    assert_eq!(server.session_count(), 0);
    assert!(refuses_connections(server.local_addr()).await, "no longer accepting");
}

#[tokio::test]
async fn shutdown_grace_ends_sessions_whose_clients_never_answer_keeping_1001() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    within(server.shutdown(Duration::from_millis(100))).await;
    assert_eq!(raw.read_close().await, Some(1001));
    assert!(raw.eof().await, "after the grace period the socket is shut");
    let r = within(session.close_reason()).await;
    assert_eq!((r.code, r.initiator), (1001, Initiator::Local));
}

#[tokio::test]
async fn close_stops_accepting_but_keeps_open_sessions_and_wait_returns() {
    let server = echo_server().await;
    let mut client = connect(&server).await;
    server.close();
    within(server.wait()).await;
    assert!(server.is_closed());
    assert!(refuses_connections(server.local_addr()).await);
    send(&mut client, Message::text("still here")).await;
    assert_eq!(next(&mut client).await, Some(Message::text("still here")));
}

#[tokio::test]
async fn shutdown_with_no_sessions_completes() {
    let server = echo_server().await;
    within(server.shutdown(Duration::from_secs(1))).await;
    assert!(server.is_closed());
}

#[tokio::test]
async fn a_handshake_in_progress_during_shutdown_does_not_escape_it() {
    use std::sync::Arc;
    use tokio::sync::{Notify, mpsc};
    use wssession_core::{Accept, Decision, Handler, ServerBuilder};
    let (reached_tx, mut reached) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let hook_release = release.clone();
    let server = ServerBuilder::new(ServerConfig::default())
        .fallback(Handler::events(Echo))
        .accept_hook(move |_| {
            let (reached, release) = (reached_tx.clone(), hook_release.clone());
            async move {
                let _ = reached.send(());
                release.notified().await;
                Decision::Accept(Accept::default())
            }
        })
        .start()
        .await
        .unwrap();
    let connecting = tokio::spawn(tokio_tungstenite::connect_async(url(&server)));
    within(reached.recv()).await.unwrap();
    // Shutdown starts while the handshake waits in the accept hook, then the hook lets it through.
    let s = server.clone();
    let shutdown = tokio::spawn(async move { s.shutdown(Duration::from_secs(5)).await });
    within(server.wait()).await;
    release.notify_one();
    match within(connecting).await.unwrap() {
        Err(_) => {} // refused: fine
        Ok((mut client, _)) => match next(&mut client).await {
            Some(Message::Close(Some(f))) => assert_eq!(u16::from(f.code), 1001),
            other => panic!("a session accepted during shutdown must get Close(1001), got {other:?}"),
        },
    }
    within(shutdown).await.unwrap();
    eventually(|| server.session_count() == 0).await;
}
