//! SPEC 4.2 (`send` side): with a client that does not read, `send` waits while the outgoing queue
//! is over its high-water mark, and the queue (server memory) stays bounded.
mod common;

use common::*;
use futures_util::FutureExt;
use wssession_core::session::MAX_QUEUED_REPLIES;
use wssession_core::{Frame, Session};

const HIGH: usize = 64 * 1024;
const FRAME: usize = 16 * 1024;

fn small_queue() -> wssession_core::ServerConfig {
    config_with(|s| {
        s.write_high_water = HIGH;
        s.write_low_water = HIGH / 4;
        s.write_hard_limit = 2 * HIGH;
    })
}

/// Sends until the socket is full and the queue is over its high-water mark; returns how many frames were sent.
async fn fill(session: &Session) -> usize {
    let mut sent = 0;
    while session.buffered_amount() <= HIGH {
        within(session.send(Frame::binary(vec![sent as u8; FRAME]))).await.unwrap();
        sent += 1;
        assert!(sent < 100_000, "the queue never filled: is the client reading?");
    }
    sent
}

#[tokio::test]
async fn send_waits_while_a_client_does_not_read_and_memory_stays_bounded() {
    let (server, mut sessions) = session_server(small_queue()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    let sent = fill(&session).await;

    let mut blocked = Box::pin(session.send(Frame::binary(vec![0xEE; FRAME])));
    assert!(blocked.as_mut().now_or_never().is_none(), "send must wait while over the high-water mark");
    let mut also_blocked = Box::pin(session.send(Frame::binary(vec![0xEF; FRAME])));
    assert!(also_blocked.as_mut().now_or_never().is_none());
    let bound = HIGH + FRAME + 14;
    assert!(session.buffered_amount() <= bound, "queue holds {} > {bound}", session.buffered_amount());

    // The client starts reading: the waiting sends complete and every frame arrives in order.
    let reader = tokio::spawn(async move {
        let mut firsts = vec![];
        while firsts.len() < sent + 2 {
            let f = raw.read_wire_frame().await.expect("frames keep arriving");
            assert_eq!(f.payload.len(), FRAME);
            firsts.push(f.payload[0]);
        }
        firsts
    });
    within(blocked).await.unwrap();
    within(also_blocked).await.unwrap();
    let firsts = within(reader).await.unwrap();
    let expected: Vec<u8> = (0..sent).map(|i| i as u8).chain([0xEE, 0xEF]).collect();
    assert_eq!(firsts, expected);
    assert!(session.buffered_amount() <= bound);
}

#[tokio::test]
async fn a_waiting_send_fails_with_closed_when_the_session_closes() {
    let (server, mut sessions) = session_server(small_queue()).await;
    let _raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    fill(&session).await;
    let s = session.clone();
    let mut blocked = Box::pin(async move { s.send(Frame::binary(vec![1u8; FRAME])).await });
    assert!(blocked.as_mut().now_or_never().is_none());
    session.close(1000, "").unwrap();
    assert!(matches!(within(blocked).await, Err(wssession_core::Error::Closed(_))));
}

#[tokio::test]
async fn a_ping_flood_from_a_client_that_does_not_read_queues_at_most_the_reply_bound_whatever_the_write_limits() {
    // The benchmark and Autobahn servers' write limits: a queue of 129 MiB is allowed for user data,
    // yet the automatic Pongs stop at their own bound and the session stops reading.
    let config = config_with(|s| s.write_hard_limit = (128 << 20) + (1 << 20));
    let (server, mut sessions) = session_server(config).await;
    let raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    let mut tcp = raw.tcp;
    let flood = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let ping = encode(0x9, true, &[7u8; 125], Some(KEY));
        let burst: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * 1000).collect();
        // A million pings (131 MB): the write blocks once the server stops reading.
        for _ in 0..1000 {
            if tcp.write_all(&burst).await.is_err() {
                break;
            }
        }
    });
    let bound = MAX_QUEUED_REPLIES + 127;
    // The pongs pile up towards their bound (the socket's buffers full), then the session stops reading.
    // Where exactly the queue stops depends on how much of a pong the last write took, so wait for
    // half the bound, then check it is never passed.
    eventually(|| session.buffered_amount() >= MAX_QUEUED_REPLIES / 2).await;
    for _ in 0..20 {
        assert!(session.buffered_amount() <= bound, "queue holds {}", session.buffered_amount());
        tokio::task::yield_now().await;
    }
    assert!(!flood.is_finished(), "the flood is held back by TCP backpressure");
    flood.abort();
}
