//! `CloseReason::sent` and `received` are the Close frames that crossed the wire (code, or `None` for an
//! empty body), so the bindings report them instead of rebuilding them from the close code.
mod common;

use common::*;
use wssession_core::{CloseFrame, ServerConfig};

fn frame(code: Option<u16>, reason: &str) -> Option<CloseFrame> {
    Some(CloseFrame::new(code, reason))
}

#[tokio::test]
async fn a_local_close_records_our_frame_and_the_peers_answer() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.close(4001, "bye now").unwrap();
    assert_eq!(raw.read_close().await, Some(4001));
    raw.send_close(1000, "ok then").await;
    let r = within(session.close_reason()).await;
    assert_eq!((r.code, r.sent, r.received), (4001, frame(Some(4001), "bye now"), frame(Some(1000), "ok then")));
}

#[tokio::test]
async fn an_empty_close_from_the_peer_is_echoed_empty_and_recorded_as_such() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.frame(0x8, true, b"").await;
    assert_eq!(raw.read_close_frame().await, Some((None, String::new())));
    let r = within(session.close_reason()).await;
    assert_eq!((r.code, r.sent, r.received), (1005, frame(None, ""), frame(None, "")));
}

#[tokio::test]
async fn a_close_without_status_sends_an_empty_frame_not_1000() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.close_without_status();
    assert_eq!(raw.read_close_frame().await, Some((None, String::new())));
    raw.send_close(1000, "").await;
    let r = within(session.close_reason()).await;
    assert_eq!((r.sent, r.received), (frame(None, ""), frame(Some(1000), "")));
}

#[tokio::test]
async fn a_failed_connection_records_the_close_it_sent_and_none_received() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.write(&encode(0x1, true, b"unmasked", None)).await;
    assert_eq!(raw.read_close().await, Some(1002));
    let r = within(session.close_reason()).await;
    assert_eq!((r.sent, r.received), (frame(Some(1002), "client frames must be masked"), None));
}

#[tokio::test]
async fn terminate_records_no_frame_either_way() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let _raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.terminate();
    let r = within(session.close_reason()).await;
    assert_eq!((r.code, r.sent, r.received), (1006, None, None));
}
