//! SPEC 4.3, 4.4 and 4.5: user control frames, sending after Close, and arguments rejected
//! without sending anything.
mod common;

use common::*;
use wssession_core::{Error, Frame, FrameType, ServerConfig, State};

fn invalid<T: std::fmt::Debug>(r: Result<T, Error>) {
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "expected InvalidArgument, got {r:?}");
}

/// A size or range refused: the same kind (`INVALID_ARGUMENT`) on every surface, a RangeError in Node.
fn out_of_range<T: std::fmt::Debug>(r: Result<T, Error>) {
    assert!(matches!(r, Err(Error::OutOfRange(_))), "expected OutOfRange, got {r:?}");
    assert_eq!(r.unwrap_err().kind(), "INVALID_ARGUMENT");
}

#[tokio::test]
async fn user_ping_and_pong_frames_up_to_125_bytes_are_sent() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    within(session.send(Frame::ping(vec![1u8; 125]))).await.unwrap();
    within(session.send(Frame::pong(&b"unsolicited"[..]))).await.unwrap();
    assert_eq!(raw.read_frame().await.unwrap(), (0x89, vec![1u8; 125]));
    assert_eq!(raw.read_frame().await.unwrap(), (0x8A, b"unsolicited".to_vec()));
}

#[tokio::test]
async fn invalid_arguments_are_rejected_and_nothing_is_sent() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    out_of_range(within(session.send(Frame::ping(vec![0u8; 126]))).await);
    out_of_range(within(session.send(Frame::pong(vec![0u8; 126]))).await);
    out_of_range(session.start_ping(vec![0u8; 126].into()).map(|_| ()));
    invalid(within(session.send(Frame::ping(vec![0u8; 1]).with_fin(false))).await);
    invalid(within(session.send(Frame::new(FrameType::Close, vec![3u8, 232]))).await);
    invalid(within(session.send(Frame::new(FrameType::Text, &b"\xff\xfe"[..]))).await);
    out_of_range(session.try_send(Frame::ping(vec![0u8; 126])));
    out_of_range(session.close(1000, &"r".repeat(124)));
    out_of_range(session.close(1000, &"é".repeat(62))); // 124 bytes in UTF-8
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000] {
        invalid(session.close(code, ""));
    }
    assert_eq!(session.state(), State::Open, "rejected closes change nothing");
    within(session.send(Frame::text("after"))).await.unwrap();
    assert_eq!(raw.read_frame().await.unwrap(), (0x81, b"after".to_vec()), "nothing was sent before");
    assert_eq!(session.stats().messages_out, 1);
}

#[tokio::test]
async fn a_close_reason_of_exactly_123_bytes_is_accepted() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    let reason = "x".repeat(123);
    session.close(3000, &reason).unwrap();
    assert_eq!(raw.read_close_frame().await, Some((Some(3000), reason)));
}

#[tokio::test]
async fn frames_queued_before_close_are_written_before_it_and_send_fails_after() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.try_send(Frame::text("a")).unwrap();
    session.try_send(Frame::binary(vec![0u8; 100_000])).unwrap();
    session.close(1000, "end").unwrap();
    assert!(matches!(within(session.send(Frame::text("late"))).await, Err(Error::Closed(_))));
    assert!(matches!(session.try_send(Frame::text("late")), Err(Error::Closed(_))));
    assert!(matches!(within(session.ping(Default::default())).await, Err(Error::Closed(_))));
    assert_eq!(raw.read_frame().await.unwrap(), (0x81, b"a".to_vec()));
    assert_eq!(raw.read_frame().await.unwrap().1.len(), 100_000);
    assert_eq!(raw.read_close_frame().await, Some((Some(1000), "end".to_owned())));
}

#[tokio::test]
async fn send_fails_with_closed_once_the_peers_close_arrived() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.send_close(1000, "").await;
    assert_eq!(raw.read_close().await, Some(1000));
    match within(session.send(Frame::text("late"))).await {
        Err(Error::Closed(Some(r))) => assert_eq!(r.code, 1000),
        other => panic!("expected Closed carrying the reason, got {other:?}"),
    }
}
