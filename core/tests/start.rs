//! SPEC 1 (`start`): embedders wrap an upgraded stream with `Session::new` and start it exactly once.
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use wssession_core::{Error, Headers, Initiator, Request, Session, SessionConfig, State};

fn request() -> Request {
    Request {
        method: "GET".into(),
        target: "/embedded".into(),
        path: "/embedded".into(),
        query: None,
        version: 1,
        headers: Headers::default(),
        remote_addr: "127.0.0.1:1".parse().unwrap(),
        local_addr: "127.0.0.1:2".parse().unwrap(),
        tls: false,
        subprotocol: None,
        extensions: String::new(),
    }
}

fn session() -> (Session, DuplexStream) {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    (Session::new(ours, request(), SessionConfig::default(), BytesMut::new(), None), theirs)
}

async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f).await.expect("step finished in time")
}

#[tokio::test]
async fn start_twice_fails_with_already_started() {
    let (s, _peer) = session();
    assert_eq!(s.state(), State::Connecting);
    s.start(None).unwrap();
    assert_eq!(s.state(), State::Open);
    assert!(matches!(s.start(None), Err(Error::AlreadyStarted)));
    assert_eq!(s.state(), State::Open);
}

#[tokio::test]
async fn a_started_session_speaks_websocket_over_any_stream() {
    let (s, mut peer) = session();
    assert!(s.server().is_none(), "no server owns an embedded session");
    // Bytes that arrived with the request head are handed over as leftover.
    let (ours, mut theirs) = tokio::io::duplex(1024);
    let leftover = BytesMut::from(&[0x81u8, 0x82, 0, 0, 0, 0, b'h', b'i'][..]);
    let s2 = Session::new(ours, request(), SessionConfig::default(), leftover, None);
    s2.start(None).unwrap();
    assert_eq!(within(s2.recv()).await.unwrap().unwrap().as_text(), Some("hi"));
    s2.send(wssession_core::Frame::text("yo")).await.unwrap();
    let mut out = [0u8; 4];
    within(theirs.read_exact(&mut out)).await.unwrap();
    assert_eq!(out, [0x81, 2, b'y', b'o']);

    s.start(None).unwrap();
    peer.write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]).await.unwrap();
    let r = within(s.close_reason()).await;
    assert_eq!((r.code, r.initiator), (1000, Initiator::Remote));
}

#[tokio::test]
async fn terminating_a_session_that_never_started_resolves_its_close_reason() {
    let (s, _peer) = session();
    s.terminate();
    let r = within(s.close_reason()).await;
    assert_eq!((r.code, r.initiator), (1006, Initiator::Abnormal));
    assert!(matches!(s.start(None), Err(Error::AlreadyStarted)));
}
