//! The receive-side switches of SessionConfig: auto_pong, skip_utf8_validation, deliver_fragments.
mod common;

use bytes::Bytes;
use common::*;
use tokio::sync::mpsc;
use wssession_core::{EventHandler, Frame, FrameType, Handler, Session};

/// Hands every Ping payload the handler sees to the test.
struct Pings(mpsc::UnboundedSender<(Session, Bytes)>);

impl EventHandler for Pings {
    fn on_message(&self, _session: &Session, _frame: Frame) {}
    fn on_ping(&self, session: &Session, payload: &Bytes) {
        let _ = self.0.send((session.clone(), payload.clone()));
    }
}

#[tokio::test]
async fn without_auto_pong_a_ping_reaches_the_handler_and_only_the_applications_pong_is_sent() {
    let (tx, mut pings) = mpsc::unbounded_channel();
    let server = start(config_with(|c| c.auto_pong = false), Handler::events(Pings(tx))).await;
    let mut raw = Raw::connect(&server).await;
    raw.frame(0x9, true, b"first").await;
    let (session, payload) = within(pings.recv()).await.unwrap();
    assert_eq!(&payload[..], b"first");
    within(session.send(Frame::pong(&b"by hand"[..]))).await.unwrap();
    let frame = raw.read_wire_frame().await.unwrap();
    assert_eq!((frame.opcode(), frame.payload.as_slice()), (0xA, &b"by hand"[..]), "no automatic Pong came first");
}

#[tokio::test]
async fn with_auto_pong_by_default_the_ping_is_answered_and_still_reaches_the_handler() {
    let (tx, mut pings) = mpsc::unbounded_channel();
    let server = start(config_with(|_| {}), Handler::events(Pings(tx))).await;
    let mut raw = Raw::connect(&server).await;
    raw.frame(0x9, true, b"auto").await;
    let frame = raw.read_wire_frame().await.unwrap();
    assert_eq!((frame.opcode(), frame.payload.as_slice()), (0xA, &b"auto"[..]));
    assert_eq!(&within(pings.recv()).await.unwrap().1[..], b"auto");
}

#[tokio::test]
async fn skipping_utf8_validation_delivers_invalid_text_and_lossy_close_reasons() {
    let (server, mut sessions) = session_server(config_with(|c| c.skip_utf8_validation = true)).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.frame(0x1, true, b"\xff\xfeok").await;
    let m = within(session.recv()).await.unwrap().unwrap();
    assert_eq!((m.kind, &m.data[..]), (FrameType::Text, &b"\xff\xfeok"[..]));
    raw.frame(0x8, true, b"\x03\xe8bye \xff").await;
    let reason = within(session.close_reason()).await;
    assert_eq!((reason.code, reason.reason.as_str()), (1000, "bye \u{fffd}"));
}

#[tokio::test]
async fn by_default_invalid_text_closes_with_1007() {
    let (server, mut sessions) = session_server(config_with(|_| {})).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.frame(0x1, true, b"\xff\xfeok").await;
    assert_eq!(raw.read_close().await, Some(1007));
    assert_eq!(within(session.close_reason()).await.code, 1007);
}

#[tokio::test]
async fn delivering_fragments_hands_over_each_frame_as_the_client_sent_it() {
    let (server, mut sessions) = session_server(config_with(|c| c.deliver_fragments = true)).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.frame(0x1, false, b"Hel").await;
    raw.frame(0x0, false, b"lo").await;
    raw.frame(0x0, true, b"!").await;
    raw.frame(0x2, true, &[7]).await;
    let mut parts = vec![];
    for _ in 0..4 {
        let f = within(session.recv()).await.unwrap().unwrap();
        parts.push((f.kind, f.data.to_vec(), f.fin));
    }
    assert_eq!(
        parts,
        vec![
            (FrameType::Text, b"Hel".to_vec(), false),
            (FrameType::Text, b"lo".to_vec(), false),
            (FrameType::Text, b"!".to_vec(), true),
            (FrameType::Binary, vec![7], true),
        ]
    );
    assert_eq!(session.stats().messages_in, 2, "messages are counted once, at their last frame");
}
