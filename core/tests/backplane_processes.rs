//! Issue 18 / SPEC 14.3: several processes on one port (`reuse_port`) share topics through the
//! backplane: a message a client sends to either process reaches the room's clients on both.
//!
//! The second process is this test binary run again with `--ignored --exact room_child`: it serves
//! the same room on the port named by `WSS_ROOM_PORT` through the Redis at `WSS_ROOM_BROKER`,
//! prints "WSS_CHILD_READY", and exits when its stdin closes.
#[path = "common/brokers.rs"]
mod brokers;
#[path = "common/child.rs"]
mod child;
mod common;

use brokers::{Broker, Kind};
use child::{ChildProcess, serve_until_stdin_closes};
use common::*;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{EventHandler, Frame, Handler, Server, ServerBuilder, ServerConfig, Session};

/// Joins every session to "room", tells it which process it reached, and publishes what it sends
/// to the room (the sender gets it back too).
struct Room;

impl EventHandler for Room {
    fn on_open(&self, session: &Session) {
        session.subscribe("room").unwrap();
        let _ = session.try_send(Frame::text(format!("pid {}", std::process::id())));
    }

    fn on_message(&self, session: &Session, frame: Frame) {
        if let Some(server) = session.server() {
            let _ = server.publish("room", &frame.data, true, None);
        }
    }
}

async fn room_server(port: u16, broker: &str) -> Server {
    let config = ServerConfig { port, reuse_port: true, backplane: Some(broker.to_owned()), ..ServerConfig::default() };
    ServerBuilder::new(config).fallback(Handler::events(Room)).start().await.expect("binds the shared port")
}

fn room_listeners(broker: &Broker) -> u64 {
    let reply: Vec<(String, u64)> =
        redis::cmd("PUBSUB").arg("NUMSUB").arg("wss:c:room").query(&mut broker.redis()).unwrap();
    reply.first().map_or(0, |(_, n)| *n)
}

#[tokio::test]
async fn two_processes_on_one_port_share_a_room_through_redis() {
    let broker = Broker::start(Kind::Redis);
    let ours = room_server(0, &broker.url("")).await;
    let port = ours.port();
    let env = [("WSS_ROOM_PORT", port.to_string()), ("WSS_ROOM_BROKER", broker.url(""))];
    let child = ChildProcess::start("room_child", &env).await;

    // Connect until one client reached each process (the kernel spreads connections over both).
    let (our_pid, child_pid) = (format!("pid {}", std::process::id()), format!("pid {}", child.id()));
    let (mut on_ours, mut on_child) = (None, None);
    for _ in 0..500 {
        let mut client = connect(&ours).await;
        match next(&mut client).await {
            Some(Message::Text(pid)) if pid.as_str() == our_pid => on_ours = on_ours.or(Some(client)),
            Some(Message::Text(pid)) if pid.as_str() == child_pid => on_child = on_child.or(Some(client)),
            other => panic!("unexpected answer {other:?}"),
        }
        if on_ours.is_some() && on_child.is_some() {
            break;
        }
    }
    let (mut on_ours, mut on_child) = (on_ours.expect("a client on this process"), on_child.expect("one on the other"));
    // Each process listens on the broker once its first session joined the room.
    eventually(|| room_listeners(&broker) == 2).await;

    send(&mut on_child, Message::text("hello from the other process")).await;
    for client in [&mut on_ours, &mut on_child] {
        assert_eq!(next(client).await, Some(Message::text("hello from the other process")));
    }
    send(&mut on_ours, Message::text("and back")).await;
    for client in [&mut on_ours, &mut on_child] {
        assert_eq!(next(client).await, Some(Message::text("and back")));
    }

    child.finish().await;
}

/// The second process of `two_processes_on_one_port_share_a_room_through_redis`.
#[tokio::test]
#[ignore = "run by two_processes_on_one_port_share_a_room_through_redis as its second process"]
async fn room_child() {
    let port: u16 = std::env::var("WSS_ROOM_PORT").expect("run by the parent test").parse().unwrap();
    let server = room_server(port, &std::env::var("WSS_ROOM_BROKER").unwrap()).await;
    serve_until_stdin_closes().await;
    server.close();
}
