//! SPEC 3.1, 3.4 and 3.5: `incoming` delivers whole messages in order, is bounded (a full queue stops
//! reading the socket), ends normally on a clean close, with an error on failure, then gives Closed.
mod common;

use common::*;
use tokio::io::AsyncWriteExt;
use wssession_core::{Error, Handler, ServerConfig};

#[tokio::test]
async fn messages_arrive_in_order_with_their_type() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.frame(0x1, true, b"one").await;
    raw.frame(0x2, true, &[2, 2]).await;
    raw.frame(0x1, true, "drei €".as_bytes()).await;
    let a = within(session.recv()).await.unwrap().unwrap();
    let b = within(session.recv()).await.unwrap().unwrap();
    let c = within(session.recv()).await.unwrap().unwrap();
    assert_eq!((a.as_text(), a.fin), (Some("one"), true));
    assert_eq!((b.kind, &b.data[..]), (wssession_core::FrameType::Binary, &[2u8, 2][..]));
    assert_eq!(c.as_text(), Some("drei €"));
    let stats = session.stats();
    assert_eq!((stats.messages_in, stats.bytes_in), (3, 3 + 2 + "drei €".len() as u64));
}

#[tokio::test]
async fn incoming_ends_normally_on_a_clean_close_then_gives_closed() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    raw.frame(0x1, true, b"last words").await;
    raw.send_close(1000, "").await;
    assert_eq!(within(session.recv()).await.unwrap().unwrap().as_text(), Some("last words"));
    assert!(within(session.recv()).await.unwrap().is_none(), "a clean close ends incoming normally");
    assert!(matches!(within(session.recv()).await, Err(Error::Closed(Some(r))) if r.code == 1000));
    assert!(matches!(session.try_recv(), Err(Error::Closed(_))));
}

#[tokio::test]
async fn incoming_ends_with_an_error_carrying_the_reason_when_the_peer_vanishes() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    drop(raw);
    match within(session.recv()).await {
        Err(Error::Closed(Some(r))) => assert_eq!(r.code, 1006),
        other => panic!("expected Closed(1006), got {other:?}"),
    }
    assert!(matches!(within(session.recv()).await, Err(Error::Closed(_))));
}

#[tokio::test]
async fn recv_many_takes_a_batch_and_returns_zero_at_a_clean_end() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    let mut bytes = vec![];
    for i in 0..5u8 {
        bytes.extend(encode(0x2, true, &[i], Some(KEY)));
    }
    bytes.extend(encode(0x8, true, &1000u16.to_be_bytes(), Some(KEY)));
    raw.write(&bytes).await;
    let mut out = vec![];
    while out.len() < 5 {
        assert!(within(session.recv_many(&mut out, 10)).await.unwrap() > 0);
    }
    assert_eq!(out.iter().map(|f| f.data[0]).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert_eq!(within(session.recv_many(&mut out, 10)).await.unwrap(), 0);
}

#[tokio::test]
async fn poll_recv_many_takes_a_batch_when_polled_in_place_and_returns_zero_at_a_clean_end() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    let mut out = vec![];
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(session.poll_recv_many(&mut cx, &mut out, 10).is_pending(), "nothing is queued yet");
    let mut bytes = vec![];
    for i in 0..3u8 {
        bytes.extend(encode(0x2, true, &[i], Some(KEY)));
    }
    bytes.extend(encode(0x8, true, &1000u16.to_be_bytes(), Some(KEY)));
    raw.write(&bytes).await;
    while out.len() < 3 {
        let n = within(std::future::poll_fn(|cx| session.poll_recv_many(cx, &mut out, 10))).await;
        assert!(n.unwrap() > 0);
    }
    assert_eq!(out.iter().map(|f| f.data[0]).collect::<Vec<_>>(), [0, 1, 2]);
    let end = within(std::future::poll_fn(|cx| session.poll_recv_many(cx, &mut out, 10))).await;
    assert_eq!(end.unwrap(), 0);
    let after = within(std::future::poll_fn(|cx| session.poll_recv_many(cx, &mut out, 10))).await;
    assert!(matches!(after, Err(Error::Closed(_))));
}

#[tokio::test]
async fn a_full_incoming_queue_stops_reading_the_socket_until_messages_are_taken() {
    const QUEUE: usize = 4;
    const MESSAGES: usize = 8192;
    const SIZE: usize = 4096;
    let (server, mut sessions) = session_server(config_with(|s| s.incoming_queue = QUEUE)).await;
    let raw = Raw::connect(&server).await;
    let session = next_session(&mut sessions).await;
    // 32 MiB: far more than loopback socket buffers hold.
    let writer = numbered_messages(raw.tcp, MESSAGES, SIZE);
    eventually(|| session.stats().messages_in as usize > QUEUE).await;
    // The session holds the queue plus the one message waiting for room, and reads no further, so
    // the 32 MiB writer cannot have finished: TCP backpressure holds it.
    assert_eq!(session.stats().messages_in as usize, QUEUE + 1, "reading stopped with the queue full");
    assert!(!writer.is_finished(), "the peer was never held");
    for i in 0..MESSAGES {
        let m = within(session.recv()).await.unwrap().unwrap();
        assert_eq!(u32::from_be_bytes(m.data[..4].try_into().unwrap()) as usize, i);
    }
    within(writer).await.unwrap();
}

#[tokio::test]
async fn recv_is_unavailable_on_a_push_style_session() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    struct Hand(tokio::sync::mpsc::UnboundedSender<wssession_core::Session>);
    impl wssession_core::EventHandler for Hand {
        fn on_open(&self, s: &wssession_core::Session) {
            let _ = self.0.send(s.clone());
        }
        fn on_message(&self, _: &wssession_core::Session, _: wssession_core::Frame) {}
    }
    let server = start(ServerConfig::default(), Handler::events(Hand(tx))).await;
    let _raw = Raw::connect(&server).await;
    let session = next_session(&mut rx).await;
    assert!(matches!(within(session.recv()).await, Err(Error::InvalidArgument(_))));
}

#[tokio::test]
async fn frames_sent_right_behind_the_request_head_are_not_lost() {
    let (server, mut sessions) = session_server(ServerConfig::default()).await;
    let mut tcp = tokio::net::TcpStream::connect(server.local_addr()).await.unwrap();
    let mut bytes = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .to_vec();
    bytes.extend(encode(0x1, true, b"eager", Some(KEY)));
    tcp.write_all(&bytes).await.unwrap();
    let session = next_session(&mut sessions).await;
    assert_eq!(within(session.recv()).await.unwrap().unwrap().as_text(), Some("eager"));
}
