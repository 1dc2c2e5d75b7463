//! SPEC 3.2 (Pings answered, unprompted Pongs ignored) and 5.1, 5.2, 5.4 (the pinger, its
//! timeout, latency). Live changes of the pinger settings: runtime_settings.rs.
mod common;

use std::collections::HashSet;

use common::*;
use futures_util::StreamExt;
use wssession_core::{Bytes, CloseReason, Error, Initiator, ServerConfig, State, ViolationKind};

const PING: u8 = 0x9;
const PONG: u8 = 0xA;

fn pinging(interval_ms: u64, timeout_ms: u64) -> ServerConfig {
    config_with(|s| {
        s.ping_interval_ms = interval_ms;
        s.timeout_ms = timeout_ms;
    })
}

#[tokio::test]
async fn pinger_closes_with_1011_ping_timeout_when_the_client_never_answers() {
    let (server, mut sessions) = session_server(pinging(50, 100)).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    let first = raw.read_wire_frame().await.expect("a ping arrives");
    assert_eq!(first.opcode(), PING);
    assert!(!first.payload.is_empty(), "pings carry a payload to match their pong");
    // The raw client never answers: the pinger gives up.
    assert_eq!(raw.read_close_frame().await, Some((Some(1011), "ping timeout".to_owned())));
    raw.send_close(1011, "").await;
    assert!(raw.eof().await);
    let timed_out = CloseReason {
        violation: Some(ViolationKind::PingTimeout),
        ..CloseReason::new(1011, "ping timeout", Initiator::Local)
    };
    assert_eq!(ended(within(session.close_reason()).await), timed_out);
    assert!(matches!(within(session.recv()).await, Err(Error::Timeout(_))), "incoming ends with a timeout error");
    assert!(matches!(within(session.recv()).await, Err(Error::Closed(_))));
}

#[tokio::test]
async fn pinger_without_a_timeout_keeps_pinging_a_silent_client_and_never_closes() {
    // timeout_ms at 2^40 or more is websockets' `ping_timeout=None`.
    let (server, mut sessions) = session_server(pinging(10, 1 << 40)).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    for _ in 0..5 {
        let f = raw.read_wire_frame().await.expect("pings keep coming unanswered");
        assert_eq!(f.opcode(), PING);
    }
    assert_eq!(session.state(), State::Open);
    assert_eq!(session.close_reason_now(), None);
}

#[tokio::test]
async fn pinger_sends_unique_payloads_and_a_client_that_answers_stays_connected() {
    let (server, mut sessions) = session_server(pinging(20, 5_000)).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    let mut payloads = HashSet::new();
    while payloads.len() < 4 {
        let f = raw.read_wire_frame().await.expect("pings keep coming");
        assert_eq!(f.opcode(), PING);
        assert!(payloads.insert(f.payload.clone()), "ping payloads are unique");
        raw.frame(PONG, true, &f.payload).await;
    }
    eventually(|| session.latency().is_some()).await;
    assert_eq!(session.state(), State::Open);
    assert_eq!(session.close_reason_now(), None);
}

#[tokio::test]
async fn pinger_keeps_a_real_client_connected_and_measures_latency() {
    let (server, mut sessions) = session_server(pinging(20, 5_000)).await;
    let mut client = connect(&server).await;
    let session = next_session(&mut sessions).await;
    // tokio-tungstenite answers pings while it is polled.
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = client.next().await {} });
    eventually(|| session.latency().is_some()).await;
    assert_eq!(session.state(), State::Open);
    session.terminate();
    within(reader).await.unwrap();
}

#[tokio::test]
async fn every_peer_ping_is_answered_with_the_same_payload_without_a_pinger() {
    let (server, _sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    for payload in [&b""[..], b"abc", &[7u8; 125]] {
        raw.frame(PING, true, payload).await;
        let f = raw.read_wire_frame().await.unwrap();
        assert_eq!((f.opcode(), f.payload.as_slice()), (PONG, payload));
    }
}

#[tokio::test]
async fn peer_pings_are_answered_while_the_pinger_runs() {
    let (server, _sessions) = session_server(pinging(20, 5_000)).await;
    let mut raw = Raw::connect(&server).await;
    raw.frame(PING, true, b"mine").await;
    loop {
        let f = raw.read_wire_frame().await.expect("the pong arrives");
        match f.opcode() {
            PONG => {
                assert_eq!(f.payload, b"mine");
                break;
            }
            PING => raw.frame(PONG, true, &f.payload).await,
            op => panic!("unexpected opcode {op}"),
        }
    }
}

#[tokio::test]
async fn pings_and_pongs_are_never_delivered_as_messages() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.frame(PING, true, b"p").await;
    raw.frame(PONG, true, b"unprompted").await;
    raw.frame(0x1, true, b"data").await;
    let m = within(session.recv()).await.unwrap().unwrap();
    assert_eq!(m.as_text(), Some("data"));
    assert_eq!(session.try_recv().unwrap(), None);
}

#[tokio::test]
async fn unprompted_pongs_are_ignored() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.frame(PONG, true, b"nobody asked").await;
    raw.frame(0x1, true, b"still open").await;
    assert_eq!(within(session.recv()).await.unwrap().unwrap().as_text(), Some("still open"));
    assert_eq!(session.state(), State::Open);
    assert_eq!(session.latency(), None, "a pong matching no ping measures nothing");
}

#[tokio::test]
async fn user_ping_resolves_with_the_round_trip_and_sets_latency() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    let s = session.clone();
    let ping = tokio::spawn(async move { s.ping(Bytes::from_static(b"rtt?")).await });
    let f = raw.read_wire_frame().await.unwrap();
    assert_eq!((f.opcode(), f.payload.as_slice()), (PING, &b"rtt?"[..]));
    raw.frame(PONG, true, b"rtt?").await;
    let rtt = within(ping).await.unwrap().unwrap();
    // latency is kept in microseconds.
    assert_eq!(session.latency().map(|l| l.as_micros()), Some(rtt.as_micros()));
}

#[tokio::test]
async fn a_pending_user_ping_fails_with_closed_when_the_session_ends() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    let s = session.clone();
    let ping = tokio::spawn(async move { s.ping(Bytes::from_static(b"x")).await });
    assert_eq!(raw.read_wire_frame().await.unwrap().opcode(), PING);
    session.terminate();
    assert!(matches!(within(ping).await.unwrap(), Err(Error::Closed(_))));
}

#[tokio::test]
async fn no_pings_are_sent_once_closing_has_begun() {
    let config = config_with(|s| {
        s.ping_interval_ms = 10;
        s.timeout_ms = 60_000;
        s.close_timeout_ms = 300;
    });
    let (server, mut sessions) = session_server(config).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    // Let the pinger run, then close without answering the Close: the session lingers in Closing.
    assert_eq!(raw.read_wire_frame().await.unwrap().opcode(), PING);
    session.close(1000, "").unwrap();
    assert_eq!(raw.read_close().await, Some(1000));
    if let Some(f) = raw.read_wire_frame().await {
        panic!("frame after Close (opcode {})", f.opcode());
    }
    assert_eq!(within(session.close_reason()).await.code, 1000);
}

#[tokio::test]
async fn after_a_ping_timeout_sends_fail_with_closed_carrying_the_timeout_reason() {
    let (server, mut sessions) = session_server(pinging(20, 50)).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    assert_eq!(raw.read_close().await, Some(1011));
    match within(session.send(wssession_core::Frame::text("late"))).await {
        Err(Error::Closed(Some(r))) => assert_eq!((r.code, r.reason.as_str()), (1011, "ping timeout")),
        other => panic!("expected Closed(1011 ping timeout), got {other:?}"),
    }
}
