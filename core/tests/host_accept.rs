//! `ServerBuilder::start_host_accept` and `Server::host_handshake`: a host's own thread (here one polling
//! with `poll(2)`) accepts, reads the request head through `HostHandshake::read_ready` and gets the
//! session opened on that thread, or the refusal the listener would answer.
mod common;

use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use common::*;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::host_accept::HeadStep;
use wssession_core::session::{HostRead, HostReader};
use wssession_core::{
    Accept, Decision, EventHandler, Frame, Handler, HttpResponse, Request, Server, ServerBuilder, ServerConfig,
    Session, TlsConfig,
};

/// Echoes every message; records the thread each open was delivered on and reads each session on a
/// thread of its own.
#[derive(Default)]
struct Echo {
    opened_on: Mutex<Vec<ThreadId>>,
}

impl EventHandler for Echo {
    fn on_open(&self, session: &Session) {
        self.opened_on.lock().unwrap().push(std::thread::current().id());
        let mut reader = session.take_host_reader().expect("a host_read session has a reader at its open");
        std::thread::spawn(move || read_loop(&mut reader));
    }

    fn on_message(&self, session: &Session, frame: Frame) {
        let _ = session.try_send(frame);
    }
}

/// Waits until `fd` is readable or `limit` passed; whether it is readable.
fn readable(fd: RawFd, limit: Duration) -> bool {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd on a descriptor its owner keeps open during the call.
    unsafe { libc::poll(&mut pfd, 1, limit.as_millis() as i32) > 0 }
}

fn read_loop(reader: &mut HostReader) {
    loop {
        match reader.read_ready() {
            HostRead::Done | HostRead::Stop => return,
            HostRead::Watch => {
                readable(reader.fd(), LIMIT);
            }
        }
    }
}

/// The host's thread: accepts on `listener` and drives each head to its end (one at a time), deciding with
/// `decide`. Returns its thread id.
fn host_thread(server: Server, listener: TcpListener, decide: fn(&Request) -> Option<Decision>) -> ThreadId {
    let thread = std::thread::spawn(move || {
        loop {
            let (tcp, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if server.is_closed() {
                        return;
                    }
                    readable(listener.as_raw_fd(), Duration::from_millis(50));
                    continue;
                }
                Err(_) => return,
            };
            tcp.set_nonblocking(true).unwrap();
            let Some(mut hs) = server.host_handshake(tcp, peer) else { continue };
            while let HeadStep::More = hs.read_ready(decide) {
                let left = hs.deadline().saturating_duration_since(Instant::now());
                if !readable(hs.fd(), left) {
                    hs.time_out();
                    break;
                }
            }
        }
    });
    thread.thread().id()
}

fn accept_all(req: &Request) -> Option<Decision> {
    Some(Decision::Accept(Accept { subprotocol: req.offered_subprotocols().into_iter().next(), ..Accept::default() }))
}

/// A host-accepting server with `config` (host reads on) and the echo handler, its host thread started.
fn host_server(
    config: ServerConfig,
    decide: fn(&Request) -> Option<Decision>,
    builder: impl FnOnce(ServerBuilder) -> ServerBuilder,
) -> (Server, Arc<Echo>, ThreadId) {
    let echo = Arc::new(Echo::default());
    let b = builder(Server::builder_with(config).fallback(Handler::Events(echo.clone())));
    let (server, listener) = b.start_host_accept().expect("binds");
    let host = host_thread(server.clone(), listener, decide);
    (server, echo, host)
}

fn host_config() -> ServerConfig {
    config_with(|c| c.host_read = true)
}

#[tokio::test]
async fn the_hosts_thread_accepts_and_opens_sessions_that_echo_and_close_cleanly() {
    let (server, echo, host) = host_server(host_config(), accept_all, |b| b);
    assert_ne!(server.port(), 0, "the listener is bound to a real port");
    for round in 0..20 {
        let mut client = connect(&server).await;
        let m = Message::text(format!("round {round}"));
        send(&mut client, m.clone()).await;
        assert_eq!(next(&mut client).await, Some(m));
        within(client.close(None)).await.unwrap();
        assert!(matches!(next(&mut client).await, Some(Message::Close(_)) | None));
    }
    eventually(|| server.sessions().is_empty() && server.connection_count() == 0).await;
    let opened = echo.opened_on.lock().unwrap().clone();
    assert_eq!(opened.len(), 20);
    assert!(opened.iter().all(|t| *t == host), "every open was delivered on the host's thread");
    assert_eq!(server.stats().handshakes_accepted, 20);
    server.close();
}

#[tokio::test]
async fn bad_heads_and_refusals_get_the_listeners_answers() {
    fn refuse_secret(req: &Request) -> Option<Decision> {
        if req.path == "/secret" { Some(Decision::Respond(HttpResponse::text(403, "no"))) } else { accept_all(req) }
    }
    let (server, _, _) = host_server(host_config(), refuse_secret, |b| b);
    assert_eq!(http_status(&server, b"NOT HTTP\r\n\r\n").await, 400);
    assert_eq!(http_status(&server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await, 400, "not an upgrade");
    let upgrade = b"GET /secret HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(http_status(&server, upgrade).await, 403);
    let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
    big.resize(16 * 1024 + 1, b'a');
    assert_eq!(http_status(&server, &big).await, 431);
    assert!(still_serves(&server).await);
    eventually(|| server.connection_count() == 0).await;
    server.close();
}

#[tokio::test]
async fn a_head_that_does_not_arrive_in_time_gets_408() {
    let mut config = host_config();
    config.handshake_timeout = Duration::from_millis(50);
    let (server, _, _) = host_server(config, accept_all, |b| b);
    let (status, _) = http_exchange(&server, b"GET / HTTP/1.1\r\nHost: x\r\n").await;
    assert_eq!(status, 408);
    eventually(|| server.connection_count() == 0).await;
    server.close();
}

#[tokio::test]
async fn connections_beyond_max_connections_get_503() {
    let mut config = host_config();
    config.max_connections = 1;
    let (server, _, _) = host_server(config, accept_all, |b| b);
    let _first = connect(&server).await;
    let upgrade = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(http_status(&server, upgrade).await, 503);
    server.close();
}

#[tokio::test]
async fn a_decision_the_host_cannot_make_now_goes_to_the_accept_hook_on_the_runtime() {
    let (server, echo, host) = host_server(
        host_config(),
        |_| None,
        |b| {
            b.accept_hook(|req: Request| async move {
                if req.path == "/no" {
                    Decision::Respond(HttpResponse::text(401, "hook says no"))
                } else {
                    Decision::Accept(Accept::default())
                }
            })
        },
    );
    let mut client = connect(&server).await;
    send(&mut client, Message::text("via the hook")).await;
    assert_eq!(next(&mut client).await, Some(Message::text("via the hook")));
    assert_ne!(echo.opened_on.lock().unwrap()[0], host, "opened on the runtime");
    let upgrade = b"GET /no HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    assert_eq!(http_status(&server, upgrade).await, 401);
    server.close();
}

#[test]
fn host_accept_is_refused_with_tls_by_name() {
    let tls = Some(TlsConfig { cert_path: "cert.pem".into(), key_path: "key.pem".into() });
    let config = ServerConfig { tls, ..ServerConfig::default() };
    let err = Server::builder_with(config).start_host_accept().unwrap_err();
    assert!(err.to_string().contains("tls"), "{err}");
}
