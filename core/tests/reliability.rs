//! Hostile peers, faults and connection load against a real server on 127.0.0.1 (issue 8).
//! Every wait is bounded; every loop is bounded in count. The server runs in this process, so
//! RSS read from /proc/self/status covers the server (and the test's own clients).
//! `RELIABILITY_CONNS` (default 200) and `RELIABILITY_CYCLES` (default 500) size the load tests;
//! `make test-reliability` runs 2,000 / 5,000, RELIABILITY.md records 10,000 / 100,000.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use futures_util::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wssession_core::session::MAX_QUEUED_REPLIES;
use wssession_core::{
    CloseReason, DeflateConfig, EventHandler, Frame, Handler, Initiator, Server, ServerConfig, Session, SessionConfig,
    TrySend,
};

/// Resident set size of this process in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status is readable");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS is present")
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Raises RLIMIT_NOFILE as far as allowed; returns the soft limit in force.
fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read/write the rlimit struct we pass by valid pointer.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        if lim.rlim_max < want {
            let raised = libc::rlimit { rlim_cur: want, rlim_max: want };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return want;
            }
        }
        lim.rlim_cur = lim.rlim_max.min(want.max(lim.rlim_cur));
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// Polls `cond` every 10 ms until it holds or `LIMIT` passes.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LIMIT * 3;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Echoes and records every close callback per session id.
#[derive(Clone, Default)]
struct Tracker {
    closes: Arc<Mutex<HashMap<u64, (u32, CloseReason)>>>,
    opened: Arc<AtomicUsize>,
}

impl EventHandler for Tracker {
    fn on_open(&self, _: &Session) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }
    fn on_message(&self, session: &Session, frame: Frame) {
        let _ = session.try_send(frame);
    }
    fn on_close(&self, session: &Session, reason: &CloseReason) {
        let mut map = self.closes.lock().unwrap();
        let e = map.entry(session.id()).or_insert((0, reason.clone()));
        e.0 += 1;
    }
}

impl Tracker {
    fn closed(&self) -> usize {
        self.closes.lock().unwrap().len()
    }
    fn assert_each_closed_once(&self, expected: usize) {
        let map = self.closes.lock().unwrap();
        assert_eq!(map.len(), expected, "every session reports its close");
        assert!(map.values().all(|(n, _)| *n == 1), "a close callback fired more than once");
    }
}

async fn tracked_server(config: ServerConfig) -> (Server, Tracker) {
    let t = Tracker::default();
    (start(config, Handler::events(t.clone())).await, t)
}

/// The one session a test server holds, once it is registered.
async fn only_session(server: &Server) -> Session {
    eventually("the session is registered", || server.session_count() == 1).await;
    server.sessions().pop().unwrap()
}

async fn close_reason(s: &Session) -> CloseReason {
    within(s.close_reason()).await
}

/// A well-behaved client is still served.
async fn good_client_is_served(server: &Server) {
    let mut c = Raw::connect(server).await;
    c.frame(1, true, b"still serving").await;
    let (b0, payload) = c.read_frame().await.expect("echo arrives");
    assert_eq!((b0, payload.as_slice()), (0x81, &b"still serving"[..]));
    c.frame(8, true, &1000u16.to_be_bytes()).await;
    assert_eq!(c.read_close().await, Some(1000));
}

// ---------------------------------------------------------------- handshake attacks

#[tokio::test]
async fn slowloris_handshakes_are_dropped_at_the_handshake_timeout_while_a_good_client_is_served() {
    let config = ServerConfig { handshake_timeout: Duration::from_millis(400), ..ServerConfig::default() };
    let (server, _) = tracked_server(config).await;
    let rss0 = rss_kib();
    // 200 idle half-heads and 5 tricklers writing one byte every 50 ms.
    let mut idle = vec![];
    for _ in 0..200 {
        let mut t = TcpStream::connect(server.local_addr()).await.unwrap();
        t.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        idle.push(t);
    }
    let tricklers: Vec<_> = (0..5)
        .map(|_| {
            let addr = server.local_addr();
            tokio::spawn(async move {
                let mut t = TcpStream::connect(addr).await.unwrap();
                let head = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
                for &b in head.iter() {
                    // Pacing the attack, not synchronising: the server must cut us off meanwhile.
                    if t.write_all(&[b]).await.is_err() {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                false
            })
        })
        .collect();
    good_client_is_served(&server).await;
    for mut t in idle {
        let mut out = vec![];
        within(t.read_to_end(&mut out)).await.ok();
        assert!(out.is_empty() || out.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&out));
    }
    for t in tricklers {
        assert!(within(t).await.unwrap(), "a trickling client was cut off before finishing its head");
    }
    eventually("handshaking connections are released", || server.connection_count() == 0).await;
    assert!(rss_kib() < rss0 + 64 * 1024, "RSS grew by more than 64 MiB");
    good_client_is_served(&server).await;
}

#[tokio::test]
async fn malformed_handshakes_get_the_right_4xx_and_the_server_keeps_serving() {
    let (server, _) = tracked_server(ServerConfig::default()).await;
    let good = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let oversize = format!("{good}X-Big: {}\r\n\r\n", "a".repeat(20_000));
    let mut many = good.to_string();
    for i in 0..10_000 {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let cases: Vec<(&str, String, u16)> = vec![
        ("oversize head", oversize, 431),
        ("10,000 headers", many, 431),
        ("invalid key", format!("{}\r\n", good.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=")), 400),
        ("not base64 key", format!("{}\r\n", good.replace("dGhlIHNhbXBsZSBub25jZQ==", "!!!not-base64!!!")), 400),
        ("HTTP/1.0", format!("{}\r\n", good.replace("HTTP/1.1", "HTTP/1.0")), 400),
        ("POST", format!("{}\r\n", good.replace("GET", "POST")), 400),
        ("version 8", format!("{}\r\n", good.replace("Version: 13", "Version: 8")), 426),
        ("binary garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\x7f\x03\x03\r\n\r\n".to_string(), 400),
    ];
    for (name, request, status) in cases {
        assert_eq!(http_status(&server, request.as_bytes()).await, status, "{name}");
    }
    eventually("rejected connections are released", || server.connection_count() == 0).await;
    good_client_is_served(&server).await;
}

// ---------------------------------------------------------------- hostile sessions

#[tokio::test]
async fn a_peer_that_never_reads_makes_send_wait_and_try_send_report_with_bounded_memory() {
    let session_cfg = SessionConfig {
        write_high_water: 256 << 10,
        write_low_water: 64 << 10,
        write_hard_limit: 512 << 10,
        ..SessionConfig::default()
    };
    let (server, _) = tracked_server(ServerConfig { session: session_cfg, ..ServerConfig::default() }).await;
    let c = Raw::connect(&server).await;
    let s = only_session(&server).await;
    let rss0 = rss_kib();
    let chunk = Frame::binary(vec![7u8; 16 << 10]);
    // The kernel's socket buffers absorb a few MB first; each send under the high-water mark completes
    // at once (at most 64 MB), then the queue is over it and the next send must wait.
    for _ in 0..4096 {
        if s.buffered_amount() > 256 << 10 {
            break;
        }
        within(s.send(chunk.clone())).await.unwrap();
    }
    assert!(s.buffered_amount() > 256 << 10, "the queue went over its high-water mark");
    let mut waiting = Box::pin(s.send(chunk.clone()));
    assert!(waiting.as_mut().now_or_never().is_none(), "send waits while the peer does not read");
    drop(waiting);
    let (mut buffered, mut dropped) = (0, 0);
    for _ in 0..1000 {
        match s.try_send(chunk.clone()).unwrap() {
            TrySend::Sent => {}
            TrySend::Buffered => buffered += 1,
            TrySend::Dropped => dropped += 1,
        }
    }
    assert!(buffered > 0 && dropped > 0, "try_send reports buffered ({buffered}) and dropped ({dropped})");
    assert!(s.buffered_amount() <= (512 << 10) + (16 << 10), "buffered {}", s.buffered_amount());
    assert!(rss_kib() < rss0 + 64 * 1024, "RSS bounded while the peer does not read");
    drop(c);
    let r = close_reason(&s).await;
    assert_eq!((r.code, r.initiator), (1006, Initiator::Abnormal));
    good_client_is_served(&server).await;
}

#[tokio::test]
async fn a_ping_flood_from_a_peer_that_never_reads_keeps_the_pong_queue_bounded() {
    let session_cfg = SessionConfig {
        write_high_water: 128 << 10,
        write_low_water: 32 << 10,
        write_hard_limit: 256 << 10,
        ..SessionConfig::default()
    };
    let (server, _) = tracked_server(ServerConfig { session: session_cfg, ..ServerConfig::default() }).await;
    let c = Raw::connect(&server).await;
    let s = only_session(&server).await;
    let ping = encode(9, true, &[b'p'; 125], Some(KEY));
    let burst: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * 1000).collect();
    let rss0 = rss_kib();
    // Up to 500,000 pings (65 MB, far beyond what socket buffers absorb); the server stops
    // reading once its pong queue is full.
    let mut tcp = c.tcp;
    let flood = tokio::spawn(async move {
        for _ in 0..500 {
            tcp.write_all(&burst).await?;
        }
        Ok::<_, std::io::Error>(tcp)
    });
    // The pongs fill their own bound (the peer reads none); the server then stops reading, so the
    // flood cannot have finished, and the queue stays within that bound (under the write limits).
    eventually("the pong queue fills up", || s.buffered_amount() >= MAX_QUEUED_REPLIES / 2).await;
    assert!(!flood.is_finished(), "backpressure stops the flood before 500,000 pings are written");
    assert!(s.buffered_amount() <= MAX_QUEUED_REPLIES, "pong queue {} over its bound", s.buffered_amount());
    assert!(rss_kib() < rss0 + 64 * 1024, "RSS bounded under a ping flood");
    flood.abort();
    let _ = flood.await;
    assert_eq!(close_reason(&s).await.code, 1006);
    good_client_is_served(&server).await;
}

#[tokio::test]
async fn sixty_five_thousand_one_byte_fragments_are_reassembled_into_one_message() {
    let (server, _) = tracked_server(ServerConfig::default()).await;
    let mut c = Raw::connect(&server).await;
    let mut wire = Vec::with_capacity(65_536 * 7);
    for i in 0..65_536u32 {
        let opcode = if i == 0 { 1 } else { 0 };
        wire.extend(encode(opcode, i == 65_535, b"x", Some(KEY)));
    }
    c.write(&wire).await;
    let (b0, payload) = c.read_frame().await.expect("the reassembled message is echoed");
    assert_eq!((b0, payload.len()), (0x81, 65_536));
    assert!(payload.iter().all(|&b| b == b'x'));
}

#[tokio::test]
async fn a_one_gib_declared_frame_length_is_refused_with_1009_before_any_body() {
    let (server, _) = tracked_server(ServerConfig::default()).await;
    let mut c = Raw::connect(&server).await;
    let s = only_session(&server).await;
    let mut head = vec![0x82, 0xFF];
    head.extend_from_slice(&(1u64 << 30).to_be_bytes());
    head.extend_from_slice(&KEY);
    c.write(&head).await;
    assert_eq!(c.read_close().await, Some(1009));
    // The server discards the declared body until our Close; we leave instead of sending 1 GiB.
    drop(c);
    let r = close_reason(&s).await;
    assert_eq!((r.code, r.initiator), (1009, Initiator::Local));
}

#[tokio::test]
async fn a_compression_bomb_is_stopped_with_1009() {
    let config = ServerConfig {
        deflate: DeflateConfig::enabled(),
        session: SessionConfig { max_frame_size: 1 << 20, ..SessionConfig::default() },
        ..ServerConfig::default()
    };
    let (server, _) = tracked_server(config).await;
    let mut c = Raw::connect_with(&server, "Sec-WebSocket-Extensions: permessage-deflate\r\n").await;
    let s = only_session(&server).await;
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&vec![0u8; 64 << 20]).unwrap();
    let bomb = z.finish().unwrap();
    assert!(bomb.len() < 128 << 10, "64 MiB of zeros compress to {} bytes", bomb.len());
    let rss0 = rss_kib();
    let mut frame = encode(2, true, &bomb, Some(KEY));
    frame[0] |= 0x40; // RSV1: compressed
    c.write(&frame).await;
    assert_eq!(c.read_close().await, Some(1009));
    c.frame(8, true, &1009u16.to_be_bytes()).await;
    assert_eq!(close_reason(&s).await.code, 1009);
    assert!(rss_kib() < rss0 + 32 * 1024, "the bomb did not inflate past the limit");
}

#[tokio::test]
async fn invalid_utf8_split_across_fragments_is_refused_with_1007() {
    let (server, _) = tracked_server(ServerConfig::default()).await;
    let mut c = Raw::connect(&server).await;
    let s = only_session(&server).await;
    // "€" is E2 82 AC; E2 82 followed by '(' is invalid, split across two fragments.
    c.frame(1, false, b"ok \xe2").await;
    c.frame(0, false, b"\x82").await;
    c.frame(0, true, b"(").await;
    assert_eq!(c.read_close().await, Some(1007));
    c.frame(8, true, &1007u16.to_be_bytes()).await;
    let r = close_reason(&s).await;
    assert_eq!((r.code, r.initiator), (1007, Initiator::Local));
}

#[tokio::test]
async fn a_peer_that_resets_mid_frame_ends_the_session_as_1006_abnormal() {
    let (server, tracker) = tracked_server(ServerConfig::default()).await;
    let mut c = Raw::connect(&server).await;
    let s = only_session(&server).await;
    let frame = encode(2, true, &[1u8; 1000], Some(KEY));
    c.write(&frame[..500]).await;
    c.tcp.set_zero_linger().unwrap();
    drop(c); // RST
    let r = close_reason(&s).await;
    assert_eq!((r.code, r.initiator), (1006, Initiator::Abnormal));
    eventually("the session is forgotten", || server.session_count() == 0).await;
    eventually("the close callback fired", || tracker.closed() == 1).await;
    tracker.assert_each_closed_once(1);
}

#[tokio::test]
async fn a_peer_that_half_closes_without_a_close_frame_ends_the_session_as_1006_abnormal() {
    let (server, _) = tracked_server(ServerConfig::default()).await;
    let mut c = Raw::connect(&server).await;
    let s = only_session(&server).await;
    c.frame(1, true, b"last words").await;
    c.tcp.shutdown().await.unwrap(); // FIN, no Close
    let r = close_reason(&s).await;
    assert_eq!((r.code, r.initiator), (1006, Initiator::Abnormal));
    assert!(c.eof().await, "the server shuts its side too");
}

#[tokio::test]
async fn a_peer_that_never_answers_close_is_cut_off_at_the_close_timeout() {
    let session_cfg = SessionConfig { close_timeout_ms: 300, ..SessionConfig::default() };
    let (server, _) = tracked_server(ServerConfig { session: session_cfg, ..ServerConfig::default() }).await;
    let mut c = Raw::connect(&server).await;
    let s = only_session(&server).await;
    s.close(4000, "bye").unwrap();
    assert_eq!(c.read_close().await, Some(4000));
    // We never answer; the server must shut the socket by itself.
    assert!(c.eof().await, "the socket is shut after the close timeout");
    let r = close_reason(&s).await;
    assert_eq!((r.code, r.reason.as_str(), r.initiator), (4000, "bye", Initiator::Local));
}

#[tokio::test]
async fn a_peer_that_never_answers_pings_is_closed_with_1011_ping_timeout() {
    let session_cfg =
        SessionConfig { ping_interval_ms: 100, timeout_ms: 200, close_timeout_ms: 300, ..SessionConfig::default() };
    let (server, _) = tracked_server(ServerConfig { session: session_cfg, ..ServerConfig::default() }).await;
    let mut c = Raw::connect(&server).await;
    let s = only_session(&server).await;
    let mut pings = 0;
    let code = loop {
        match c.read_frame().await {
            Some((b0, _)) if b0 & 0x0f == 9 => pings += 1,
            Some((b0, p)) if b0 & 0x0f == 8 => break u16::from_be_bytes([p[0], p[1]]),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(pings >= 1);
    assert_eq!(code, 1011);
    let r = close_reason(&s).await;
    assert_eq!((r.code, r.reason.as_str(), r.initiator), (1011, "ping timeout", Initiator::Local));
}

// ---------------------------------------------------------------- connection load

/// The client side of the concurrent-load test, run in a child process (its own fd limit) by
/// re-executing this test binary: opens `RELIABILITY_CLIENT_N` connections to
/// `RELIABILITY_CLIENT_ADDR`, echoes 3 messages on each at once, prints READY, waits for a line on
/// stdin, closes every connection with 1000 and prints DONE. Does nothing without those variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child-process half of the concurrent-load test"]
async fn load_client_process() {
    let (Ok(addr), Some(n)) = (std::env::var("RELIABILITY_CLIENT_ADDR"), std::env::var("RELIABILITY_CLIENT_N").ok())
    else {
        return;
    };
    let n: usize = n.parse().unwrap();
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    raise_nofile(n as u64 + 1024);
    let mut clients = Vec::with_capacity(n);
    for batch in 0..n.div_ceil(250) {
        let count = 250.min(n - batch * 250);
        let connects: Vec<_> = (0..count).map(|_| tokio::spawn(async move { raw_connect_addr(addr).await })).collect();
        for c in connects {
            clients.push(within(c).await.unwrap());
        }
    }
    let round: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            tokio::spawn(async move {
                for k in 0..3 {
                    let msg = format!("conn {i} msg {k}");
                    c.frame(1, true, msg.as_bytes()).await;
                    let (_, echoed) = c.read_frame().await.expect("echo");
                    assert_eq!(echoed, msg.as_bytes());
                }
                c
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(n);
    for r in round {
        clients.push(within(r).await.unwrap());
    }
    println!("READY {n}");
    let mut line = String::new();
    tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut line)).await.unwrap().unwrap();
    let closes: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                c.frame(8, true, &1000u16.to_be_bytes()).await;
                assert_eq!(c.read_close().await, Some(1000));
            })
        })
        .collect();
    for c in closes {
        within(c).await.unwrap();
    }
    println!("DONE {n}");
}

/// As `Raw::connect`, against a server known only by its address (it runs in another process).
async fn raw_connect_addr(addr: std::net::SocketAddr) -> Raw {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut raw = Raw { tcp, buf: vec![] };
    let head = raw.read_until(b"\r\n\r\n").await;
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    raw
}

/// Kills the child process if the test fails before it exits.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (bounded) for the child to print a line starting with `word`.
async fn expect_line(lines: &mut tokio::sync::mpsc::Receiver<String>, word: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    loop {
        let line = tokio::time::timeout_at(deadline, lines.recv()).await;
        match line {
            Ok(Some(l)) if l.contains(word) => return,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the client process exited before printing {word}"),
            Err(_) => panic!("the client process did not print {word} in time"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_connections_with_messages_flowing_all_close_cleanly_with_no_leak() {
    use std::io::BufRead;
    let n = env_usize("RELIABILITY_CONNS", 200);
    let limit = raise_nofile(n as u64 + 1024);
    let n = n.min(limit.saturating_sub(512) as usize);
    let config = ServerConfig { backlog: 4096, ..ServerConfig::default() };
    let (server, tracker) = tracked_server(config).await;
    let rss0 = rss_kib();
    let mut child = ChildGuard(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "load_client_process", "--ignored", "--nocapture", "--test-threads=1"])
            .env("RELIABILITY_CLIENT_ADDR", server.local_addr().to_string())
            .env("RELIABILITY_CLIENT_N", n.to_string())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the client process starts"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, mut lines) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    expect_line(&mut lines, "READY").await;
    assert_eq!(server.session_count(), n, "every connection is an open session");
    assert_eq!(tracker.opened.load(Ordering::Relaxed), n);
    let rss_held = rss_kib();
    child.0.stdin.as_mut().unwrap().write_all(b"close\n").unwrap();
    expect_line(&mut lines, "DONE").await;
    eventually("the session count returns to 0", || server.session_count() == 0).await;
    eventually("every close callback fired", || tracker.closed() == n).await;
    tracker.assert_each_closed_once(n);
    assert!(tracker.closes.lock().unwrap().values().all(|(_, r)| r.code == 1000 && r.initiator == Initiator::Remote));
    eventually("connection slots are released", || server.connection_count() == 0).await;
    let status = within(tokio::task::spawn_blocking(move || child.0.wait())).await.unwrap().unwrap();
    assert!(status.success(), "the client process failed: {status}");
    let rss_end = rss_kib();
    let per_conn = (rss_held.saturating_sub(rss0)) as f64 / n as f64;
    eprintln!(
        "FIGURE concurrent: {n} connections held (server nofile {limit}, clients in a child process); server RSS \
         start {rss0} KiB, held {rss_held} KiB ({per_conn:.1} KiB per connection), after close {rss_end} KiB"
    );
    assert!(rss_end < rss_held.max(rss0) + 16 * 1024, "RSS keeps growing after every connection closed");
    good_client_is_served(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sequential_connect_handshake_close_cycles_leak_no_session_and_no_memory() {
    let m = env_usize("RELIABILITY_CYCLES", 500);
    let (server, tracker) = tracked_server(ServerConfig::default()).await;
    // Warm up allocator and runtime before taking the baseline.
    for _ in 0..50 {
        let mut c = Raw::connect(&server).await;
        c.frame(8, true, &1000u16.to_be_bytes()).await;
        c.read_close().await;
    }
    eventually("warm-up sessions closed", || tracker.closed() == 50).await;
    let rss0 = rss_kib();
    let started = std::time::Instant::now();
    for i in 0..m {
        let mut c = Raw::connect(&server).await;
        c.frame(1, true, b"hi").await;
        assert!(c.read_frame().await.is_some());
        c.frame(8, true, &1000u16.to_be_bytes()).await;
        assert_eq!(c.read_close().await, Some(1000), "cycle {i}");
    }
    let elapsed = started.elapsed();
    eventually("the session count returns to 0", || server.session_count() == 0).await;
    eventually("every close callback fired", || tracker.closed() == m + 50).await;
    tracker.assert_each_closed_once(m + 50);
    eventually("connection slots are released", || server.connection_count() == 0).await;
    let rss_end = rss_kib();
    eprintln!(
        "FIGURE cycles: {m} sequential connect/handshake/message/close cycles in {:.1} s; RSS {rss0} KiB -> {rss_end} KiB",
        elapsed.as_secs_f64()
    );
    assert!(rss_end < rss0 + 16 * 1024, "RSS grew by {} KiB over {m} cycles", rss_end.saturating_sub(rss0));
}

// ---------------------------------------------------------------- origin and TLS

#[tokio::test]
async fn an_untrusted_origin_is_refused_by_the_accept_hook_with_403() {
    use wssession_core::{Accept, Decision, HttpResponse, ServerBuilder};
    let server = ServerBuilder::new(ServerConfig::default())
        .fallback(Handler::events(Tracker::default()))
        .accept_hook(|req| async move {
            match req.origin() {
                None | Some("https://good.example") => Decision::Accept(Accept::default()),
                Some(_) => Decision::Respond(HttpResponse::text(403, "origin not allowed")),
            }
        })
        .start()
        .await
        .unwrap();
    let head = |origin: &str| {
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nOrigin: {origin}\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
    };
    assert_eq!(http_status(&server, head("https://evil.example").as_bytes()).await, 403);
    let mut ok = Raw::connect_with(&server, "Origin: https://good.example\r\n").await;
    ok.frame(1, true, b"hi").await;
    assert_eq!(ok.read_frame().await.map(|f| f.1), Some(b"hi".to_vec()));
}

/// A self-signed certificate for localhost/127.0.0.1 made with the openssl CLI: (dir, cert, key).
fn self_signed(tag: &str) -> (std::path::PathBuf, String, String) {
    let dir = std::env::temp_dir().join(format!("wssession-tls-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the openssl CLI is installed (Debian: apt-get install openssl)");
    assert!(status.success(), "openssl made a certificate");
    (dir, cert.to_string_lossy().into_owned(), key.to_string_lossy().into_owned())
}

fn tls_client(trusted_cert: Option<&str>) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = trusted_cert {
        for c in CertificateDer::pem_file_iter(path).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn tls_with_a_valid_certificate_serves_wss_and_an_untrusting_client_is_refused() {
    use wssession_core::TlsConfig;
    let (dir, cert, key) = self_signed("valid");
    let config =
        ServerConfig { tls: Some(TlsConfig { cert_path: cert.clone(), key_path: key }), ..ServerConfig::default() };
    let (server, _) = tracked_server(config).await;
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();

    // A client that does not trust the certificate fails the TLS handshake; the server keeps going.
    let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    assert!(within(tls_client(None).connect(name.clone(), tcp)).await.is_err(), "untrusted certificate refused");

    let tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut tls = within(tls_client(Some(&cert)).connect(name, tcp)).await.expect("TLS handshake");
    tls.write_all(
        b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    tls.write_all(&encode(1, true, b"over tls", Some(KEY))).await.unwrap();
    let mut got = vec![];
    let mut chunk = [0u8; 1024];
    while !got.windows(8).any(|w| w == b"over tls") {
        let n = within(tls.read(&mut chunk)).await.unwrap();
        assert!(n > 0, "EOF before the echo: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 101"));
    let s = only_session(&server).await;
    assert!(s.request().tls);
    drop(tls);
    assert_eq!(close_reason(&s).await.code, 1006);
    eventually("connections released", || server.connection_count() == 0).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn tls_with_an_invalid_certificate_or_key_fails_to_start_with_a_clear_error() {
    use wssession_core::{ServerBuilder, TlsConfig};
    let (dir, cert, key) = self_signed("invalid");
    let (_, _, other_key) = self_signed("other");
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let garbage = garbage.to_string_lossy().into_owned();
    let cases = [
        (garbage.clone(), key.clone(), "certificate"),
        ("/nonexistent/cert.pem".to_string(), key.clone(), "certificate"),
        (cert.clone(), garbage, "key"),
        (cert, other_key, "do not match"),
    ];
    for (cert_path, key_path, expected) in cases {
        let config = ServerConfig { tls: Some(TlsConfig { cert_path, key_path }), ..ServerConfig::default() };
        let err = ServerBuilder::new(config).fallback(Handler::events(Tracker::default())).start().await.unwrap_err();
        assert!(err.to_string().contains(expected), "{expected:?} not in {err}");
    }
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("wssession-tls-{}-other", std::process::id())));
}
