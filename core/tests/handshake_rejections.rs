//! SPEC 2.1 and 2.2: every malformed handshake gets its HTTP status, the socket is closed,
//! and the server keeps serving.
mod common;

use std::time::Duration;

use common::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use wssession_core::{Handler, ServerConfig};

fn request(method: &str, version: &str, headers: &str) -> Vec<u8> {
    format!("{method} / HTTP/{version}\r\nHost: x\r\n{headers}\r\n").into_bytes()
}

fn upgrade_headers(upgrade: &str, connection: &str, version: &str, key: &str) -> String {
    let mut h = String::new();
    for (name, value) in [
        ("Upgrade", upgrade),
        ("Connection", connection),
        ("Sec-WebSocket-Version", version),
        ("Sec-WebSocket-Key", key),
    ] {
        if !value.is_empty() {
            h.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    h
}

const GOOD_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

async fn assert_rejected(server: &wssession_core::Server, req: Vec<u8>, status: u16) -> String {
    let (got, text) = http_exchange(server, &req).await;
    assert_eq!(got, status, "request {:?} got {text:?}", String::from_utf8_lossy(&req));
    assert!(still_serves(server).await, "server stopped serving after a {status}");
    text
}

#[tokio::test]
async fn server_rejects_a_non_get_upgrade_with_400() {
    let server = echo_server().await;
    let h = upgrade_headers("websocket", "Upgrade", "13", GOOD_KEY);
    assert_rejected(&server, request("POST", "1.1", &h), 400).await;
}

#[tokio::test]
async fn server_rejects_http_1_0_with_400() {
    let server = echo_server().await;
    let h = upgrade_headers("websocket", "Upgrade", "13", GOOD_KEY);
    assert_rejected(&server, request("GET", "1.0", &h), 400).await;
}

#[tokio::test]
async fn server_rejects_a_missing_or_wrong_upgrade_header_with_400() {
    let server = echo_server().await;
    assert_rejected(&server, request("GET", "1.1", &upgrade_headers("", "Upgrade", "13", GOOD_KEY)), 400).await;
    assert_rejected(&server, request("GET", "1.1", &upgrade_headers("h2c", "Upgrade", "13", GOOD_KEY)), 400).await;
}

#[tokio::test]
async fn server_rejects_a_connection_header_without_upgrade_with_400() {
    let server = echo_server().await;
    assert_rejected(&server, request("GET", "1.1", &upgrade_headers("websocket", "", "13", GOOD_KEY)), 400).await;
    let h = upgrade_headers("websocket", "keep-alive, close", "13", GOOD_KEY);
    assert_rejected(&server, request("GET", "1.1", &h), 400).await;
}

#[tokio::test]
async fn server_accepts_connection_and_upgrade_tokens_in_any_case_and_in_comma_lists() {
    let server = echo_server().await;
    let h = upgrade_headers("WebSocket", "keep-alive, UPGRADE", "13", GOOD_KEY);
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut tcp, &request("GET", "1.1", &h)).await.unwrap();
    let mut raw = Raw { tcp, buf: vec![] };
    let head = raw.read_until(b"\r\n\r\n").await;
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
}

#[tokio::test]
async fn server_rejects_a_wrong_version_with_426_and_announces_version_13() {
    let server = echo_server().await;
    let h = upgrade_headers("websocket", "Upgrade", "8", GOOD_KEY);
    let text = assert_rejected(&server, request("GET", "1.1", &h), 426).await;
    assert!(text.to_ascii_lowercase().contains("sec-websocket-version: 13\r\n"), "{text}");
    assert_rejected(&server, request("GET", "1.1", &upgrade_headers("websocket", "Upgrade", "", GOOD_KEY)), 426).await;
}

#[tokio::test]
async fn server_rejects_a_missing_short_or_non_base64_key_with_400() {
    let server = echo_server().await;
    for key in ["", "c2hvcnQ=", "not base64 at all!!", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        assert_rejected(&server, request("GET", "1.1", &upgrade_headers("websocket", "Upgrade", "13", key)), 400).await;
    }
}

#[tokio::test]
async fn server_rejects_garbage_that_is_not_http_with_400() {
    let server = echo_server().await;
    assert_rejected(&server, b"\x16\x03\x01\x02\x00 not http\r\n\r\n".to_vec(), 400).await;
}

#[tokio::test]
async fn server_rejects_a_request_head_over_the_byte_limit_with_431() {
    let config = ServerConfig { max_head_bytes: 2048, ..ServerConfig::default() };
    let server = start(config, Handler::events(Echo)).await;
    let h = format!("{}X-Filler: {}\r\n", upgrade_headers("websocket", "Upgrade", "13", GOOD_KEY), "a".repeat(3000));
    assert_rejected(&server, request("GET", "1.1", &h), 431).await;
}

#[tokio::test]
async fn server_rejects_the_default_16_kib_head_limit_with_431() {
    let server = echo_server().await;
    let h = format!("{}X-Filler: {}\r\n", upgrade_headers("websocket", "Upgrade", "13", GOOD_KEY), "a".repeat(17_000));
    assert_rejected(&server, request("GET", "1.1", &h), 431).await;
}

#[tokio::test]
async fn server_rejects_more_than_100_headers_with_431() {
    let server = echo_server().await;
    let mut h = upgrade_headers("websocket", "Upgrade", "13", GOOD_KEY);
    for i in 0..100 {
        h.push_str(&format!("X-H{i}: v\r\n"));
    }
    assert_rejected(&server, request("GET", "1.1", &h), 431).await;
}

#[tokio::test]
async fn server_answers_408_when_the_head_does_not_arrive_in_time() {
    let config = ServerConfig { handshake_timeout: Duration::from_millis(100), ..ServerConfig::default() };
    let server = start(config, Handler::events(Echo)).await;
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut tcp, b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut out = vec![];
    let _ = within(tcp.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(still_serves(&server).await);
}

#[tokio::test]
async fn server_drops_a_silent_connection_after_the_handshake_timeout() {
    let config = ServerConfig { handshake_timeout: Duration::from_millis(100), ..ServerConfig::default() };
    let server = start(config, Handler::events(Echo)).await;
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut out = vec![];
    let _ = within(tcp.read_to_end(&mut out)).await;
    eventually(|| server.connection_count() == 0).await;
    assert!(still_serves(&server).await);
}

#[tokio::test]
async fn server_rejects_a_repeated_key_header_with_400() {
    let server = echo_server().await;
    let h = format!("{}Sec-WebSocket-Key: {GOOD_KEY}\r\n", upgrade_headers("websocket", "Upgrade", "13", GOOD_KEY));
    assert_rejected(&server, request("GET", "1.1", &h), 400).await;
}
