//! SPEC 2.4 and 2.5: the 101 response carries the accept key, the subprotocol only if one was chosen,
//! and the negotiated extension; unknown or malformed extension offers are declined, never a crash.
mod common;

use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use wssession_core::{DeflateConfig, Handler, ServerConfig};

async fn upgrade(server: &wssession_core::Server, extra: &str) -> (String, Raw) {
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    let req = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Raw { tcp, buf: vec![] };
    let head = String::from_utf8(raw.read_until(b"\r\n\r\n").await).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    (head.to_ascii_lowercase(), raw)
}

async fn still_echoes(raw: &mut Raw) {
    raw.frame(0x1, true, b"ok").await;
    assert_eq!(raw.read_frame().await.unwrap(), (0x81, b"ok".to_vec()));
}

fn with_deflate() -> ServerConfig {
    ServerConfig { deflate: DeflateConfig { enabled: true, ..DeflateConfig::default() }, ..ServerConfig::default() }
}

#[tokio::test]
async fn response_carries_the_rfc_accept_key_and_no_subprotocol_unless_chosen() {
    let server = echo_server().await;
    let (head, mut raw) = upgrade(&server, "Sec-WebSocket-Protocol: chat\r\n").await;
    assert!(head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"), "{head}");
    assert!(!head.contains("sec-websocket-protocol"), "no subprotocol was chosen: {head}");
    assert!(!head.contains("sec-websocket-extensions"), "{head}");
    still_echoes(&mut raw).await;
}

#[tokio::test]
async fn the_server_preference_picks_a_subprotocol_the_client_offered() {
    let config = ServerConfig { subprotocols: vec!["b".into(), "a".into()], ..ServerConfig::default() };
    let server = start(config, Handler::events(Echo)).await;
    let (head, _) = upgrade(&server, "Sec-WebSocket-Protocol: a, b\r\n").await;
    assert!(head.contains("sec-websocket-protocol: b\r\n"), "{head}");
    let (head, _) = upgrade(&server, "Sec-WebSocket-Protocol: c\r\n").await;
    assert!(!head.contains("sec-websocket-protocol"), "{head}");
}

#[tokio::test]
async fn unknown_extensions_are_ignored() {
    let server = start(with_deflate(), Handler::events(Echo)).await;
    let (head, mut raw) = upgrade(&server, "Sec-WebSocket-Extensions: x-webkit-foo; bar=1\r\n").await;
    assert!(!head.contains("sec-websocket-extensions"), "{head}");
    still_echoes(&mut raw).await;
}

#[tokio::test]
async fn malformed_permessage_deflate_offers_are_declined() {
    let server = start(with_deflate(), Handler::events(Echo)).await;
    for offer in [
        "permessage-deflate; server_max_window_bits=99",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; unknown_param",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11",
        "permessage-deflate;;;=",
    ] {
        let (head, mut raw) = upgrade(&server, &format!("Sec-WebSocket-Extensions: {offer}\r\n")).await;
        assert!(!head.contains("sec-websocket-extensions"), "offer {offer:?} accepted: {head}");
        still_echoes(&mut raw).await;
    }
}

#[tokio::test]
async fn a_valid_deflate_offer_is_answered_with_the_negotiated_parameters() {
    let server = start(with_deflate(), Handler::events(Echo)).await;
    let (head, _raw) =
        upgrade(&server, "Sec-WebSocket-Extensions: x-unknown, permessage-deflate; client_max_window_bits\r\n").await;
    let line = head.lines().find(|l| l.starts_with("sec-websocket-extensions:")).expect("extension negotiated");
    assert!(line.contains("permessage-deflate"), "{line}");
    eventually(|| server.session_count() == 1).await;
    let session = server.sessions().pop().unwrap();
    assert!(session.request().extensions.contains("permessage-deflate"));
}

#[tokio::test]
async fn deflate_offers_are_declined_when_the_server_has_it_off() {
    let server = echo_server().await;
    let (head, mut raw) = upgrade(&server, "Sec-WebSocket-Extensions: permessage-deflate\r\n").await;
    assert!(!head.contains("sec-websocket-extensions"), "{head}");
    still_echoes(&mut raw).await;
}
