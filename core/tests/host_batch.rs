//! Host batches (`topics::HostBatch`): the publishes a host thread makes while one is open stay
//! queued until the outermost batch ends, then reach every subscriber in order, with nothing left
//! waiting for another event; outside a batch a publish is written as before.
mod common;

use common::*;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::topics::{HostBatch, begin_host_batch, end_host_batch};
use wssession_core::{Frame, Server, ServerConfig, Session};

/// Two subscribers of "room" with their clients.
async fn room(server: &Server, sessions: &mut tokio::sync::mpsc::UnboundedReceiver<Session>) -> Vec<(Client, Session)> {
    let mut out = Vec::new();
    for _ in 0..2 {
        let client = connect(server).await;
        let s = next_session(sessions).await;
        s.subscribe("room").unwrap();
        out.push((client, s));
    }
    out
}

async fn expect_text(client: &mut Client, text: &str) {
    assert_eq!(next(client).await, Some(Message::text(text)));
}

/// Runs `f` on a thread of its own (a host thread: not one of the engine's).
async fn on_host_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::spawn(f).join().unwrap()
}

#[tokio::test]
async fn publishes_made_in_a_host_batch_wait_for_its_end_and_then_reach_every_subscriber_in_order() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut subs = room(&server, &mut sessions).await;
    let (srv, watched) = (server.clone(), subs[0].1.clone());
    let queued_in_batch = on_host_thread(move || {
        let batch = HostBatch::open();
        for i in 0..3 {
            assert_eq!(srv.publish("room", format!("m{i}").as_bytes(), true, None).unwrap().delivered, 2);
        }
        // Nothing writes a deferred publish but the end of the batch.
        let queued = watched.buffered_amount();
        drop(batch);
        queued
    })
    .await;
    assert!(queued_in_batch > 0, "the batch's publishes were queued, not written, while it was open");
    for (client, _) in &mut subs {
        for i in 0..3 {
            expect_text(client, &format!("m{i}")).await;
        }
    }
}

#[tokio::test]
async fn only_the_outermost_host_batch_flushes_and_a_sessions_own_sends_keep_their_place() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut subs = room(&server, &mut sessions).await;
    let (srv, first, second) = (server.clone(), subs[0].1.clone(), subs[1].1.clone());
    let still_queued = on_host_thread(move || {
        begin_host_batch();
        srv.publish("room", b"before", true, None).unwrap();
        begin_host_batch();
        first.try_send(Frame::text("own")).unwrap();
        srv.publish("room", b"after", true, None).unwrap();
        end_host_batch();
        let queued = second.buffered_amount();
        end_host_batch();
        // Unbalanced: nothing to end, nothing happens.
        end_host_batch();
        queued
    })
    .await;
    assert!(still_queued > 0, "the inner batch's end left the publishes queued");
    expect_text(&mut subs[0].0, "before").await;
    expect_text(&mut subs[0].0, "own").await;
    expect_text(&mut subs[0].0, "after").await;
    expect_text(&mut subs[1].0, "before").await;
    expect_text(&mut subs[1].0, "after").await;
}

#[tokio::test]
async fn a_publish_outside_any_host_batch_is_written_while_another_thread_holds_one_open() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut subs = room(&server, &mut sessions).await;
    let mut held = connect(&server).await;
    next_session(&mut sessions).await.subscribe("held").unwrap();
    let (opened_tx, opened_rx) = std::sync::mpsc::channel();
    let (end_tx, end_rx) = std::sync::mpsc::channel::<()>();
    let srv = server.clone();
    let other = std::thread::spawn(move || {
        let _batch = HostBatch::open();
        srv.publish("held", b"at the end", true, None).unwrap();
        opened_tx.send(()).unwrap();
        let _ = end_rx.recv();
    });
    opened_rx.recv().unwrap();
    server.publish("room", b"alone", true, None).unwrap();
    for (client, _) in &mut subs {
        expect_text(client, "alone").await;
    }
    drop(end_tx);
    other.join().unwrap();
    expect_text(&mut held, "at the end").await;
}
