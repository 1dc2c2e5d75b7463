//! SPEC 13.2: a session on a stream the host carries through a byte pump, with backpressure both
//! ways, and end of stream or failure ending it as a TCP EOF or reset would.
mod common;

use std::sync::Arc;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{
    BytePump, Frame, Handler, Initiator, PeerInfo, Server, ServerBuilder, ServerConfig, Session, TrySend,
};

const HEAD: &str = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn peer() -> PeerInfo {
    PeerInfo { remote_addr: "127.0.0.1:1".parse().unwrap(), local_addr: "127.0.0.1:2".parse().unwrap(), tls: true }
}

/// Relays between a real TCP connection and a pump, as a host terminating its own TLS would.
fn relay(tcp: TcpStream, pump: Arc<BytePump>) {
    let (mut rd, mut wr) = tcp.into_split();
    let p = pump.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) => return p.end().await,
                Ok(n) => {
                    if p.push(&buf[..n]).await.is_err() {
                        return;
                    }
                }
                Err(_) => return p.fail(),
            }
        }
    });
    tokio::spawn(async move {
        while let Some(bytes) = pump.pull(16 * 1024).await {
            if wr.write_all(&bytes).await.is_err() {
                return pump.fail();
            }
        }
        let _ = wr.shutdown().await;
    });
}

fn echo_server() -> Server {
    ServerBuilder::new(ServerConfig::default()).fallback(Handler::events(Echo)).start_detached().unwrap()
}

#[tokio::test]
async fn a_real_client_talks_to_a_session_through_the_pump() {
    let server = echo_server();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let client = tokio::spawn(async move { tokio_tungstenite::connect_async(url).await.expect("upgraded").0 });
    let (tcp, _) = listener.accept().await.unwrap();
    let (pump, adoption) = server.adopt_pump(b"", peer());
    relay(tcp, Arc::new(pump));
    let session = within(adoption).await.expect("upgraded");
    assert!(session.request().tls, "the host said the stream is TLS");
    let mut client = within(client).await.unwrap();
    for i in 0..50 {
        send(&mut client, Message::text(format!("message {i}"))).await;
        assert_eq!(next(&mut client).await, Some(Message::text(format!("message {i}"))));
    }
    within(client.close(None)).await.unwrap();
    let reason = within(session.close_reason()).await;
    assert_eq!((reason.code, reason.initiator), (1005, Initiator::Remote));
}

/// A pull-style server whose sessions are handed to the test (which reads them, or not).
fn pull_server(config: ServerConfig) -> (Server, tokio::sync::mpsc::UnboundedReceiver<Session>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let handler = Handler::task(move |s: Session| {
        let _ = tx.send(s.clone());
        async move {
            s.close_reason().await;
            Ok(())
        }
    });
    (ServerBuilder::new(config).fallback(handler).start_detached().unwrap(), rx)
}

/// Pulls until the 101's head has been read.
async fn pull_head(pump: &BytePump) {
    let mut got = vec![];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        got.extend_from_slice(&within(pump.pull(1)).await.expect("101"));
    }
    assert!(got.starts_with(b"HTTP/1.1 101"));
}

#[tokio::test]
async fn pushing_waits_while_the_session_does_not_take_messages() {
    let config = config_with(|s| s.incoming_queue = 1);
    let (server, mut sessions) = pull_server(config);
    let (pump, _) = server.adopt_pump(HEAD.as_bytes(), peer());
    pull_head(&pump).await;
    let session = next_session(&mut sessions).await;
    // Nobody calls recv: the session stops reading, the pump's buffer fills, and pushing stops.
    let frame = encode(0x2, true, &[7u8; 1024], Some(KEY));
    let mut accepted = 0usize;
    within(async {
        loop {
            let n = pump.try_push(&frame).unwrap();
            accepted += n;
            if n == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(accepted < 4 * wssession_core::session::PUMP_BUFFER, "bounded: {accepted} bytes accepted");
    let blocked = pump.push(&frame);
    tokio::pin!(blocked);
    assert!(futures_util::FutureExt::now_or_never(blocked.as_mut()).is_none(), "a full pump makes push wait");
    // Taking messages frees room, and the waiting push completes.
    let reader = tokio::spawn(async move { while let Ok(Some(_)) = session.recv().await {} });
    within(blocked).await.unwrap();
    pump.fail();
    within(reader).await.unwrap();
}

#[tokio::test]
async fn a_host_that_does_not_pull_holds_back_the_sessions_sends_until_it_does() {
    let config = config_with(|s| {
        s.write_high_water = 64 * 1024;
        s.write_low_water = 16 * 1024;
    });
    let (server, mut sessions) = pull_server(config);
    let (pump, _) = server.adopt_pump(HEAD.as_bytes(), peer());
    pull_head(&pump).await;
    let session = next_session(&mut sessions).await;
    let payload = bytes::Bytes::from(vec![1u8; 16 * 1024]);
    let mut sent = 0usize;
    while session.try_send(Frame::binary(payload.clone())).unwrap() == TrySend::Sent {
        sent += 1;
        assert!(sent < 1000, "the session never felt backpressure");
        tokio::task::yield_now().await;
    }
    assert!(session.buffered_amount() > 64 * 1024);
    // The host pulls everything: the session's queue empties.
    let mut total = 0usize;
    let expected = (sent + 1) * (payload.len() + 4);
    while total < expected {
        total += within(pump.pull(64 * 1024)).await.expect("bytes").len();
    }
    assert_eq!(total, expected);
    eventually(|| session.buffered_amount() == 0).await;
}

#[tokio::test]
async fn end_of_the_hosts_stream_without_a_close_is_1006() {
    let (server, mut sessions) = pull_server(ServerConfig::default());
    let (pump, _) = server.adopt_pump(HEAD.as_bytes(), peer());
    pull_head(&pump).await;
    let session = next_session(&mut sessions).await;
    within(pump.end()).await;
    let reason = within(session.close_reason()).await;
    assert_eq!((reason.code, reason.initiator), (1006, Initiator::Abnormal));
    assert!(pump.push(b"late").await.is_err(), "nothing is pushed after the end");
    assert_eq!(within(pump.pull(1024)).await, None, "the session shut its side");
    eventually(|| server.connection_count() == 0).await;
}

#[tokio::test]
async fn a_failed_host_stream_ends_the_session_at_once_with_1006() {
    let (server, mut sessions) = pull_server(ServerConfig::default());
    let (pump, _) = server.adopt_pump(HEAD.as_bytes(), peer());
    pull_head(&pump).await;
    let session = next_session(&mut sessions).await;
    let waiting_pull = async { pump.pull(1024).await };
    let fail = async { pump.fail() };
    let (pulled, ()) = within(async { tokio::join!(waiting_pull, fail) }).await;
    assert_eq!(pulled, None, "a pending pull ends when the pump fails");
    let reason = within(session.close_reason()).await;
    assert_eq!((reason.code, reason.initiator), (1006, Initiator::Abnormal));
}

#[tokio::test]
async fn a_close_exchanged_before_the_end_keeps_its_code() {
    let (server, mut sessions) = pull_server(ServerConfig::default());
    let (pump, _) = server.adopt_pump(HEAD.as_bytes(), peer());
    pull_head(&pump).await;
    let session = next_session(&mut sessions).await;
    let mut close = 4000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"bye");
    within(pump.push(&encode(0x8, true, &close, Some(KEY)))).await.unwrap();
    // The session echoes the Close and shuts its side; the host then ends its stream.
    let mut out = vec![];
    while let Some(b) = within(pump.pull(1024)).await {
        out.extend_from_slice(&b);
    }
    assert_eq!(&out[..4], &[0x88, 2, 0x0f, 0xa0]);
    within(pump.end()).await;
    let reason = within(session.close_reason()).await;
    assert_eq!((reason.code, reason.reason.as_str(), reason.initiator), (4000, "bye", Initiator::Remote));
}
