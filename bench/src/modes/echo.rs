//! Echo mode: every connection keeps `pipeline` messages in flight for the whole window.

use super::{CpuMark, Outcome, Settings, new_histogram};
use crate::client::{self, Conn};
use crate::deflate::Inflater;
use crate::frame::{self, OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT};
use crate::payload::{self, FrameBatch};
use hdrhistogram::Histogram;
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::time::{Instant, sleep_until, timeout_at};

/// Per-connection tally, merged into the [`Outcome`].
struct Tally {
    messages: u64,
    hist: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
}

/// The measured window shared by all connections.
#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    deadline: Instant,
}

/// Runs echo mode to completion.
pub async fn run(s: &Settings) -> io::Result<Outcome> {
    let (conns, connect_errors) =
        client::connect_many(&s.target, s.deflate, s.connections, s.connect_concurrency).await;
    if conns.is_empty() {
        return Err(connect_errors.into_iter().next().unwrap_or_else(|| io::Error::other("no connections requested")));
    }
    let body = payload::make_payload(s.size);
    let plain = Arc::new(if s.target.raw {
        payload::raw_batch(&body, s.pipeline)
    } else {
        FrameBatch::new(&body, s.binary, false, s.pipeline)
    });
    let compressed = Arc::new(FrameBatch::new(&body, s.binary, true, s.pipeline));
    let window = Window { start: Instant::now() + s.warmup, deadline: Instant::now() + s.warmup + s.duration };
    let mut out = Outcome::new(s.duration);
    out.connections_ok = conns.len();
    if s.deflate {
        out.deflate_negotiated = Some(conns.iter().all(|c| c.deflate.is_some()));
    }
    for e in connect_errors {
        out.error(e);
    }
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|c| {
            let batch = if c.deflate.is_some() { compressed.clone() } else { plain.clone() };
            let (raw, size, depth) = (s.target.raw, s.size, s.pipeline);
            tokio::spawn(async move {
                let mut t = Tally { messages: 0, hist: new_histogram(), errors: 0, first_error: None };
                if let Err(e) = drive(c, &batch, raw, size, depth, window, &mut t).await {
                    t.errors += 1;
                    t.first_error = Some(e.to_string());
                }
                t
            })
        })
        .collect();
    sleep_until(window.start).await;
    let cpu0 = CpuMark::now(s.server_pid);
    sleep_until(window.deadline).await;
    let cpu1 = CpuMark::now(s.server_pid);
    cpu1.record_since(&cpu0, &mut out);
    for task in tasks {
        let t = task.await.map_err(io::Error::other)?;
        out.messages += t.messages;
        out.latency.add(&t.hist).map_err(io::Error::other)?;
        out.errors += t.errors;
        if out.first_error.is_none() {
            out.first_error = t.first_error;
        }
    }
    out.bytes = out.messages * s.size as u64;
    Ok(out)
}

/// One connection's send/receive loop until the deadline.
async fn drive(
    mut c: Conn,
    batch: &FrameBatch,
    raw: bool,
    size: usize,
    depth: usize,
    w: Window,
    t: &mut Tally,
) -> io::Result<()> {
    let mut sent: VecDeque<Instant> = VecDeque::with_capacity(depth);
    let mut buf = std::mem::take(&mut c.leftover);
    let mut rx = Receiver {
        inflater: c.deflate.map(|d| Inflater::new(d.server_no_context_takeover)),
        scratch: Vec::new(),
        msg_len: 0,
        msg_compressed: false,
        raw_pending: 0,
    };
    c.stream.send_all(batch.frames(depth)).await?;
    let now = Instant::now();
    sent.extend(std::iter::repeat_n(now, depth));
    let want = (size + 16).clamp(16 * 1024, 256 * 1024);
    loop {
        if buf.capacity() - buf.len() < want {
            buf.reserve(want);
        }
        let n = match timeout_at(w.deadline, c.stream.read_buf(&mut buf)).await {
            Err(_) => break,
            Ok(r) => r?,
        };
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection"));
        }
        let done = if raw { rx.raw(&mut buf, size) } else { rx.frames(&mut buf, size, t)? };
        let now = Instant::now();
        for _ in 0..done {
            let Some(t0) = sent.pop_front() else { break };
            if now >= w.start && now <= w.deadline {
                t.messages += 1;
                let _ = t.hist.record((now - t0).as_nanos() as u64);
            }
        }
        if now >= w.deadline {
            break;
        }
        if done > 0 {
            c.stream.send_all(batch.frames(done)).await?;
            sent.extend(std::iter::repeat_n(Instant::now(), done));
        }
    }
    if !raw {
        let _ = c.stream.send_all(&frame::close_frame()).await;
    }
    Ok(())
}

/// Incoming-side state of one connection.
struct Receiver {
    inflater: Option<Inflater>,
    scratch: Vec<u8>,
    msg_len: usize,
    msg_compressed: bool,
    raw_pending: usize,
}

impl Receiver {
    /// Raw TCP: one "message" per `size` bytes received.
    fn raw(&mut self, buf: &mut Vec<u8>, size: usize) -> usize {
        self.raw_pending += buf.len();
        buf.clear();
        let done = self.raw_pending / size.max(1);
        self.raw_pending %= size.max(1);
        done
    }

    /// Consumes whole frames from `buf`; returns how many messages completed.
    fn frames(&mut self, buf: &mut Vec<u8>, size: usize, t: &mut Tally) -> io::Result<usize> {
        let mut pos = 0;
        let mut done = 0;
        while let Some(h) = frame::parse_header(&buf[pos..]) {
            if buf.len() - pos < h.frame_len() {
                buf.reserve(h.frame_len());
                break;
            }
            let p = &buf[pos + h.header_len..pos + h.frame_len()];
            match h.opcode {
                OP_TEXT | OP_BINARY | OP_CONT => {
                    if h.opcode != OP_CONT {
                        self.msg_len = 0;
                        self.msg_compressed = h.rsv1;
                    }
                    match (&mut self.inflater, self.msg_compressed) {
                        (Some(inf), true) => inf.feed(p, &mut self.scratch)?,
                        (None, true) => return Err(bad("RSV1 set without deflate")),
                        _ => self.msg_len += p.len(),
                    }
                    if h.fin {
                        if let (Some(inf), true) = (&mut self.inflater, self.msg_compressed) {
                            inf.finish(&mut self.scratch)?;
                            self.msg_len = self.scratch.len();
                            self.scratch.clear();
                        }
                        if self.msg_len != size {
                            t.errors += 1;
                            t.first_error
                                .get_or_insert_with(|| format!("echo of {} bytes, expected {size}", self.msg_len));
                        }
                        done += 1;
                    }
                }
                OP_CLOSE => return Err(bad("server sent close")),
                // Pings and pongs: no server pings within a benchmark window.
                _ => {}
            }
            pos += h.frame_len();
        }
        buf.drain(..pos);
        Ok(done)
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}
