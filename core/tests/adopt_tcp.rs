//! SPEC 13.1: a TCP socket the host accepted, with any bytes it already read, takes the listener's path.
mod common;

use std::os::fd::AsRawFd;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{Decision, Handler, HttpResponse, Server, ServerBuilder, ServerConfig};

const HEAD: &str = "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

fn detached(config: ServerConfig) -> Server {
    ServerBuilder::new(config).route("/chat", Handler::events(Echo)).start_detached().expect("detached server")
}

/// The host's own listener on 127.0.0.1 (blocking std sockets, as a foreign program would have).
fn host_listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

/// Accepts one connection on the host's listener and reads from it until `enough` says so.
async fn accept_and_read(
    listener: std::net::TcpListener,
    enough: impl Fn(&[u8]) -> bool + Send + 'static,
) -> (std::net::TcpStream, Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let (mut tcp, _) = listener.accept().unwrap();
        let mut got = vec![];
        let mut chunk = [0u8; 1];
        while !enough(&got) {
            let n = tcp.read(&mut chunk).unwrap();
            assert!(n > 0, "client closed early");
            got.extend_from_slice(&chunk[..n]);
        }
        (tcp, got)
    })
    .await
    .unwrap()
}

fn head_complete(b: &[u8]) -> bool {
    b.windows(4).any(|w| w == b"\r\n\r\n")
}

#[tokio::test]
async fn an_adopted_socket_whose_whole_head_was_read_is_upgraded_and_routed() {
    let server = detached(ServerConfig::default());
    let listener = host_listener();
    let url = format!("ws://{}/chat", listener.local_addr().unwrap());
    let client = tokio::spawn(async move { tokio_tungstenite::connect_async(url).await });
    let (tcp, initial) = accept_and_read(listener, head_complete).await;
    let session = within(server.adopt_tcp(tcp, &initial).unwrap()).await.expect("upgraded");
    assert_eq!(session.request().path, "/chat");
    let mut client = within(client).await.unwrap().expect("client upgraded").0;
    send(&mut client, Message::text("hello")).await;
    assert_eq!(next(&mut client).await, Some(Message::text("hello")));
    assert_eq!(server.session_count(), 1);
}

#[tokio::test]
async fn an_adopted_socket_whose_head_was_partly_read_finishes_the_handshake() {
    let server = detached(ServerConfig::default());
    let listener = host_listener();
    let url = format!("ws://{}/chat", listener.local_addr().unwrap());
    let client = tokio::spawn(async move { tokio_tungstenite::connect_async(url).await });
    // The host peeked at the request line only (as a router deciding where a connection goes would).
    let (tcp, initial) = accept_and_read(listener, |b| b.ends_with(b"HTTP/1.1\r\n")).await;
    assert!(!head_complete(&initial));
    within(server.adopt_tcp(tcp, &initial).unwrap()).await.expect("upgraded");
    let mut client = within(client).await.unwrap().expect("client upgraded").0;
    send(&mut client, Message::binary(vec![1, 2, 3])).await;
    assert_eq!(next(&mut client).await, Some(Message::binary(vec![1, 2, 3])));
}

#[tokio::test]
async fn frames_read_by_the_host_after_the_head_are_delivered_first() {
    let server = detached(ServerConfig::default());
    let listener = host_listener();
    let addr = listener.local_addr().unwrap();
    let mut first = HEAD.as_bytes().to_vec();
    first.extend(encode(0x1, true, b"early", Some(KEY)));
    let frame_len = first.len();
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    raw.write_all(&first).await.unwrap();
    let (tcp, initial) = accept_and_read(listener, move |b| b.len() == frame_len).await;
    within(server.adopt_tcp(tcp, &initial).unwrap()).await.expect("upgraded");
    let mut raw = Raw { tcp: raw, buf: vec![] };
    assert!(raw.read_until(b"\r\n\r\n").await.starts_with(b"HTTP/1.1 101"));
    assert_eq!(raw.read_frame().await, Some((0x81, b"early".to_vec())));
}

#[tokio::test]
async fn an_adopted_socket_gets_the_accept_hooks_answer_and_the_connection_limit() {
    let config = ServerConfig { max_connections: 1, ..ServerConfig::default() };
    let server = ServerBuilder::new(config)
        .route("/chat", Handler::events(Echo))
        .accept_hook(|req| async move {
            match req.headers.get("x-token") {
                Some("ok") => Decision::Accept(Default::default()),
                _ => Decision::Respond(HttpResponse::text(403, "no token")),
            }
        })
        .start_detached()
        .unwrap();
    let adopt = |head: String| {
        let server = server.clone();
        async move {
            let listener = host_listener();
            let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
            let (tcp, _) = listener.accept().unwrap();
            let adoption = server.adopt_tcp(tcp, head.as_bytes()).unwrap();
            let mut out = vec![0u8; 12];
            within(client.read_exact(&mut out)).await.unwrap();
            (String::from_utf8(out).unwrap(), client, adoption)
        }
    };
    let (status, _c1, refused) = adopt(HEAD.to_owned()).await;
    assert_eq!(status, "HTTP/1.1 403");
    assert!(within(refused).await.is_none());
    let with_token = HEAD.replace("Host: x\r\n", "Host: x\r\nX-Token: ok\r\n");
    let (status, _c2, _) = adopt(with_token.clone()).await;
    assert_eq!(status, "HTTP/1.1 101");
    eventually(|| server.session_count() == 1).await;
    let (status, _c3, _) = adopt(with_token).await;
    assert_eq!(status, "HTTP/1.1 503");
}

#[tokio::test]
async fn an_adopted_socket_that_never_finishes_its_head_gets_408() {
    let config = ServerConfig { handshake_timeout: std::time::Duration::from_millis(200), ..ServerConfig::default() };
    let server = detached(config);
    let listener = host_listener();
    let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (tcp, _) = listener.accept().unwrap();
    let adoption = server.adopt_tcp(tcp, b"GET /chat HTTP/1.1\r\n").unwrap();
    let mut out = vec![];
    within(client.read_to_end(&mut out)).await.unwrap();
    assert!(out.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&out));
    assert!(within(adoption).await.is_none(), "no session");
    assert_eq!(server.connection_count(), 0, "the slot was given back");
}

#[tokio::test]
async fn adopt_fd_takes_a_connected_socket_and_refuses_anything_else_leaving_it_open() {
    let server = detached(ServerConfig::default());
    let listener = host_listener();
    let url = format!("ws://{}/chat", listener.local_addr().unwrap());
    // A listening socket is not a connection: refused, and still the caller's.
    let err = unsafe { server.adopt_fd(listener.as_raw_fd(), b"") }.unwrap_err();
    assert_eq!(err.kind(), "INVALID_ARGUMENT");
    assert!(err.to_string().contains("not a connected TCP socket"), "{err}");
    let err = unsafe { server.adopt_fd(-1, b"") }.unwrap_err();
    assert_eq!(err.kind(), "INVALID_ARGUMENT");

    let client = tokio::spawn(async move { tokio_tungstenite::connect_async(url).await });
    let (tcp, _) = tokio::task::spawn_blocking(move || listener.accept().unwrap()).await.unwrap();
    let fd = std::os::fd::IntoRawFd::into_raw_fd(tcp);
    within(unsafe { server.adopt_fd(fd, b"") }.unwrap()).await.expect("upgraded");
    let mut client = within(client).await.unwrap().expect("client upgraded").0;
    send(&mut client, Message::text("via fd")).await;
    assert_eq!(next(&mut client).await, Some(Message::text("via fd")));
}
