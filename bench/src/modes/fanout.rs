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

/// One server's connections: subscribers reading, the publisher, their counters.
struct Rig {
    publisher: Conn,
    per_topic: Vec<u64>,
    shared: Arc<Shared>,
    readers: Vec<tokio::task::JoinHandle<io::Result<()>>>,
}

impl Rig {
    /// Opens `s.connections` subscribers spread over `topics` topics of `target`, then the
    /// publisher; failed subscriber connects are counted in `out`.
    async fn open(s: &Settings, target: &Target, topics: usize, out: &mut Outcome) -> io::Result<Self> {
        let base = target.path.trim_end_matches('/').to_owned();
        let at = |path: String| Target { path, ..target.clone() };
        let mut subscribers = Vec::with_capacity(s.connections);
        let mut per_topic = vec![0u64; topics];
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
        let shared =
            Arc::new(Shared { delivered: AtomicU64::new(0), errors: AtomicU64::new(0), progress: Notify::new() });
        let readers = subscribers
            .into_iter()
            .map(|c| {
                let (shared, size) = (shared.clone(), s.size);
                tokio::spawn(async move { subscribe(c, size, &shared).await })
            })
            .collect();
        Ok(Self { publisher, per_topic, shared, readers })
    }
}

/// Stops the readers; deliveries of the wrong size or kind counted into `out`.
fn stop_readers(readers: Vec<tokio::task::JoinHandle<io::Result<()>>>, shared: &Shared, out: &mut Outcome) {
    for r in readers {
        r.abort();
    }
    let errors = shared.errors.load(Ordering::Relaxed);
    if errors > 0 {
        out.errors += errors;
        out.first_error.get_or_insert_with(|| format!("{errors} deliveries of the wrong size or kind"));
    }
}

/// Runs fan-out mode to completion.
pub async fn run(s: &Settings, f: Fanout) -> io::Result<Outcome> {
    let topics = f.topics.max(1);
    let mut out = Outcome::new(s.duration);
    let Rig { publisher, per_topic, shared, readers } = Rig::open(s, &s.target, topics, &mut out).await?;
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
    stop_readers(readers, &shared, &mut out);
    Ok(out)
}

/// One measured window of a rotation.
pub struct Window {
    /// Index of the server in the order given.
    pub server: usize,
    /// Round number, from 0.
    pub round: usize,
    /// What the window measured.
    pub outcome: Outcome,
}

/// Fixed-rate fan-out against several servers in turn, for ratios between them that a drifting
/// machine does not skew: every server's subscribers and publisher are opened first, then each of
/// `rounds` rounds publishes to every server in turn (`s.warmup` unmeasured, then `s.duration`
/// measured; the order given, reversed every other round), the others idle meanwhile. A window's CPU is sampled when every
/// delivery of the publishes before it has arrived and again when every delivery of its own has,
/// just before the next publish would go: the server's work for exactly the window's publishes.
pub async fn rotate(s: &Settings, f: Fanout, servers: &[(Target, Option<u32>)], rounds: usize) -> Vec<Window> {
    let topics = f.topics.max(1);
    let frames = match publish_frames(topics, s.size, s.binary) {
        Ok(fr) => fr,
        Err(e) => return failed(servers.len(), rounds, s.duration, &e),
    };
    let mut rigs = Vec::with_capacity(servers.len());
    for (target, _) in servers {
        let mut opened = Outcome::new(s.duration);
        let rig = Rig::open(s, target, topics, &mut opened).await;
        rigs.push(rig.map(|r| (r, opened, 0usize)).map_err(|e| e.to_string()));
    }
    let mut windows = Vec::with_capacity(servers.len() * rounds);
    for round in 0..rounds {
        // Every other round in reverse, so no server always follows the same one.
        let order: Vec<usize> =
            if round % 2 == 0 { (0..rigs.len()).collect() } else { (0..rigs.len()).rev().collect() };
        for server in order {
            let mut out = Outcome::new(s.duration);
            match &mut rigs[server] {
                Ok((rig, opened, k)) => {
                    out.connections_ok = opened.connections_ok;
                    out.deflate_negotiated = opened.deflate_negotiated;
                    if let Err(e) = timed_window(rig, &frames, k, s, f.rate, servers[server].1, &mut out).await {
                        out.error(e);
                    }
                }
                Err(e) => out.error(format!("connecting: {e}")),
            }
            windows.push(Window { server, round, outcome: out });
        }
    }
    for (server, rig) in rigs.into_iter().enumerate() {
        let Ok((rig, mut opened, _)) = rig else { continue };
        stop_readers(rig.readers, &rig.shared, &mut opened);
        // Connect failures and wrong deliveries: on the server's last window.
        if let (Some(e), Some(w)) = (opened.first_error, windows.iter_mut().rfind(|w| w.server == server)) {
            w.outcome.errors += opened.errors;
            w.outcome.first_error.get_or_insert(e);
        }
    }
    windows
}

/// Every window failed for the same reason.
fn failed(servers: usize, rounds: usize, duration: Duration, why: &io::Error) -> Vec<Window> {
    let mut windows = Vec::new();
    for round in 0..rounds {
        for server in 0..servers {
            let mut outcome = Outcome::new(duration);
            outcome.error(why);
            windows.push(Window { server, round, outcome });
        }
    }
    windows
}

/// Longest wait for a window's deliveries before a CPU sample (a server dropping deliveries by
/// its slow-subscriber policy never catches up).
const CATCH_UP: Duration = Duration::from_secs(2);

/// One rotation window on `rig`: warm-up publishes, then the measured ones, at `rate` per second.
async fn timed_window(
    rig: &mut Rig,
    frames: &[Vec<u8>],
    k: &mut usize,
    s: &Settings,
    rate: f64,
    pid: Option<u32>,
    out: &mut Outcome,
) -> io::Result<()> {
    let warm = (s.warmup.as_secs_f64() * rate).round() as usize;
    let measured = ((s.duration.as_secs_f64() * rate).round() as usize).max(1);
    let mut owed = rig.shared.delivered.load(Ordering::Relaxed);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    // A late tick (loadgen starved of CPU) publishes once and the next waits a whole period: a
    // burst of caught-up ticks would let the server batch them, which the fixed rate is not about.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut start = None;
    for i in 0..=warm + measured {
        tick.tick().await;
        if i == warm || i == warm + measured {
            let deadline = Instant::now() + CATCH_UP;
            while rig.shared.delivered.load(Ordering::Relaxed) < owed && Instant::now() < deadline {
                let _ = timeout_at(deadline, rig.shared.progress.notified()).await;
            }
            let behind = owed.saturating_sub(rig.shared.delivered.load(Ordering::Relaxed));
            if behind > 0 {
                out.error(format!("{behind} deliveries still owed {CATCH_UP:?} after their publishes"));
            }
            let mark = (CpuMark::now(pid), rig.shared.delivered.load(Ordering::Relaxed), Instant::now());
            match start {
                None => start = Some(mark),
                Some((cpu0, d0, t0)) => {
                    mark.0.record_since(&cpu0, out);
                    out.messages = mark.1 - d0;
                    out.bytes = out.messages * s.size as u64;
                    out.elapsed = mark.2 - t0;
                    return Ok(());
                }
            }
        }
        rig.publisher.stream.send_all(&frames[*k]).await?;
        owed += rig.per_topic[*k];
        *k = (*k + 1) % frames.len();
    }
    Ok(())
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
