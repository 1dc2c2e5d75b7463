//! Protocol edges that Autobahn|Testsuite grades (7.3.2, 7.5.1, 7.9.*, 9.3/9.4, permessage-deflate offers),
//! checked here with a raw client so `cargo test` catches a regression without the Python suite.
mod common;

use common::*;
use tokio::io::AsyncWriteExt;
use wssession_core::{DeflateConfig, Handler, ServerConfig, SessionConfig};

/// A server whose closing handshake would outlast the test limit: a session that waits for a Close
/// the peer never sends makes the test fail instead of passing late.
async fn patient_echo(deflate: bool) -> wssession_core::Server {
    let config = ServerConfig {
        session: SessionConfig { close_timeout_ms: 60_000, ..SessionConfig::default() },
        deflate: if deflate { DeflateConfig::enabled() } else { DeflateConfig::default() },
        ..ServerConfig::default()
    };
    start(config, Handler::events(Echo)).await
}

#[tokio::test]
async fn an_invalid_close_frame_is_answered_and_the_connection_shut_without_waiting() {
    let server = patient_echo(false).await;
    let cases: [(&[u8], u16); 3] = [(&[0x03], 1002), (&[0x00, 0x00], 1002), (&[0x03, 0xe8, 0xff], 1007)];
    for (payload, code) in cases {
        let mut raw = Raw::connect(&server).await;
        raw.frame(8, true, payload).await;
        assert_eq!(raw.read_close().await, Some(code));
        assert!(raw.eof().await, "the server shuts the connection after answering");
    }
}

#[tokio::test]
async fn a_message_of_65536_one_byte_fragments_is_reassembled() {
    let server = patient_echo(false).await;
    let mut raw = Raw::connect(&server).await;
    let n = 65_536;
    let mut wire = Vec::with_capacity(n * 7);
    for i in 0..n {
        wire.extend_from_slice(&encode(if i == 0 { 2 } else { 0 }, i == n - 1, b"*", Some(KEY)));
    }
    within(raw.tcp.write_all(&wire)).await.unwrap();
    let (b0, payload) = raw.read_frame().await.expect("the echo");
    assert_eq!(b0, 0x82);
    assert_eq!(payload, vec![b'*'; n]);
}

#[tokio::test]
async fn a_client_allowing_only_a_256_byte_server_window_gets_deflate_and_readable_messages() {
    let server = patient_echo(true).await;
    let mut tcp = tokio::net::TcpStream::connect(server.local_addr()).await.unwrap();
    let req = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
               Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
               Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8\r\n\r\n";
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Raw { tcp, buf: vec![] };
    let head = String::from_utf8(raw.read_until(b"\r\n\r\n").await).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-extensions: permessage-deflate; server_max_window_bits=8\r\n"),
        "{head}"
    );
    let text = "window ".repeat(1000);
    raw.frame(1, true, text.as_bytes()).await;
    let (b0, payload) = raw.read_frame().await.expect("the echo");
    assert_eq!(b0, 0x81, "sent uncompressed (RSV1 clear): zlib cannot honour a 256-byte window");
    assert_eq!(payload, text.as_bytes());
}
