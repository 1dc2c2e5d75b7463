//! SPEC 1 (`terminate`): aborts now: no Close frame, socket shut, pending sends fail with Closed,
//! `incoming` ends, closeReason 1006 abnormal.
mod common;

use common::*;
use futures_util::FutureExt;
use wssession_core::{CloseReason, Error, Frame, Initiator};

#[tokio::test]
async fn terminate_fails_pending_sends_ends_incoming_and_sends_no_close() {
    let high = 64 * 1024;
    let (server, mut sessions) = session_server(config_with(|s| s.write_high_water = high)).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    while session.buffered_amount() <= high {
        within(session.send(Frame::binary(vec![1u8; 16 * 1024]))).await.unwrap();
    }
    let s = session.clone();
    let mut pending = Box::pin(async move { s.send(Frame::binary(vec![2u8; 16])).await });
    assert!(pending.as_mut().now_or_never().is_none());
    let s = session.clone();
    let receiving = tokio::spawn(async move { s.recv().await });

    session.terminate();

    assert!(matches!(within(pending).await, Err(Error::Closed(Some(r))) if r.code == 1006));
    assert!(matches!(within(receiving).await.unwrap(), Err(Error::Closed(Some(r))) if r.code == 1006));
    assert!(matches!(within(session.recv()).await, Err(Error::Closed(_))));
    assert!(matches!(within(session.send(Frame::text("x"))).await, Err(Error::Closed(_))));
    assert_eq!(within(session.close_reason()).await, CloseReason::new(1006, "", Initiator::Abnormal));
    while let Some(f) = raw.read_wire_frame().await {
        assert_ne!(f.opcode(), 0x8, "terminate sends no Close frame");
    }
}

#[tokio::test]
async fn terminate_during_a_closing_handshake_shuts_the_socket_at_once() {
    let (server, mut sessions) = session_server(Default::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.close(1000, "").unwrap();
    assert_eq!(raw.read_close().await, Some(1000));
    session.terminate();
    assert!(raw.eof().await);
    within(session.close_reason()).await;
    assert_eq!(session.state(), wssession_core::State::Closed);
}
