//! SPEC 1 (`flush`): completes once every frame queued before the call is handed to the socket;
//! returns normally on a closed session.
mod common;

use common::*;
use futures_util::FutureExt;
use wssession_core::{Frame, ServerConfig};

#[tokio::test]
async fn flush_completes_when_every_queued_frame_is_written() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    for i in 0..3u8 {
        assert!(session.try_send(Frame::binary(vec![i; 1000])).is_ok());
    }
    within(session.flush()).await.unwrap();
    assert_eq!(session.buffered_amount(), 0);
    for i in 0..3u8 {
        assert_eq!(raw.read_wire_frame().await.unwrap().payload, vec![i; 1000]);
    }
}

#[tokio::test]
async fn flush_waits_while_the_client_does_not_read() {
    let high = 64 * 1024;
    let (server, mut sessions) = session_server(config_with(|s| s.write_high_water = high)).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    let mut sent = 0usize;
    while session.buffered_amount() <= high {
        within(session.send(Frame::binary(vec![1u8; 16 * 1024]))).await.unwrap();
        sent += 1;
    }
    let mut flushed = Box::pin(session.flush());
    assert!(flushed.as_mut().now_or_never().is_none(), "frames are still queued: flush must wait");
    let reader = tokio::spawn(async move {
        for _ in 0..sent {
            raw.read_wire_frame().await.expect("frame");
        }
    });
    within(flushed).await.unwrap();
    assert_eq!(session.buffered_amount(), 0);
    within(reader).await.unwrap();
}

#[tokio::test]
async fn flush_returns_normally_on_a_closed_session() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let _raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.terminate();
    within(session.close_reason()).await;
    within(session.flush()).await.unwrap();
}

#[tokio::test]
async fn flush_with_nothing_queued_completes_at_once() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let _raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    within(session.flush()).await.unwrap();
}
