//! Issue 16: server-wide figures, as a snapshot (`Server::stats`) and as Prometheus text served on
//! the listener's metrics path, checked exactly after a scripted run.
mod common;

use std::collections::BTreeMap;

use common::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use wssession_core::{Handler, Server, ServerStats};

const CLIENTS: u64 = 3;
const MESSAGES: u64 = 4;
const PAYLOAD: &str = "twelve bytes";
const LIMIT_BYTES: usize = 1024;

fn upgrade(path: &str, version: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: {version}\r\n\r\n"
    )
    .into_bytes()
}

/// N clients exchange M messages each and close with 1000; two requests get 404 and one 426; one
/// client sends a message over the limit and is closed with 1009.
async fn scripted_run() -> Server {
    let mut config = config_with(|s| s.max_frame_size = LIMIT_BYTES);
    config.metrics_path = Some("/metrics".into());
    let server = Server::builder_with(config).route("/", Handler::events(Echo)).start().await.unwrap();
    for _ in 0..CLIENTS {
        let mut c = connect(&server).await;
        for _ in 0..MESSAGES {
            send(&mut c, Message::text(PAYLOAD)).await;
            assert_eq!(next(&mut c).await, Some(Message::text(PAYLOAD)));
        }
        send(&mut c, Message::Close(Some(CloseFrame { code: 1000.into(), reason: "".into() }))).await;
        assert!(matches!(next(&mut c).await, Some(Message::Close(_))));
    }
    assert_eq!(http_status(&server, &upgrade("/nowhere", "13")).await, 404);
    assert_eq!(http_status(&server, &upgrade("/elsewhere", "13")).await, 404);
    assert_eq!(http_status(&server, &upgrade("/", "8")).await, 426);
    let mut raw = Raw::connect(&server).await;
    raw.frame(2, true, &[0; LIMIT_BYTES + 1]).await;
    assert_eq!(raw.read_close().await, Some(1009));
    eventually(|| server.session_count() == 0).await;
    server
}

fn expected() -> ServerStats {
    let n = CLIENTS * MESSAGES;
    let bytes = n * PAYLOAD.len() as u64;
    ServerStats {
        connections_open: 0,
        connections_total: CLIENTS + 1,
        handshakes_accepted: CLIENTS + 1,
        handshakes_refused: BTreeMap::from([(404, 2), (426, 1)]),
        tls_failures: 0,
        closes: BTreeMap::from([((1000, "remote"), CLIENTS), ((1009, "local"), 1)]),
        violations: BTreeMap::from([("too_big", 1)]),
        traffic: wssession_core::Stats { messages_in: n, bytes_in: bytes, messages_out: n, bytes_out: bytes },
        backpressure_drops: 0,
        backpressure_waits: 0,
        pings_sent: 0,
        ping_timeouts: 0,
        backplane: Default::default(),
        ..ServerStats::default()
    }
}

#[tokio::test]
async fn the_snapshot_counts_connections_refusals_closes_and_traffic_exactly() {
    let server = scripted_run().await;
    assert_eq!(server.stats(), expected());
}

/// `GET url` with a real HTTP client: (status, content type, body).
async fn http_get(url: String) -> (u16, String, String) {
    tokio::task::spawn_blocking(move || {
        let mut response = ureq::get(&url).call().expect("the metrics endpoint answers");
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
        (status, content_type, response.body_mut().read_to_string().unwrap())
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_metrics_path_serves_prometheus_text_with_the_exact_counters() {
    let server = scripted_run().await;
    let (status, content_type, text) = http_get(format!("http://{}/metrics", server.local_addr())).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("the text parses");
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        let found = scrape.samples.iter().find(|s| {
            s.metric == name
                && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
                && s.labels.len() == labels.len()
        });
        match found.unwrap_or_else(|| panic!("no sample {name}{labels:?} in\n{text}")).value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{name} is {other:?}"),
        }
    };
    let e = expected();
    let n = |v: u64| v as f64;
    assert_eq!(value("wssession_connections_open", &[]), 0.0);
    assert_eq!(value("wssession_connections_total", &[]), n(e.connections_total));
    assert_eq!(value("wssession_handshakes_accepted_total", &[]), n(e.handshakes_accepted));
    assert_eq!(value("wssession_handshakes_refused_total", &[("status", "404")]), 2.0);
    assert_eq!(value("wssession_handshakes_refused_total", &[("status", "426")]), 1.0);
    assert_eq!(value("wssession_closes_total", &[("code", "1000"), ("initiator", "remote")]), n(CLIENTS));
    assert_eq!(value("wssession_closes_total", &[("code", "1009"), ("initiator", "local")]), 1.0);
    assert_eq!(value("wssession_violations_total", &[("kind", "too_big")]), 1.0);
    assert_eq!(value("wssession_messages_received_total", &[]), n(e.traffic.messages_in));
    assert_eq!(value("wssession_received_bytes_total", &[]), n(e.traffic.bytes_in));
    assert_eq!(value("wssession_messages_sent_total", &[]), n(e.traffic.messages_out));
    assert_eq!(value("wssession_sent_bytes_total", &[]), n(e.traffic.bytes_out));
    assert_eq!(value("wssession_backpressure_drops_total", &[]), 0.0);
    assert_eq!(value("wssession_ping_timeouts_total", &[]), 0.0);
    // Scraping is not a refused upgrade.
    assert_eq!(server.stats(), expected());
}

#[tokio::test]
async fn without_a_metrics_path_the_path_is_refused_like_any_other() {
    let server = echo_server().await;
    let (status, _) = http_exchange(&server, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_ne!(status, 200);
    assert_eq!(server.stats().handshakes_refused.values().sum::<u64>(), 1);
}

#[tokio::test]
async fn drops_over_the_hard_limit_and_pings_are_counted() {
    let config = config_with(|s| {
        s.write_high_water = 256;
        s.write_hard_limit = 512;
    });
    let (server, mut sessions) = session_server(config).await;
    let mut client = connect(&server).await;
    let session = next_session(&mut sessions).await;
    let frame = wssession_core::Frame::binary(vec![0u8; 1024]);
    assert_eq!(session.try_send(frame).unwrap(), wssession_core::TrySend::Dropped);
    // The client's reads answer the Ping.
    let ping = tokio::spawn({
        let session = session.clone();
        async move { session.ping("p".into()).await }
    });
    loop {
        match within(futures_util::StreamExt::next(&mut client)).await {
            Some(Ok(Message::Ping(p))) if p.as_ref() == b"p" => break,
            Some(Ok(_)) => continue,
            other => panic!("the ping did not arrive: {other:?}"),
        }
    }
    // tungstenite queues the Pong on reading the Ping and writes it on the next flush.
    within(futures_util::SinkExt::flush(&mut client)).await.unwrap();
    within(ping).await.unwrap().unwrap();
    let stats = server.stats();
    assert_eq!((stats.backpressure_drops, stats.pings_sent, stats.connections_open), (1, 1, 1));
}
