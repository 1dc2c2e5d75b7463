//! Fan-out mode: `connections` subscribers spread over `topics` topics (`/sub/t<k>`), one
//! publisher (`/pub`) sending `size`-byte messages that start with their topic name (`t<k> …`).
//! Counts deliveries: as fast as the server goes (at most `window` publishes in flight per
//! subscriber), or at a fixed `rate` of publishes per second.

use super::{CpuMark, Outcome, Settings};
use crate::client::{self, Conn};
use crate::frame::{self, OP_BINARY, OP_CLOSE, OP_TEXT};
use crate::target::Target;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until, timeout, timeout_at};

/// Fan-out shape, beyond the common settings.
#[derive(Clone, Copy, Debug)]
pub struct Fanout {
    /// Topics the subscribers are spread over (round-robin).
    pub topics: usize,
    /// Publishes per second; 0 = as fast as the server delivers.
    pub rate: f64,
    /// Publishes in flight (sent, not yet delivered to every subscriber) at full rate.
    pub window: usize,
}

/// What subscribers and publisher share.
struct Shared {
    delivered: AtomicU64,
    errors: AtomicU64,
    progress: Notify,
}

/// Runs fan-out mode to completion.
pub async fn run(s: &Settings, f: Fanout) -> io::Result<Outcome> {
    let topics = f.topics.max(1);
    let base = s.target.path.trim_end_matches('/').to_owned();
    let at = |path: String| Target { path, ..s.target.clone() };
    let mut subscribers = Vec::with_capacity(s.connections);
    let mut per_topic = vec![0u64; topics];
    let mut out = Outcome::new(s.duration);
    let deflate = s.deflate;
    for group in (0..s.connections).collect::<Vec<_>>().chunks(s.connect_concurrency.max(1)) {
        let mut set = tokio::task::JoinSet::new();
        for &i in group {
            let t = at(format!("{base}/sub/t{}", i % topics));
            set.spawn(async move { (i % topics, client::connect(&t, deflate).await) });
        }
        while let Some(r) = set.join_next().await {
            match r.map_err(io::Error::other)? {
                (k, Ok(c)) => {
                    per_topic[k] += 1;
                    subscribers.push(c);
                }
                (_, Err(e)) => out.error(e),
            }
        }
    }
    let publisher = client::connect(&at(format!("{base}/pub")), false).await?;
    out.connections_ok = subscribers.len();
    if s.deflate {
        out.deflate_negotiated = Some(subscribers.iter().all(|c| c.deflate.is_some()));
    }
    let shared = Arc::new(Shared { delivered: AtomicU64::new(0), errors: AtomicU64::new(0), progress: Notify::new() });
    let readers: Vec<_> = subscribers
        .into_iter()
        .map(|c| {
            let (shared, size) = (shared.clone(), s.size);
            tokio::spawn(async move { subscribe(c, size, &shared).await })
        })
        .collect();
    let frames = publish_frames(topics, s.size, s.binary)?;
    let start = Instant::now() + s.warmup;
    let deadline = start + s.duration;
    let pubs = tokio::spawn(publish(publisher, frames, per_topic, f, shared.clone(), deadline));
    sleep_until(start).await;
    let (cpu0, d0) = (CpuMark::now(s.server_pid), shared.delivered.load(Ordering::Relaxed));
    sleep_until(deadline).await;
    let (cpu1, d1) = (CpuMark::now(s.server_pid), shared.delivered.load(Ordering::Relaxed));
    cpu1.record_since(&cpu0, &mut out);
    out.messages = d1 - d0;
    out.bytes = out.messages * s.size as u64;
    if let Err(e) = pubs.await.map_err(io::Error::other)? {
        out.error(e);
    }
    for r in readers {
        r.abort();
    }
    let errors = shared.errors.load(Ordering::Relaxed);
    if errors > 0 {
        out.errors += errors;
        out.first_error.get_or_insert_with(|| format!("{errors} deliveries of the wrong size or kind"));
    }
    Ok(out)
}

/// One masked publish frame per topic, `size` bytes each: `t<k> ` then filler.
fn publish_frames(topics: usize, size: usize, binary: bool) -> io::Result<Vec<Vec<u8>>> {
    let filler = crate::payload::make_payload(size);
    (0..topics)
        .map(|k| {
            let mut body = format!("t{k} ").into_bytes();
            if body.len() > size {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("--size {size} < topic name")));
            }
            body.extend_from_slice(&filler[body.len()..size]);
            let mut out = Vec::with_capacity(size + 14);
            frame::encode_masked(
                &mut out,
                if binary { OP_BINARY } else { OP_TEXT },
                false,
                &body,
                frame::random_mask(),
            );
            Ok(out)
        })
        .collect()
}

/// The publisher: round-robin over the topics, at the fixed rate or within the window.
async fn publish(
    mut c: Conn,
    frames: Vec<Vec<u8>>,
    per_topic: Vec<u64>,
    f: Fanout,
    shared: Arc<Shared>,
    deadline: Instant,
) -> io::Result<()> {
    let mut k = 0;
    let mut out = Vec::new();
    if f.rate > 0.0 {
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f.rate));
        while Instant::now() < deadline {
            tick.tick().await;
            c.stream.send_all(&frames[k]).await?;
            k = (k + 1) % frames.len();
        }
        return Ok(());
    }
    // Deliveries owed: a publish is done once every subscriber of its topic got it.
    let most = per_topic.iter().copied().max().unwrap_or(1).max(1);
    let allowed = f.window.max(1) as u64 * most;
    let mut owed_total = 0u64;
    while Instant::now() < deadline {
        let delivered = shared.delivered.load(Ordering::Relaxed);
        while owed_total - delivered.min(owed_total) < allowed {
            out.extend_from_slice(&frames[k]);
            owed_total += per_topic[k];
            k = (k + 1) % frames.len();
        }
        if !out.is_empty() {
            c.stream.send_all(&out).await?;
            out.clear();
        }
        // A server that drops deliveries (slow-subscriber policy) would stall the window: re-base.
        let waited = timeout_at(deadline, timeout(Duration::from_millis(200), shared.progress.notified())).await;
        if matches!(waited, Ok(Err(_))) && shared.delivered.load(Ordering::Relaxed) == delivered {
            owed_total = delivered;
        }
    }
    let _ = c.stream.send_all(&frame::close_frame()).await;
    Ok(())
}

/// One subscriber: counts complete data messages (checking the size of uncompressed ones).
async fn subscribe(mut c: Conn, size: usize, shared: &Shared) -> io::Result<()> {
    let mut buf = std::mem::take(&mut c.leftover);
    loop {
        let mut done = 0;
        let mut pos = 0;
        while let Some(h) = frame::parse_header(&buf[pos..]) {
            if buf.len() - pos < h.frame_len() {
                break;
            }
            match h.opcode {
                OP_TEXT | OP_BINARY if h.fin => {
                    // A compressed message is shorter: only plain ones can be checked cheaply.
                    if !h.rsv1 && h.payload_len != size {
                        shared.errors.fetch_add(1, Ordering::Relaxed);
                    }
                    done += 1;
                }
                OP_CLOSE => return Ok(()),
                _ => {}
            }
            pos += h.frame_len();
        }
        buf.drain(..pos);
        if done > 0 {
            shared.delivered.fetch_add(done, Ordering::Relaxed);
            shared.progress.notify_one();
        }
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        if c.stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}
