//! SPEC 1 (settable members) and 5.2: property changes take effect on a live session.
mod common;

use common::*;
use wssession_core::{Error, Frame, Initiator, ServerConfig, SessionConfig};

#[tokio::test]
async fn getters_report_the_configured_values() {
    let config = config_with(|s| {
        s.max_frame_size = 1234;
        s.ping_interval_ms = 0;
        s.timeout_ms = 777;
        s.close_timeout_ms = 888;
        s.masking = true;
    });
    let (server, mut sessions) = session_server(config).await;
    let _raw = Raw::connect(&server).await;
    let s = next_session(&mut sessions).await;
    assert_eq!((s.max_frame_size(), s.ping_interval_ms(), s.timeout_ms(), s.close_timeout_ms()), (1234, 0, 777, 888));
    assert!(s.masking());
    s.set_max_frame_size(99).unwrap();
    s.set_timeout_ms(5).unwrap();
    s.set_close_timeout_ms(6);
    s.set_masking(false);
    assert_eq!((s.max_frame_size(), s.timeout_ms(), s.close_timeout_ms(), s.masking()), (99, 5, 6, false));
}

#[tokio::test]
async fn defaults_match_the_spec() {
    let d = SessionConfig::default();
    assert_eq!(d.max_frame_size, 16 << 20);
    assert_eq!((d.ping_interval_ms, d.timeout_ms, d.close_timeout_ms), (0, 15_000, 10_000));
    assert!(!d.masking);
    assert_eq!(d.incoming_queue, 16);
    assert_eq!((d.write_high_water, d.write_hard_limit), (1 << 20, 2 << 20));
    let s = ServerConfig::default();
    assert_eq!((s.max_head_bytes, s.max_headers, s.handshake_timeout.as_secs()), (16 << 10, 100, 10));
}

#[tokio::test]
async fn zero_size_limit_and_zero_pong_timeout_are_rejected() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let _raw = Raw::connect(&server).await;
    let s = next_session(&mut sessions).await;
    assert!(matches!(s.set_max_frame_size(0), Err(Error::OutOfRange(_))));
    assert!(matches!(s.set_timeout_ms(0), Err(Error::OutOfRange(_))));
    assert_eq!((s.max_frame_size(), s.timeout_ms()), (16 << 20, 15_000), "nothing changed");
}

#[tokio::test]
async fn lowering_max_frame_size_on_a_live_session_makes_the_next_large_frame_fail_with_1009() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.frame(0x2, true, &[1u8; 100]).await;
    assert_eq!(within(session.recv()).await.unwrap().unwrap().data.len(), 100);
    session.set_max_frame_size(50).unwrap();
    raw.frame(0x2, true, &[1u8; 50]).await;
    assert_eq!(within(session.recv()).await.unwrap().unwrap().data.len(), 50, "at the limit is fine");
    raw.frame(0x2, true, &[1u8; 51]).await;
    assert_eq!(raw.read_close().await, Some(1009));
    let r = within(session.close_reason()).await;
    assert_eq!((r.code, r.initiator), (1009, Initiator::Local));
}

#[tokio::test]
async fn raising_max_frame_size_on_a_live_session_admits_larger_frames() {
    let (server, mut sessions) = session_server(config_with(|s| s.max_frame_size = 10)).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.set_max_frame_size(1000).unwrap();
    raw.frame(0x2, true, &[1u8; 500]).await;
    assert_eq!(within(session.recv()).await.unwrap().unwrap().data.len(), 500);
}

#[tokio::test]
async fn turning_masking_on_makes_the_next_frames_arrive_masked() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    within(session.send(Frame::text("plain"))).await.unwrap();
    let f = raw.read_wire_frame().await.unwrap();
    assert_eq!((f.mask, f.payload.as_slice()), (None, &b"plain"[..]));
    session.set_masking(true);
    within(session.send(Frame::text("hidden"))).await.unwrap();
    let f = raw.read_wire_frame().await.unwrap();
    assert!(f.mask.is_some(), "frame is masked after set_masking(true)");
    assert_eq!(f.payload, b"hidden");
    session.set_masking(false);
    within(session.send(Frame::text("plain again"))).await.unwrap();
    assert_eq!(raw.read_wire_frame().await.unwrap().mask, None);
}

#[tokio::test]
async fn starting_the_pinger_on_a_live_session_sends_pings() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    assert_eq!(session.ping_interval_ms(), 0);
    session.set_ping_interval_ms(20);
    assert_eq!(session.ping_interval_ms(), 20);
    let f = raw.read_wire_frame().await.expect("the restarted pinger pings");
    assert_eq!(f.opcode(), 0x9);
}

#[tokio::test]
async fn shortening_the_pong_timeout_on_a_live_session_restarts_the_pinger_with_it() {
    let config = config_with(|s| {
        s.ping_interval_ms = 20;
        s.timeout_ms = 60_000;
    });
    let (server, mut sessions) = session_server(config).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    assert_eq!(raw.read_wire_frame().await.unwrap().opcode(), 0x9);
    // With a 60 s timeout nothing would happen within the test; the new 100 ms one fires.
    session.set_timeout_ms(100).unwrap();
    assert_eq!(raw.read_close_frame().await, Some((Some(1011), "ping timeout".to_owned())));
    raw.send_close(1011, "").await;
    assert_eq!(within(session.close_reason()).await.reason, "ping timeout");
}

#[tokio::test]
async fn shortening_the_close_timeout_during_a_close_ends_it_with_the_new_bound() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.close(4000, "slow peer").unwrap();
    assert_eq!(raw.read_close().await, Some(4000));
    // The default 10 s would outlast the test's wait; the new 50 ms bound ends it.
    session.set_close_timeout_ms(50);
    assert!(raw.eof().await);
    let r = within(session.close_reason()).await;
    assert_eq!((r.code, r.reason.as_str(), r.initiator), (4000, "slow peer", Initiator::Local));
}
