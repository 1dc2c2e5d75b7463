//! `SessionConfig::host_read`: a host's own loop (here a thread polling the socket with `poll(2)`)
//! drives the reads through `HostReader::read_ready`; messages, replies and the closing handshake
//! happen on that thread.
mod common;

use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use common::*;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use wssession_core::session::{HostRead, HostReader};
use wssession_core::{EventHandler, Frame, Handler, ServerConfig, Session, TlsConfig};

/// Echoes every message and records the threads `on_message` ran on.
#[derive(Default)]
struct ThreadEcho {
    threads: Mutex<Vec<ThreadId>>,
}

impl EventHandler for ThreadEcho {
    fn on_open(&self, session: &Session) {
        let reader = session.take_host_reader().expect("a host_read session has a reader after start");
        std::thread::spawn(move || host_loop(reader));
    }

    fn on_message(&self, session: &Session, frame: Frame) {
        self.threads.lock().unwrap().push(std::thread::current().id());
        let _ = session.try_send(frame);
    }
}

/// The host's loop for one connection: waits for readability, calls `read_ready`; stops watching
/// on `Stop` until the resume hook fires, ends on `Done`.
fn host_loop(mut reader: HostReader) {
    let (wake_tx, wake_rx) = std::sync::mpsc::channel::<()>();
    reader.set_resume_hook(Arc::new(move || {
        let _ = wake_tx.send(());
    }));
    HOST_THREADS.lock().unwrap().push(std::thread::current().id());
    loop {
        match reader.read_ready() {
            HostRead::Done => return,
            HostRead::Stop => {
                if wake_rx.recv_timeout(LIMIT).is_err() {
                    return;
                }
            }
            HostRead::Watch => {
                let mut pfd = libc::pollfd { fd: reader.fd(), events: libc::POLLIN, revents: 0 };
                // SAFETY: one valid pollfd; the reader keeps the descriptor open.
                unsafe { libc::poll(&mut pfd, 1, LIMIT.as_millis() as i32) };
            }
        }
    }
}

static HOST_THREADS: Mutex<Vec<ThreadId>> = Mutex::new(Vec::new());

fn host_config() -> ServerConfig {
    config_with(|c| c.host_read = true)
}

#[tokio::test]
async fn messages_reach_the_handler_on_the_hosts_thread_and_the_close_is_clean() {
    let echo = Arc::new(ThreadEcho::default());
    let server = start(host_config(), Handler::Events(echo.clone())).await;
    let mut client = connect(&server).await;
    for m in [Message::text("hi"), Message::binary(vec![7u8; 100_000]), Message::text("é".repeat(10_000))] {
        send(&mut client, m.clone()).await;
        assert_eq!(next(&mut client).await, Some(m));
    }
    within(client.close(Some(CloseFrame { code: 1000u16.into(), reason: "bye".into() }))).await.unwrap();
    assert!(matches!(next(&mut client).await, Some(Message::Close(_)) | None));
    eventually(|| server.sessions().is_empty()).await;
    let threads = echo.threads.lock().unwrap().clone();
    let hosts = HOST_THREADS.lock().unwrap().clone();
    assert!(!threads.is_empty() && threads.iter().all(|t| hosts.contains(t)), "on_message ran on the host's thread");
}

#[tokio::test]
async fn pings_are_answered_and_violations_close_with_their_code() {
    let server = start(host_config(), Handler::Events(Arc::new(ThreadEcho::default()))).await;
    let mut raw = Raw::connect(&server).await;
    raw.frame(9, true, b"are you there").await;
    assert_eq!(raw.read_frame().await, Some((0x8a, b"are you there".to_vec())));
    raw.write(&encode(1, true, b"\xff\xfe", Some(KEY))).await;
    assert_eq!(raw.read_close().await, Some(1007));
    assert!(raw.eof().await, "a failed connection is shut right after its Close");
}

#[tokio::test]
async fn pull_sessions_receive_in_order_through_a_full_queue() {
    let (server, mut sessions) = session_server(config_with(|c| {
        c.host_read = true;
        c.incoming_queue = 1;
    }))
    .await;
    let mut client = connect(&server).await;
    let session = next_session(&mut sessions).await;
    std::thread::spawn({
        let reader = session.take_host_reader().expect("a reader");
        move || host_loop(reader)
    });
    for i in 0..50 {
        send(&mut client, Message::text(i.to_string())).await;
    }
    for i in 0..50 {
        let frame = within(session.recv()).await.unwrap().expect("a message");
        assert_eq!(&frame.data[..], i.to_string().as_bytes());
    }
    within(client.close(None)).await.unwrap();
    assert!(within(session.recv()).await.unwrap().is_none(), "a clean end after the last message");
}

#[tokio::test]
async fn host_read_is_refused_with_tls_by_name() {
    let mut config = host_config();
    config.tls = Some(TlsConfig { cert_path: "cert.pem".into(), key_path: "key.pem".into() });
    let err = config.validate().unwrap_err();
    assert!(err.to_string().contains("host_read"), "{err}");
}
