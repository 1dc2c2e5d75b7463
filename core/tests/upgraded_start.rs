//! SPEC 1 `start(negotiatedExtensions)` and 13.1: the host wrote the 101 itself; the session starts on
//! the already-upgraded connection and speaks permessage-deflate with the negotiated parameters.
mod common;

use common::*;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::io::AsyncWriteExt;
use wssession_core::handshake::parse_head;
use wssession_core::{
    DeflateConfig, DeflateParams, Error, Handler, Initiator, Request, Server, ServerBuilder, ServerConfig, State,
};

fn deflate_server() -> Server {
    let config = ServerConfig { deflate: DeflateConfig::enabled(), ..ServerConfig::default() };
    ServerBuilder::new(config).fallback(Handler::events(Echo)).start_detached().unwrap()
}

/// The host's side: accepts one connection and reads its whole request head (and anything after).
async fn host_reads_request(listener: &tokio::net::TcpListener) -> (tokio::net::TcpStream, Request, Vec<u8>) {
    use tokio::io::AsyncReadExt;
    let (mut tcp, peer) = within(listener.accept()).await.unwrap();
    let mut buf = vec![];
    loop {
        let mut chunk = [0u8; 1024];
        let n = within(tcp.read(&mut chunk)).await.unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&chunk[..n]);
        if let Some((req, len)) = parse_head(&buf, 16 << 10, 100, peer, tcp.local_addr().unwrap()).unwrap() {
            return (tcp, req, buf.split_off(len));
        }
    }
}

/// A raw client offering `extensions`; returns it with the 101's head.
async fn client_offering(
    listener: &tokio::net::TcpListener,
    extensions: &str,
) -> tokio::task::JoinHandle<(Raw, String)> {
    let addr = listener.local_addr().unwrap();
    let offer = format!(
        "GET /live HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Extensions: {extensions}\r\n\r\n"
    );
    tokio::spawn(async move {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(offer.as_bytes()).await.unwrap();
        let mut raw = Raw { tcp, buf: vec![] };
        let head = String::from_utf8(raw.read_until(b"\r\n\r\n").await).unwrap();
        (raw, head)
    })
}

/// The request of a connection the host upgraded over a stream without a head of its own to parse.
fn request_for(path: &str, tls: bool) -> Request {
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    let addr = |a: &str| a.parse().unwrap();
    let mut request =
        parse_head(head.as_bytes(), 1024, 8, addr("127.0.0.1:1"), addr("127.0.0.1:2")).unwrap().unwrap().0;
    request.tls = tls;
    request
}

/// Raw deflate of one message with the RFC 7692 tail removed.
fn compress(text: &[u8]) -> Vec<u8> {
    let mut z = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(text.len() + 64);
    z.compress_vec(text, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// Inflates one message with a fresh window of `bits` (the tail restored).
fn inflate(payload: &[u8], bits: u8) -> Vec<u8> {
    let mut z = Decompress::new_with_window_bits(false, bits);
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(64 * 1024);
    z.decompress_vec(&input, &mut out, FlushDecompress::Sync).unwrap();
    out
}

#[tokio::test]
async fn a_session_started_on_a_host_upgraded_socket_speaks_the_negotiated_deflate() {
    let server = deflate_server();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client =
        client_offering(&listener, "permessage-deflate; server_no_context_takeover; server_max_window_bits=10").await;
    let (mut tcp, mut request, leftover) = host_reads_request(&listener).await;

    // The host asks the core for the response, writes it itself, then hands the connection over.
    let agreed = server.handshake_response(&request).expect("a valid upgrade");
    let deflate = agreed.deflate.clone().expect("deflate negotiated");
    assert_eq!((deflate.server_no_context_takeover, deflate.server_max_window_bits), (true, 10));
    tcp.write_all(&agreed.to_bytes()).await.unwrap();
    agreed.apply(&mut request);
    let session = server.upgraded_tcp(tcp.into_std().unwrap(), request, &leftover).unwrap();
    assert_eq!(session.state(), State::Connecting, "nothing happens before start");
    assert_eq!(
        session.request().extensions,
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
    );
    session.start(agreed.deflate.clone()).unwrap();
    assert!(matches!(session.start(None), Err(Error::AlreadyStarted)));

    let (mut raw, head) = within(client).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 101"));
    assert!(head.contains(
        "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; server_max_window_bits=10\r\n"
    ));
    let text = "compress me ".repeat(200);
    // A compressed message from the client (RSV1) is inflated and echoed compressed.
    let body = compress(text.as_bytes());
    let mut frame = encode(0x1, true, &body, Some(KEY));
    frame[0] |= 0x40;
    for _ in 0..2 {
        raw.write(&frame).await;
    }
    let (b0, first) = raw.read_frame().await.unwrap();
    let (_, second) = raw.read_frame().await.unwrap();
    assert_eq!(b0, 0x80 | 0x40 | 0x1, "FIN, RSV1 and Text");
    assert!(first.len() < text.len() / 4, "compressed: {} bytes", first.len());
    // No context takeover: each message inflates on its own, in a 2^10-byte window.
    assert_eq!(inflate(&first, 10), text.as_bytes());
    assert_eq!(inflate(&second, 10), text.as_bytes());
    assert_eq!(first, second, "the second message does not refer back to the first");
    raw.send_close(1000, "").await;
    let reason = within(session.close_reason()).await;
    assert_eq!((reason.code, reason.initiator), (1000, Initiator::Remote));
}

#[tokio::test]
async fn a_host_that_negotiated_by_itself_starts_the_session_from_its_extensions_header() {
    let server = deflate_server();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = client_offering(&listener, "permessage-deflate; client_max_window_bits").await;
    let (mut tcp, mut request, leftover) = host_reads_request(&listener).await;
    // The host's own HTTP code answered; all the core gets is the extensions value it sent.
    let sent = "permessage-deflate; server_max_window_bits=9";
    let key = request.headers.get("sec-websocket-key").unwrap().to_owned();
    let response = wssession_core::handshake::switching_protocols(&key, None, sent, &[]);
    tcp.write_all(&response).await.unwrap();
    request.extensions = sent.to_owned();
    let params = DeflateParams::from_response_header(sent, &DeflateConfig::enabled()).unwrap();
    let session = server.upgraded_tcp(tcp.into_std().unwrap(), request, &leftover).unwrap();
    session.start(params).unwrap();
    let (mut raw, _) = within(client).await.unwrap();
    let text = "nine bit window ".repeat(100);
    raw.frame(0x1, true, text.as_bytes()).await;
    let (b0, echoed) = raw.read_frame().await.unwrap();
    assert_eq!(b0 & 0x40, 0x40, "echo compressed");
    assert_eq!(inflate(&echoed, 9), text.as_bytes(), "inflates within the 2^9-byte window agreed");
}

#[tokio::test]
async fn an_upgraded_pump_session_starts_like_a_socket_one() {
    let server = deflate_server();
    let request = request_for("/p", true);
    let leftover = encode(0x1, true, b"after the head", Some(KEY));
    let (session, pump) = server.upgraded_pump(request, &leftover).unwrap();
    assert_eq!(server.connection_count(), 1);
    session.start(None).unwrap();
    assert_eq!(within(pump.pull(1024)).await.unwrap().as_ref(), &encode(0x1, true, b"after the head", None)[..]);
    session.terminate();
    assert_eq!(within(session.close_reason()).await.code, 1006);
    eventually(|| server.connection_count() == 0).await;
}

#[tokio::test]
async fn upgraded_connections_are_refused_by_a_closed_or_full_server() {
    let config = ServerConfig { max_connections: 1, ..ServerConfig::default() };
    let full = ServerBuilder::new(config).fallback(Handler::events(Echo)).start_detached().unwrap();
    let request = || request_for("/", false);
    let _first = full.upgraded_pump(request(), b"").expect("the one connection slot is free");
    let err = full.upgraded_pump(request(), b"").unwrap_err();
    assert!(err.to_string().contains("max_connections = 1"), "{err}");
    let closed = deflate_server();
    closed.close();
    let err = closed.upgraded_pump(request(), b"").unwrap_err();
    assert_eq!(err.kind(), "HANDSHAKE");
}
