//! SPEC 9.1 / issue 12: `reuse_port` lets several processes share one port, and both serve.
//!
//! The second process is this test binary run again with `--ignored --exact reuse_port_child`: it
//! serves on the port named by `WSS_REUSE_PORT`, prints "WSS_CHILD_READY", and exits when its stdin closes.
#[path = "common/child.rs"]
mod child;
mod common;

use child::{ChildProcess, serve_until_stdin_closes};
use common::*;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{EventHandler, Frame, Handler, Server, ServerBuilder, ServerConfig, Session};

/// Tells each client which process answered it.
struct Whoami;

impl EventHandler for Whoami {
    fn on_open(&self, session: &Session) {
        let _ = session.try_send(Frame::text(std::process::id().to_string()));
    }
    fn on_message(&self, _: &Session, _: Frame) {}
}

fn config(port: u16, reuse_port: bool) -> ServerConfig {
    ServerConfig { port, reuse_port, ..ServerConfig::default() }
}

async fn whoami_server(port: u16) -> wssession_core::Result<Server> {
    ServerBuilder::new(config(port, true)).fallback(Handler::events(Whoami)).start().await
}

#[tokio::test]
async fn two_processes_share_one_port_with_reuse_port_and_both_serve() {
    let ours = whoami_server(0).await.expect("first server binds");
    let port = ours.port();
    let child = ChildProcess::start("reuse_port_child", &[("WSS_REUSE_PORT", port.to_string())]).await;

    // The kernel spreads new connections over both listeners: connect until both have answered.
    let child_pid = child.id().to_string();
    let our_pid = std::process::id().to_string();
    let (mut saw_ours, mut saw_child) = (false, false);
    for _ in 0..500 {
        let mut client = connect(&ours).await;
        match next(&mut client).await {
            Some(Message::Text(pid)) if pid.as_str() == our_pid => saw_ours = true,
            Some(Message::Text(pid)) if pid.as_str() == child_pid => saw_child = true,
            other => panic!("unexpected answer {other:?}"),
        }
        if saw_ours && saw_child {
            break;
        }
    }
    assert!(saw_ours && saw_child, "both processes served (ours: {saw_ours}, the other: {saw_child})");
    child.finish().await;
}

#[tokio::test]
async fn without_reuse_port_a_second_bind_of_the_port_fails() {
    let first = whoami_server(0).await.unwrap();
    let err =
        ServerBuilder::new(config(first.port(), false)).fallback(Handler::events(Whoami)).start().await.unwrap_err();
    assert_eq!(err.kind(), "IO");
    let second = whoami_server(first.port()).await.expect("with reuse_port on both, the port is shared");
    assert_eq!(second.port(), first.port());
}

/// The second process of `two_processes_share_one_port_with_reuse_port_and_both_serve`.
#[tokio::test]
#[ignore = "run by two_processes_share_one_port_with_reuse_port_and_both_serve as its second process"]
async fn reuse_port_child() {
    let port: u16 = std::env::var("WSS_REUSE_PORT").expect("run by the parent test").parse().unwrap();
    let server = whoami_server(port).await.expect("binds the shared port");
    serve_until_stdin_closes().await;
    server.close();
}
