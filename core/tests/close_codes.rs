//! SPEC 1 (`close`, `closeReason`) and every row of the SPEC 6 table: what goes on the wire and
//! what closeReason resolves with. (Ping timeout: pinger.rs; shutdown: shutdown.rs.)
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use futures_util::SinkExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use wssession_core::{CloseReason, Error, EventHandler, Frame, Handler, Initiator, ServerConfig, Session, State};

fn reason(code: u16, text: &str, initiator: Initiator) -> CloseReason {
    CloseReason::new(code, text, initiator)
}

#[tokio::test]
async fn local_close_sends_the_code_and_reason_and_resolves_as_local() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut client = connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.close(4001, "bye now").unwrap();
    assert_eq!(session.state(), State::Closing);
    match next(&mut client).await {
        Some(Message::Close(Some(f))) => assert_eq!((u16::from(f.code), f.reason.as_str()), (4001, "bye now")),
        other => panic!("expected Close(4001), got {other:?}"),
    }
    // tungstenite answers the Close when next driven; the session then ends.
    assert_eq!(next(&mut client).await, None);
    assert_eq!(ended(within(session.close_reason()).await), reason(4001, "bye now", Initiator::Local));
    assert_eq!(session.state(), State::Closed);
}

#[tokio::test]
async fn local_close_waits_for_the_peers_close_before_shutting_the_socket() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.close(1000, "done").unwrap();
    assert_eq!(raw.read_close_frame().await, Some((Some(1000), "done".to_owned())));
    // Still reading: a message sent before our Close reply is not an error.
    raw.frame(0x1, true, b"late").await;
    assert_eq!(session.close_reason_now(), None, "the session waits for the peer's Close");
    raw.send_close(1000, "").await;
    assert!(raw.eof().await);
    assert_eq!(ended(within(session.close_reason()).await), reason(1000, "done", Initiator::Local));
}

#[tokio::test]
async fn close_without_status_sends_an_empty_close_body_and_resolves_as_1005_local() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.close_without_status();
    assert_eq!(raw.read_close_frame().await, Some((None, String::new())));
    raw.send_close(1000, "").await;
    assert!(raw.eof().await);
    assert_eq!(ended(within(session.close_reason()).await), reason(1005, "", Initiator::Local));
}

#[tokio::test]
async fn close_is_idempotent_and_the_first_reason_wins() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.close(4000, "first").unwrap();
    session.close(4002, "second").unwrap();
    assert_eq!(raw.read_close_frame().await, Some((Some(4000), "first".to_owned())));
    raw.send_close(1000, "").await;
    assert!(raw.eof().await);
    assert_eq!(ended(within(session.close_reason()).await), reason(4000, "first", Initiator::Local));
}

#[tokio::test]
async fn peer_close_is_echoed_with_its_code_and_resolves_as_remote() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.send_close(4000, "client leaves").await;
    let (code, _) = raw.read_close_frame().await.expect("server echoes the Close");
    assert_eq!(code, Some(4000));
    assert!(raw.eof().await, "server shuts the socket after echoing");
    assert_eq!(ended(within(session.close_reason()).await), reason(4000, "client leaves", Initiator::Remote));
}

#[tokio::test]
async fn peer_close_from_a_real_client_resolves_as_remote() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut client = connect(&server).await;
    let session = next_session(&mut sessions).await;
    let frame = CloseFrame { code: CloseCode::Normal, reason: "finished".into() };
    within(client.send(Message::Close(Some(frame)))).await.unwrap();
    match next(&mut client).await {
        Some(Message::Close(Some(f))) => assert_eq!(u16::from(f.code), 1000),
        other => panic!("expected the echoed Close, got {other:?}"),
    }
    assert_eq!(ended(within(session.close_reason()).await), reason(1000, "finished", Initiator::Remote));
}

#[tokio::test]
async fn empty_peer_close_is_echoed_empty_and_resolves_as_1005_remote() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.frame(0x8, true, b"").await;
    assert_eq!(raw.read_close_frame().await, Some((None, String::new())), "an empty Close is echoed empty");
    assert!(raw.eof().await);
    assert_eq!(ended(within(session.close_reason()).await), reason(1005, "", Initiator::Remote));
}

fn handing_out(tx: mpsc::UnboundedSender<Session>, fail: bool) -> Handler {
    Handler::task(move |s: Session| {
        let _ = tx.send(s);
        async move { if fail { Err("database unavailable".into()) } else { Ok(()) } }
    })
}

#[tokio::test]
async fn handler_returning_normally_closes_with_1000_local() {
    let (tx, mut sessions) = mpsc::unbounded_channel();
    let server = start(ServerConfig::default(), handing_out(tx, false)).await;
    let mut client = connect(&server).await;
    let session = next_session(&mut sessions).await;
    match next(&mut client).await {
        Some(Message::Close(Some(f))) => assert_eq!(u16::from(f.code), 1000),
        other => panic!("expected Close(1000), got {other:?}"),
    }
    assert_eq!(next(&mut client).await, None, "the client answers and the server shuts the socket");
    assert_eq!(ended(within(session.close_reason()).await), reason(1000, "", Initiator::Local));
}

#[tokio::test]
async fn handler_error_closes_with_1011_and_the_error_as_reason() {
    let (tx, mut sessions) = mpsc::unbounded_channel();
    let server = start(ServerConfig::default(), handing_out(tx, true)).await;
    let mut client = connect(&server).await;
    let session = next_session(&mut sessions).await;
    match next(&mut client).await {
        Some(Message::Close(Some(f))) => {
            assert_eq!((u16::from(f.code), f.reason.as_str()), (1011, "database unavailable"))
        }
        other => panic!("expected Close(1011), got {other:?}"),
    }
    assert_eq!(next(&mut client).await, None, "the client answers and the server shuts the socket");
    assert_eq!(ended(within(session.close_reason()).await), reason(1011, "database unavailable", Initiator::Local));
}

#[tokio::test]
async fn handler_error_with_a_long_message_is_cut_to_a_valid_close_reason() {
    let (tx, mut sessions) = mpsc::unbounded_channel();
    let handler = Handler::task(move |s: Session| {
        let _ = tx.send(s);
        async move { Err("é".repeat(200).into()) }
    });
    let server = start(ServerConfig::default(), handler).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    let (code, text) = raw.read_close_frame().await.unwrap();
    assert_eq!(code, Some(1011));
    assert!(text.len() <= 123 && text.chars().all(|c| c == 'é'), "{text:?}");
    raw.send_close(1011, "").await;
    assert_eq!(within(session.close_reason()).await.code, 1011);
}

#[tokio::test]
async fn protocol_violation_closes_with_its_code_local() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.write(&encode(0x2, true, b"x", None)).await;
    assert_eq!(raw.read_close().await, Some(1002));
    let r = within(session.close_reason()).await;
    assert_eq!((r.code, r.initiator), (1002, Initiator::Local));
}

#[tokio::test]
async fn terminate_sends_nothing_and_resolves_as_1006_abnormal() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.terminate();
    assert_eq!(raw.read_close_frame().await, None, "no Close frame, just EOF");
    assert_eq!(ended(within(session.close_reason()).await), reason(1006, "", Initiator::Abnormal));
}

#[tokio::test]
async fn peer_eof_without_close_resolves_as_1006_abnormal() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    drop(raw);
    assert_eq!(ended(within(session.close_reason()).await), reason(1006, "", Initiator::Abnormal));
    assert!(matches!(within(session.recv()).await, Err(Error::Closed(Some(r))) if r.code == 1006));
}

#[tokio::test]
async fn peer_tcp_reset_resolves_as_1006_abnormal() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    #[allow(deprecated)] // SO_LINGER 0 is exactly what makes the drop send a reset.
    raw.tcp.set_linger(Some(std::time::Duration::ZERO)).unwrap();
    drop(raw);
    assert_eq!(ended(within(session.close_reason()).await), reason(1006, "", Initiator::Abnormal));
}

#[derive(Default)]
struct CountCloses {
    closes: Arc<AtomicUsize>,
    reasons: Option<mpsc::UnboundedSender<(Session, CloseReason)>>,
}

impl EventHandler for CountCloses {
    fn on_message(&self, _: &Session, _: Frame) {}
    fn on_close(&self, session: &Session, reason: &CloseReason) {
        self.closes.fetch_add(1, Ordering::SeqCst);
        if let Some(tx) = &self.reasons {
            let _ = tx.send((session.clone(), reason.clone()));
        }
    }
}

#[tokio::test]
async fn close_reason_resolves_exactly_once_and_stays_available_after_the_fact() {
    let closes = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handler = CountCloses { closes: closes.clone(), reasons: Some(tx) };
    let server = start(ServerConfig::default(), Handler::events(handler)).await;
    let mut raw = Raw::connect(&server).await;
    raw.send_close(4005, "once").await;
    let (session, first) = within(rx.recv()).await.unwrap();
    assert_eq!(ended(first.clone()), reason(4005, "once", Initiator::Remote));
    // Everything after the end changes nothing.
    let _ = session.close(1000, "again");
    session.terminate();
    assert_eq!(within(session.close_reason()).await, first);
    assert_eq!(within(session.close_reason()).await, first);
    assert_eq!(session.close_reason_now(), Some(first));
    assert!(raw.eof().await);
    assert_eq!(closes.load(Ordering::SeqCst), 1, "on_close fires exactly once");
}
