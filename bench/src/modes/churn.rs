//! Churn mode: each of N workers loops connect → handshake → close → wait for the
//! server's TCP close, so the server side takes TIME_WAIT as RFC 6455 intends.

use super::{CpuMark, Outcome, Settings, new_histogram};
use crate::client;
use crate::frame;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, sleep_until, timeout};

/// Longest wait for the server to close its end after our close frame.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs churn mode to completion.
pub async fn run(s: &Settings) -> io::Result<Outcome> {
    let start = Instant::now() + s.warmup;
    let deadline = start + s.duration;
    let tasks: Vec<_> = (0..s.connections.max(1))
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move {
                let mut out = Outcome::new(s.duration);
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    match one_session(&s).await {
                        Ok(()) => {
                            let now = Instant::now();
                            if t0 >= start && now <= deadline {
                                out.messages += 1;
                                let _ = out.latency.record((now - t0).as_nanos() as u64);
                            }
                        }
                        Err(e) => out.error(e),
                    }
                }
                out
            })
        })
        .collect();
    sleep_until(start).await;
    let cpu0 = CpuMark::now(s.server_pid);
    sleep_until(deadline).await;
    let cpu1 = CpuMark::now(s.server_pid);
    let mut out = Outcome::new(s.duration);
    out.latency = new_histogram();
    cpu1.record_since(&cpu0, &mut out);
    out.connections_ok = s.connections;
    for task in tasks {
        let t = task.await.map_err(io::Error::other)?;
        out.messages += t.messages;
        out.latency.add(&t.latency).map_err(io::Error::other)?;
        out.errors += t.errors;
        if out.first_error.is_none() {
            out.first_error = t.first_error;
        }
    }
    Ok(out)
}

/// One connect-handshake-close cycle.
async fn one_session(s: &Settings) -> io::Result<()> {
    let mut c = client::connect(&s.target, s.deflate).await?;
    if s.target.raw {
        c.stream.shutdown().await?;
    } else {
        c.stream.send_all(&frame::close_frame()).await?;
    }
    let mut sink = [0u8; 512];
    timeout(CLOSE_TIMEOUT, async {
        while c.stream.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    })
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "server did not close"))?
}
