//! Cross-node latency through the backplane: a publish on server A reaching a client of server B,
//! against the same publish reaching a client of A itself; the difference is what the broker adds.
//!
//! Starts its own `redis-server` and `nats-server` on loopback ephemeral ports (stopped by pid on
//! exit), two wssession servers per broker in this process, and one subscribing client on each.
//! Publishes `--count` messages at `--rate` per second (a fixed rate, so queues never build up)
//! and reports p50/p99/p99.9 of publish → client receive.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use tokio_tungstenite::tungstenite::Message;
use wssession_core::{EventHandler, Frame, Handler, Server, ServerBuilder, ServerConfig, Session};

#[derive(Parser)]
struct Args {
    /// Messages measured per setup.
    #[arg(long, default_value_t = 5000)]
    count: usize,
    /// Publishes per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Payload bytes (at least 8: the send time travels in the payload).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Print one JSON object per setup instead of the table.
    #[arg(long)]
    json: bool,
}

/// Subscribes every session to "bench".
struct Subscriber;

impl EventHandler for Subscriber {
    fn on_open(&self, session: &Session) {
        session.subscribe("bench").expect("subscribes");
    }

    fn on_message(&self, _: &Session, _: Frame) {}
}

/// A broker process started here; killed by its pid on drop.
struct Broker(Child);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_broker(program: &str, args: &[String], port: u16) -> Broker {
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program} (make brokers installs it): {e}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{program} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Broker(child)
}

async fn server(backplane: Option<String>) -> Server {
    let config = ServerConfig { backplane, ..ServerConfig::default() };
    ServerBuilder::new(config).fallback(Handler::events(Subscriber)).start().await.expect("server starts")
}

/// Latencies in µs of `count` publishes on `publisher` seen by a client of `receiver`.
async fn measure(publisher: &Server, receiver: &Server, args: &Args) -> Histogram<u64> {
    let url = format!("ws://{}/", receiver.local_addr());
    let (mut client, _) = tokio_tungstenite::connect_async(url).await.expect("client connects");
    let base = Instant::now();
    let stamp = |tag: u64| {
        let mut p = vec![0u8; args.size.max(16)];
        p[..8].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_le_bytes());
        p[8..16].copy_from_slice(&tag.to_le_bytes());
        p
    };
    // Warm up until the subscription reached every node (the broker's too).
    loop {
        publisher.publish("bench", &stamp(u64::MAX), false, Some(false)).unwrap();
        match tokio::time::timeout(Duration::from_millis(50), client.next()).await {
            Ok(Some(Ok(Message::Binary(_)))) => break,
            Ok(Some(Ok(_))) | Err(_) => continue,
            Ok(other) => panic!("client ended: {other:?}"),
        }
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let period = Duration::from_nanos(1_000_000_000 / args.rate.max(1));
    let mut ticker = tokio::time::interval(period);
    let mut sent = 0usize;
    let mut received = 0usize;
    while received < args.count {
        tokio::select! {
            _ = ticker.tick(), if sent < args.count => {
                publisher.publish("bench", &stamp(sent as u64), false, Some(false)).unwrap();
                sent += 1;
            }
            m = client.next() => match m {
                Some(Ok(Message::Binary(p))) => {
                    if u64::from_le_bytes(p[8..16].try_into().unwrap()) == u64::MAX {
                        continue; // a late warm-up message
                    }
                    let at = u64::from_le_bytes(p[..8].try_into().unwrap());
                    let ns = (base.elapsed().as_nanos() as u64).saturating_sub(at);
                    hist.record((ns / 1000).max(1)).unwrap();
                    received += 1;
                }
                Some(Ok(_)) => {}
                other => panic!("client ended: {other:?}"),
            }
        }
    }
    hist
}

fn row(args: &Args, setup: &str, h: &Histogram<u64>, local_p99: u64) {
    let (p50, p99, p999) = (h.value_at_quantile(0.5), h.value_at_quantile(0.99), h.value_at_quantile(0.999));
    if args.json {
        println!(
            "{{\"setup\":\"{setup}\",\"p50_us\":{p50},\"p99_us\":{p99},\"p999_us\":{p999},\"added_p99_us\":{}}}",
            p99.saturating_sub(local_p99)
        );
    } else {
        println!("| {setup} | {p50} | {p99} | {p999} | {} |", p99.saturating_sub(local_p99));
    }
}

fn main() {
    let args = Args::parse();
    let (redis_port, nats_port) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("wss-bench-redis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let redis_args: Vec<String> =
        ["--port", &redis_port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir"]
            .iter()
            .map(|s| s.to_string())
            .chain([dir.display().to_string()])
            .collect();
    let _redis = start_broker("redis-server", &redis_args, redis_port);
    let nats_args = vec!["-a".into(), "127.0.0.1".into(), "-p".into(), nats_port.to_string()];
    let _nats = start_broker("nats-server", &nats_args, nats_port);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        if !args.json {
            println!(
                "publish → client receive, µs ({} messages of {} B at {}/s; added = p99 − same-node p99)\n",
                args.count, args.size, args.rate
            );
            println!("| setup | p50 | p99 | p99.9 | added p99 |\n|---|---|---|---|---|");
        }
        let local = server(None).await;
        let base = measure(&local, &local, &args).await;
        let local_p99 = base.value_at_quantile(0.99);
        row(&args, "same node (in-process)", &base, local_p99);
        for (setup, url) in [
            ("other node, Redis pub/sub", format!("redis://127.0.0.1:{redis_port}")),
            ("other node, Redis history", format!("redis://127.0.0.1:{redis_port}?history=1000&prefix=h")),
            ("other node, NATS", format!("nats://127.0.0.1:{nats_port}")),
        ] {
            let (a, b) = (server(Some(url.clone())).await, server(Some(url)).await);
            let h = measure(&a, &b, &args).await;
            row(&args, setup, &h, local_p99);
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}
