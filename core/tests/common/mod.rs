//! Shared helpers for the integration tests: servers on 127.0.0.1:0, a real client
//! (tokio-tungstenite), and a raw TCP client for malformed input.
#![allow(dead_code)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use wssession_core::{EventHandler, Frame, Handler, Server, ServerBuilder, ServerConfig, Session, SessionConfig};

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A bound on every wait in the tests, so a bug fails instead of hanging.
pub const LIMIT: Duration = Duration::from_secs(10);

pub async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(LIMIT, f).await.expect("test step did not finish in time")
}

/// Echoes every message with push callbacks.
pub struct Echo;

impl EventHandler for Echo {
    fn on_message(&self, session: &Session, frame: Frame) {
        let _ = session.try_send(frame);
    }
}

pub async fn start(config: ServerConfig, handler: Handler) -> Server {
    ServerBuilder::new(config).fallback(handler).start().await.expect("server starts")
}

pub async fn echo_server() -> Server {
    start(ServerConfig::default(), Handler::events(Echo)).await
}

pub fn url(server: &Server) -> String {
    format!("ws://{}/", server.local_addr())
}

pub async fn connect(server: &Server) -> Client {
    within(tokio_tungstenite::connect_async(url(server))).await.expect("client connects").0
}

/// The next data or close message the client sees (pings/pongs skipped).
pub async fn next(client: &mut Client) -> Option<Message> {
    loop {
        match within(client.next()).await {
            Some(Ok(Message::Ping(_))) | Some(Ok(Message::Pong(_))) => continue,
            Some(Ok(m)) => return Some(m),
            Some(Err(_)) | None => return None,
        }
    }
}

pub async fn send(client: &mut Client, m: Message) {
    within(client.send(m)).await.expect("client sends");
}

/// A raw client: performs the upgrade by hand, then speaks bytes.
pub struct Raw {
    pub tcp: TcpStream,
    pub buf: Vec<u8>,
}

pub const KEY: [u8; 4] = [0x11, 0x22, 0x33, 0x44];

/// One frame as it came off the wire.
#[derive(Debug)]
pub struct WireFrame {
    /// FIN, RSV bits and opcode.
    pub b0: u8,
    /// The mask key, when the frame was masked.
    pub mask: Option<[u8; 4]>,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

impl WireFrame {
    pub fn opcode(&self) -> u8 {
        self.b0 & 0x0f
    }
    pub fn fin(&self) -> bool {
        self.b0 & 0x80 != 0
    }
}

impl Raw {
    pub async fn connect(server: &Server) -> Raw {
        Self::connect_with(server, "").await
    }

    /// Upgrades with extra header lines (each ending in \r\n).
    pub async fn connect_with(server: &Server, extra_headers: &str) -> Raw {
        let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
        let req = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra_headers}\r\n"
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Raw { tcp, buf: vec![] };
        let head = raw.read_until(b"\r\n\r\n").await;
        assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
        raw
    }

    pub async fn read_until(&mut self, pat: &[u8]) -> Vec<u8> {
        loop {
            if let Some(i) = self.buf.windows(pat.len()).position(|w| w == pat) {
                return self.buf.drain(..i + pat.len()).collect();
            }
            let mut chunk = [0u8; 4096];
            let n = within(self.tcp.read(&mut chunk)).await.unwrap();
            assert!(n > 0, "connection closed while waiting");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub async fn write(&mut self, bytes: &[u8]) {
        within(self.tcp.write_all(bytes)).await.unwrap();
    }

    /// Sends one masked frame.
    pub async fn frame(&mut self, opcode: u8, fin: bool, payload: &[u8]) {
        self.write(&encode(opcode, fin, payload, Some(KEY))).await;
    }

    /// Reads one frame: (first byte, payload, unmasked); `None` at EOF.
    pub async fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        self.read_wire_frame().await.map(|f| (f.b0, f.payload))
    }

    /// Reads one frame with its mask key (payload unmasked); `None` at EOF.
    pub async fn read_wire_frame(&mut self) -> Option<WireFrame> {
        loop {
            if self.buf.len() >= 2 {
                let masked = self.buf[1] & 0x80 != 0;
                let (len, head) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4),
                    127 if self.buf.len() >= 10 => {
                        (u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize, 10)
                    }
                    126 | 127 => (usize::MAX, 0),
                    l => (l as usize, 2),
                };
                let head = head + if masked { 4 } else { 0 };
                if len != usize::MAX && self.buf.len() >= head + len {
                    let b0 = self.buf[0];
                    let mask = masked.then(|| <[u8; 4]>::try_from(&self.buf[head - 4..head]).unwrap());
                    let mut payload = self.buf[head..head + len].to_vec();
                    if let Some(k) = mask {
                        payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= k[i % 4]);
                    }
                    self.buf.drain(..head + len);
                    return Some(WireFrame { b0, mask, payload });
                }
            }
            let mut chunk = [0u8; 65536];
            let n = within(self.tcp.read(&mut chunk)).await.ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads frames until a Close; returns (code, reason), `None` for EOF; code `None` for an empty Close.
    pub async fn read_close_frame(&mut self) -> Option<(Option<u16>, String)> {
        while let Some((b0, payload)) = self.read_frame().await {
            if b0 & 0x0f == 8 {
                let code = (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or(&[])).into_owned();
                return Some((code, reason));
            }
        }
        None
    }

    /// Sends a masked Close with `code` and `reason`.
    pub async fn send_close(&mut self, code: u16, reason: &str) {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        self.frame(0x8, true, &payload).await;
    }

    /// Reads frames until a Close; returns its code (None for an empty Close or EOF).
    pub async fn read_close(&mut self) -> Option<u16> {
        while let Some((b0, payload)) = self.read_frame().await {
            if b0 & 0x0f == 8 {
                return (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
            }
        }
        None
    }

    /// Whether the server closes the TCP connection (EOF) within the test limit.
    pub async fn eof(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match within(self.tcp.read(&mut chunk)).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    }
}

pub fn encode(opcode: u8, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![opcode | if fin { 0x80 } else { 0 }];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n < 65536 => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// How a session ended without the Close frames that crossed the wire (close_frames.rs checks those).
pub fn ended(r: wssession_core::CloseReason) -> wssession_core::CloseReason {
    wssession_core::CloseReason { sent: None, received: None, ..r }
}

/// Sends a raw HTTP request and returns the status code of the response.
pub async fn http_status(server: &Server, request: &[u8]) -> u16 {
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut out = vec![];
    within(tcp.read_to_end(&mut out)).await.ok();
    let text = String::from_utf8_lossy(&out);
    text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// A server config whose session settings are adjusted by `f`.
pub fn config_with(f: impl FnOnce(&mut SessionConfig)) -> ServerConfig {
    let mut c = ServerConfig::default();
    f(&mut c.session);
    c
}

/// A server whose pull-style handler hands each session to the test and returns once it has ended.
pub async fn session_server(config: ServerConfig) -> (Server, mpsc::UnboundedReceiver<Session>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handler = Handler::task(move |s: Session| {
        let _ = tx.send(s.clone());
        async move {
            s.close_reason().await;
            Ok(())
        }
    });
    (start(config, handler).await, rx)
}

/// The next session the server accepted.
pub async fn next_session(rx: &mut mpsc::UnboundedReceiver<Session>) -> Session {
    within(rx.recv()).await.expect("server accepted a session")
}

/// Polls `cond` until it holds, failing the test after the limit.
pub async fn eventually(mut cond: impl FnMut() -> bool) {
    within(async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
}

/// Sends a raw HTTP request; returns (status, response head and body as text, whether the server closed).
pub async fn http_exchange(server: &Server, request: &[u8]) -> (u16, String) {
    let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
    let _ = tcp.write_all(request).await;
    let mut out = vec![];
    // read_to_end finishing means the server closed the socket.
    let _ = within(tcp.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// Whether a real client can still connect and echo through `server` (which must echo).
pub async fn still_serves(server: &Server) -> bool {
    let mut c = connect(server).await;
    send(&mut c, Message::text("still there?")).await;
    next(&mut c).await == Some(Message::text("still there?"))
}

/// Whether nothing accepts TCP connections on `addr` any more. A connect to a port nobody listens
/// on can reach itself (TCP simultaneous open, when the kernel picks the same port as the source),
/// so such a self-connection counts as refused too.
pub async fn refuses_connections(addr: std::net::SocketAddr) -> bool {
    match tokio::net::TcpStream::connect(addr).await {
        Err(_) => true,
        Ok(s) => s.local_addr().ok() == s.peer_addr().ok(),
    }
}

/// Writes `count` masked Binary messages of `size` bytes, each starting with its number (u32, big
/// endian), from a task that returns the socket when done.
pub fn numbered_messages(mut tcp: TcpStream, count: usize, size: usize) -> tokio::task::JoinHandle<TcpStream> {
    tokio::spawn(async move {
        let mut payload = vec![0u8; size];
        for i in 0..count {
            payload[..4].copy_from_slice(&(i as u32).to_be_bytes());
            tcp.write_all(&encode(0x2, true, &payload, Some(KEY))).await.unwrap();
        }
        tcp
    })
}
