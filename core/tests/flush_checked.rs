mod common;

use common::*;
use tokio::sync::mpsc;
use wssession_core::{Bytes, Error, Frame, Handler, ServerConfig, Session};

/// A server whose sessions are handed to the test, which drives them.
async fn session_server(config: ServerConfig) -> (wssession_core::Server, mpsc::UnboundedReceiver<Session>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handler = Handler::task(move |s: Session| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(s.clone());
            s.close_reason().await;
            Ok(())
        }
    });
    (start(config, handler).await, rx)
}

#[tokio::test]
async fn flush_checked_succeeds_once_the_frames_are_written() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut client = connect(&server).await;
    let s = within(sessions.recv()).await.unwrap();
    s.send(Frame::text("one")).await.unwrap();
    within(s.flush_checked()).await.unwrap();
    assert_eq!(next(&mut client).await.unwrap().into_text().unwrap().as_str(), "one");
}

#[tokio::test]
async fn flush_checked_fails_with_closed_when_the_session_dies_first() {
    let mut config = ServerConfig::default();
    config.session.write_high_water = 64 << 20;
    config.session.write_hard_limit = 128 << 20;
    let (server, mut sessions) = session_server(config).await;
    let _raw = Raw::connect(&server).await; // never reads
    let s = within(sessions.recv()).await.unwrap();
    for _ in 0..8 {
        s.try_send(Frame::binary(vec![0u8; 4 << 20])).unwrap();
    }
    let flush = tokio::spawn({
        let s = s.clone();
        async move { s.flush_checked().await }
    });
    s.terminate();
    assert!(matches!(within(flush).await.unwrap(), Err(Error::Closed(_))));
}

#[tokio::test]
async fn latency_is_known_when_ping_returns() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut client = connect(&server).await;
    let s = within(sessions.recv()).await.unwrap();
    let reader = tokio::spawn(async move { next(&mut client).await });
    within(s.ping(Bytes::from_static(b"x"))).await.unwrap();
    assert!(s.latency().is_some());
    s.terminate();
    let _ = within(reader).await;
}
