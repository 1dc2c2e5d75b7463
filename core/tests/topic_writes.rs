//! SPEC 14.1: how a publish reaches the subscribers' sockets — written at once when it has nothing to
//! batch with (a lone publish), batched with the publishes around it otherwise — keeps every
//! subscriber's stream in order with the session's own sends, and delivers every byte of a frame
//! the socket could not take at once.
mod common;

use std::sync::Mutex;

use common::*;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{EventHandler, Frame, Handler, Server, ServerConfig, Session, SessionConfig};

/// Subscribes connections to `/sub` to topic `t`; each message from any other connection is the
/// count `n` of rounds to run, each round a direct send to every subscriber, a publish, and
/// another direct send.
#[derive(Default)]
struct Rounds {
    subscribers: Mutex<Vec<Session>>,
}

impl EventHandler for Rounds {
    fn on_open(&self, session: &Session) {
        if session.request().path == "/sub" {
            session.subscribe("t").unwrap();
            self.subscribers.lock().unwrap().push(session.clone());
            session.try_send(Frame::text("subscribed")).unwrap();
        }
    }

    fn on_message(&self, session: &Session, frame: Frame) {
        let text = std::str::from_utf8(&frame.data).unwrap();
        let (tag, n) = text.split_once(' ').unwrap();
        let subscribers = self.subscribers.lock().unwrap().clone();
        for i in 0..n.parse::<usize>().unwrap() {
            for s in &subscribers {
                s.try_send(Frame::text(format!("{tag}{i} own before"))).unwrap();
            }
            session.publish("t", format!("{tag}{i} published").as_bytes(), true, None).unwrap();
            for s in &subscribers {
                s.try_send(Frame::text(format!("{tag}{i} own after"))).unwrap();
            }
        }
    }
}

async fn subscriber(server: &Server) -> Client {
    let url = format!("ws://{}/sub", server.local_addr());
    let mut client = within(tokio_tungstenite::connect_async(url)).await.expect("client connects").0;
    assert_eq!(next(&mut client).await, Some(Message::text("subscribed")));
    client
}

/// Asserts that `client` receives rounds `0..n` of `tag`, each in order.
async fn expect_rounds(client: &mut Client, tag: &str, n: usize) {
    for i in 0..n {
        for what in ["own before", "published", "own after"] {
            assert_eq!(next(client).await, Some(Message::text(format!("{tag}{i} {what}"))));
        }
    }
}

#[tokio::test]
async fn a_lone_publish_and_a_burst_both_keep_order_with_the_subscribers_own_sends() {
    let server = start(ServerConfig::default(), Handler::events(Rounds::default())).await;
    let mut a = subscriber(&server).await;
    let mut b = subscriber(&server).await;
    let mut publisher = connect(&server).await;

    // One message, read alone: its publishes have nothing to batch with.
    send(&mut publisher, Message::text("lone 1")).await;
    expect_rounds(&mut a, "lone", 1).await;
    expect_rounds(&mut b, "lone", 1).await;

    // Many rounds from one callback, then several messages in one write (read together).
    send(&mut publisher, Message::text("many 50")).await;
    expect_rounds(&mut a, "many", 50).await;
    expect_rounds(&mut b, "many", 50).await;
    for tag in ["x", "y", "z"] {
        within(publisher.feed(Message::text(format!("{tag} 3")))).await.unwrap();
    }
    within(publisher.flush()).await.unwrap();
    for tag in ["x", "y", "z"] {
        expect_rounds(&mut a, tag, 3).await;
        expect_rounds(&mut b, tag, 3).await;
    }
    let stats = server.stats();
    assert_eq!((stats.publishes, stats.publish_deliveries), (1 + 50 + 9, 2 * (1 + 50 + 9)));
}

#[tokio::test]
async fn a_publish_larger_than_the_socket_takes_arrives_whole_before_the_next_send() {
    // Limits high enough that the rest of the large frame queued leaves room for what follows.
    let session = SessionConfig { write_high_water: 64 << 20, write_hard_limit: 64 << 20, ..SessionConfig::default() };
    let (server, mut sessions) = session_server(ServerConfig { session, ..ServerConfig::default() }).await;
    let mut client = connect(&server).await;
    let session = next_session(&mut sessions).await;
    session.subscribe("big").unwrap();
    // Far more than a loopback socket buffer takes at once: most of it waits for the writer.
    let payload: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
    assert_eq!(server.publish("big", &payload, false, None).unwrap().delivered, 1);
    session.try_send(Frame::text("after")).unwrap();
    server.publish("big", b"small", true, None).unwrap();
    assert!(next(&mut client).await == Some(Message::binary(payload)), "the large publish arrives whole");
    assert_eq!(next(&mut client).await, Some(Message::text("after")));
    assert_eq!(next(&mut client).await, Some(Message::text("small")));
}

#[tokio::test]
async fn a_lone_publish_to_more_subscribers_than_one_system_call_sends_reaches_each_once_in_order() {
    lone_publish_to_300_subscribers().await;
}

/// More subscribers than one batch of sends (256): the publish leaves in several batches (where
/// this thread batches: `wssession_core::topics::batched_sends`).
async fn lone_publish_to_300_subscribers() {
    let server = start(ServerConfig::default(), Handler::events(Rounds::default())).await;
    let mut subscribers = Vec::new();
    for _ in 0..300 {
        subscribers.push(subscriber(&server).await);
    }
    let mut publisher = connect(&server).await;
    send(&mut publisher, Message::text("lone 2")).await;
    for client in &mut subscribers {
        expect_rounds(client, "lone", 2).await;
    }
    let stats = server.stats();
    assert_eq!((stats.publishes, stats.publish_deliveries), (2, 2 * 300));
}

#[tokio::test]
async fn a_lone_publish_larger_than_the_sockets_take_reaches_every_subscriber_whole_before_their_next_send() {
    lone_large_publish_to_3_subscribers().await;
}

/// 8 MiB to 3 subscribers: each socket takes part of it at once, the rest waits for its writer.
async fn lone_large_publish_to_3_subscribers() {
    let session = SessionConfig { write_high_water: 64 << 20, write_hard_limit: 64 << 20, ..SessionConfig::default() };
    let (server, mut sessions) = session_server(ServerConfig { session, ..ServerConfig::default() }).await;
    let mut clients = Vec::new();
    let mut subscribed = Vec::new();
    for _ in 0..3 {
        clients.push(connect(&server).await);
        let session = next_session(&mut sessions).await;
        session.subscribe("big").unwrap();
        subscribed.push(session);
    }
    // Far more than a loopback socket buffer takes at once: each socket takes part of it in the
    // batch, and the rest of each waits for that session's writer.
    let payload: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
    assert_eq!(server.publish("big", &payload, false, None).unwrap().delivered, 3);
    for session in &subscribed {
        session.try_send(Frame::text("after")).unwrap();
    }
    server.publish("big", b"small", true, None).unwrap();
    for client in &mut clients {
        assert!(next(client).await == Some(Message::binary(payload.clone())), "the large publish arrives whole");
        assert_eq!(next(client).await, Some(Message::text("after")));
        assert_eq!(next(client).await, Some(Message::text("small")));
    }
}

#[test]
fn without_io_uring_each_subscriber_is_written_alone_with_the_same_results() {
    // A process of its own: the switch is read once per process.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "without_io_uring_child", "--ignored", "--test-threads=1"])
        .env("WSSESSION_IO_URING", "0")
        .output()
        .expect("the child process runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the child passes:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 passed"), "the child test ran:\n{stdout}");
}

/// The second process of `without_io_uring_each_subscriber_is_written_alone_with_the_same_results`.
#[tokio::test]
#[ignore = "run by without_io_uring_each_subscriber_is_written_alone_with_the_same_results with WSSESSION_IO_URING=0"]
async fn without_io_uring_child() {
    assert!(!wssession_core::topics::batched_sends(), "WSSESSION_IO_URING=0 turns the batches off");
    lone_publish_to_300_subscribers().await;
    lone_large_publish_to_3_subscribers().await;
}
