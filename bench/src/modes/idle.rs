//! Idle mode: open N connections, hold them, sample the server's RSS, then prove each
//! connection is alive with one echo.

use super::{IdleRss, Outcome, Settings};
use crate::client::{self, Conn};
use crate::frame::{self, OP_CLOSE};
use crate::payload::{self, FrameBatch};
use crate::procfs;
use std::io;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::time::{Instant, sleep, timeout};

/// Time for the server to finish per-connection setup before RSS is sampled.
const SETTLE: Duration = Duration::from_millis(500);

/// Runs idle mode to completion.
pub async fn run(s: &Settings) -> io::Result<Outcome> {
    let rss = |pid: Option<u32>| pid.and_then(|p| procfs::rss_kib(p).ok());
    let before = rss(s.server_pid);
    let opened = Instant::now();
    let (mut conns, connect_errors) =
        client::connect_many(&s.target, s.deflate, s.connections, s.connect_concurrency).await;
    let open_time = opened.elapsed();
    let mut out = Outcome::new(s.duration);
    out.connections_ok = conns.len();
    for e in connect_errors {
        out.error(e);
    }
    sleep(SETTLE).await;
    let after_open = rss(s.server_pid);
    sleep(s.duration).await;

    let body = payload::make_payload(s.size);
    let batch = if s.target.raw { payload::raw_batch(&body, 1) } else { FrameBatch::new(&body, s.binary, false, 1) };
    let echo_started = Instant::now();
    for chunk in conns.chunks_mut(s.connect_concurrency.max(1)) {
        let results = futures_util::future::join_all(
            chunk.iter_mut().map(|c| timeout(Duration::from_secs(10), echo_once(c, &batch, s.target.raw))),
        )
        .await;
        for r in results {
            match r {
                Ok(Ok(())) => {
                    out.messages += 1;
                    out.bytes += s.size as u64;
                }
                Ok(Err(e)) => out.error(e),
                Err(_) => out.error("echo timed out"),
            }
        }
    }
    let _ = out.latency.record(open_time.as_nanos() as u64);
    out.elapsed = echo_started.elapsed();
    let after_echo = rss(s.server_pid);
    if let (Some(b), Some(o), Some(e)) = (before, after_open, after_echo) {
        out.rss = Some(IdleRss { before: b, after_open: o, after_echo: e });
    }
    if !s.target.raw {
        let close = frame::close_frame();
        for c in conns.iter_mut() {
            let _ = c.stream.send_all(&close).await;
        }
    }
    Ok(out)
}

/// Sends one message (plain, even if deflate was negotiated) and reads one message back.
async fn echo_once(c: &mut Conn, batch: &FrameBatch, raw: bool) -> io::Result<()> {
    c.stream.send_all(batch.frames(1)).await?;
    let mut buf = std::mem::take(&mut c.leftover);
    loop {
        if raw && buf.len() >= batch.frame_len {
            return Ok(());
        }
        if let Some(h) = frame::parse_header(&buf).filter(|_| !raw) {
            if h.opcode == OP_CLOSE {
                return Err(io::Error::other("server sent close"));
            }
            if buf.len() >= h.frame_len() && h.fin {
                return Ok(());
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(batch.frame_len.max(4096));
        }
        if c.stream.read_buf(&mut buf).await? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed an idle connection"));
        }
    }
}
