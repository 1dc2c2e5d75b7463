//! Issue 16: the log bridge the bindings use: each server's records go to its own sink at its level,
//! the rest to the process-wide sink, with the span fields (server addr; session id, peer, path).
mod common;

use std::sync::Arc;

use common::*;
use tokio::sync::watch;
use wssession_core::log::{Level, LogRecord, LogSink, set_global_sink};
use wssession_core::{Handler, Server};

/// A sink keeping what it receives, and a way to wait for a record.
fn sink() -> (LogSink, watch::Sender<Vec<LogRecord>>) {
    let tx = watch::channel(vec![]).0;
    let keep = tx.clone();
    (Arc::new(move |r: &LogRecord| keep.send_modify(|v| v.push(r.clone()))), tx)
}

async fn wait(records: &watch::Sender<Vec<LogRecord>>, pred: impl Fn(&LogRecord) -> bool) -> LogRecord {
    let mut rx = records.subscribe();
    let seen = within(rx.wait_for(|v| v.iter().any(&pred))).await.unwrap();
    seen.iter().find(|r| pred(r)).cloned().unwrap()
}

async fn server_with(level: Level, sink: LogSink) -> Server {
    Server::builder().fallback(Handler::events(Echo)).log_sink(level, sink).start().await.unwrap()
}

#[tokio::test]
async fn each_server_logs_to_its_own_sink_with_the_span_fields() {
    let (a_sink, a) = sink();
    let (b_sink, b) = sink();
    let server_a = server_with(Level::DEBUG, a_sink).await;
    let server_b = server_with(Level::DEBUG, b_sink).await;
    let raw = Raw::connect(&server_a).await;
    let peer = raw.tcp.local_addr().unwrap().to_string();
    let open = wait(&a, |r| r.message == "session open").await;
    assert_eq!(open.level, Level::INFO);
    assert_eq!(open.field("addr"), Some(server_a.local_addr().to_string().as_str()));
    assert_eq!((open.field("peer"), open.field("path")), (Some(peer.as_str()), Some("/")));
    assert!(open.field("id").is_some());
    assert!(b.borrow().iter().all(|r| r.field("peer") != Some(peer.as_str())), "server B saw A's session");
    drop(server_b);
}

#[tokio::test]
async fn a_sink_gets_only_its_level_and_more_severe() {
    let (warn_sink, records) = sink();
    let server = server_with(Level::WARN, warn_sink).await;
    let mut raw = Raw::connect(&server).await;
    raw.write(&encode(1, true, b"unmasked", None)).await;
    assert_eq!(raw.read_close().await, Some(1002));
    let r = wait(&records, |r| r.message == "protocol violation").await;
    assert_eq!((r.level, r.field("kind"), r.field("code")), (Level::WARN, Some("unmasked"), Some("1002")));
    eventually(|| server.session_count() == 0).await;
    let levels: Vec<_> = records.borrow().iter().map(|r| r.level).collect();
    assert_eq!(levels, [Level::WARN], "INFO records (open, close) stay out");
}

#[tokio::test]
async fn records_of_servers_without_a_sink_go_to_the_process_sink() {
    let (global, records) = sink();
    assert!(set_global_sink(Some((Level::INFO, global))));
    let server = Server::builder().route("/chat", Handler::events(Echo)).start().await.unwrap();
    let status = http_status(&server, b"GET /x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n").await;
    let r =
        wait(&records, |r| r.message == "handshake refused" && r.field("status") == Some(&status.to_string())).await;
    assert_eq!(r.level, Level::INFO);
    assert_eq!(r.field("addr"), Some(server.local_addr().to_string().as_str()));
}
