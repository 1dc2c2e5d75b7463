//! WebSocket load generator: echo round-trips, idle connections, handshake churn, topic fan-out.
//!
//! Runs on a current-thread tokio runtime: the harness pins it to one core.

use clap::{Parser, ValueEnum};
use std::process::ExitCode;
use std::time::Duration;
use wssession_bench::modes::{self, Settings};
use wssession_bench::{report, rlimit, target::Target};

/// Bytes in flight per connection above which a run may stall on full socket buffers.
const PIPELINE_BYTES_WARN: usize = 4 << 20;

/// What to measure.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    /// Round-trips with `--pipeline` messages in flight per connection.
    Echo,
    /// Hold `--connections` idle connections; server KiB per connection.
    Idle,
    /// Connect, handshake, close, repeat.
    Churn,
    /// `--connections` subscribers on `--topics` topics, one publisher; deliveries per second.
    Fanout,
}

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "WebSocket load generator for the wssession benchmarks")]
struct Args {
    /// ws://host:port/path, wss://host:port/path (with --tls-ca), or tcp://host:port for a raw TCP echo.
    /// Repeated (with one --server-pid each): a fixed-rate fan-out rotation over those servers.
    #[arg(long, default_value = "ws://127.0.0.1:9001/")]
    url: Vec<String>,
    /// PEM file of the certificate(s) a wss:// server must present (e.g. the harness's self-signed
    /// one); the only certificates trusted.
    #[arg(long)]
    tls_ca: Option<std::path::PathBuf>,
    /// Concurrent connections (echo, churn) or connections held (idle).
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 32)]
    size: usize,
    /// Binary frames (text otherwise).
    #[arg(long)]
    binary: bool,
    /// Messages in flight per connection.
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Measured seconds (idle: seconds the connections are held).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Unmeasured seconds before the window (echo, churn).
    #[arg(long, default_value_t = 0.5)]
    warmup: f64,
    #[arg(long, value_enum, default_value = "echo")]
    mode: Mode,
    /// Server process id: CPU per echo from /proc/PID/stat, RSS from /proc/PID/status (one per --url).
    #[arg(long)]
    server_pid: Vec<u32>,
    /// Offer permessage-deflate (client_no_context_takeover).
    #[arg(long)]
    deflate: bool,
    /// Handshakes in flight while opening connections.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Fan-out: topics the subscribers are spread over.
    #[arg(long, default_value_t = 1)]
    topics: usize,
    /// Fan-out: publishes per second (0 = as fast as the server delivers).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Fan-out at full rate: publishes in flight.
    #[arg(long, default_value_t = 16)]
    window: usize,
    /// Fan-out at a fixed rate: rounds of one window per --url in turn (`--duration` each, after
    /// `--warmup`), every server's connections open throughout; one JSON object with every window.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let targets: Result<Vec<Target>, _> = args.url.iter().map(|u| Target::parse(u, args.tls_ca.as_deref())).collect();
    let targets = match targets {
        Ok(t) => t,
        Err(e) => {
            eprintln!("loadgen: {e}");
            return ExitCode::from(2);
        }
    };
    let rotation = targets.len() > 1 || args.rounds > 1;
    if rotation && !(matches!(args.mode, Mode::Fanout) && args.rate > 0.0) {
        eprintln!("loadgen: several --url or --rounds apply to --mode fanout with --rate only");
        return ExitCode::from(2);
    }
    if args.server_pid.len() > 1 && args.server_pid.len() != targets.len() {
        eprintln!("loadgen: {} --server-pid for {} --url: give one per url", args.server_pid.len(), targets.len());
        return ExitCode::from(2);
    }
    if let Err(e) = rlimit::raise_nofile((args.connections as u64 + 1) * targets.len() as u64 + 1024) {
        eprintln!("loadgen: cannot raise RLIMIT_NOFILE: {e}");
    }
    let settings = Settings {
        target: targets[0].clone(),
        connections: args.connections,
        size: args.size,
        binary: args.binary,
        pipeline: args.pipeline.max(1),
        duration: Duration::from_secs_f64(args.duration),
        warmup: Duration::from_secs_f64(args.warmup),
        deflate: args.deflate,
        server_pid: args.server_pid.first().copied(),
        connect_concurrency: args.connect_concurrency,
    };
    if args.pipeline.saturating_mul(args.size) > PIPELINE_BYTES_WARN {
        eprintln!(
            "loadgen: warning: pipeline × size over {} MiB; a connection writes its whole window \
             before reading, so socket buffers may fill up and stall the run",
            PIPELINE_BYTES_WARN >> 20
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let fanout = modes::fanout::Fanout { topics: args.topics, rate: args.rate, window: args.window };
    if rotation {
        let servers: Vec<_> =
            targets.into_iter().zip(args.server_pid.iter().map(|&p| Some(p)).chain(std::iter::repeat(None))).collect();
        let windows = rt.block_on(modes::fanout::rotate(&settings, fanout, &servers, args.rounds));
        return rotation_report(&settings, &servers, &windows, args.json);
    }
    let (name, result) = rt.block_on(async {
        match args.mode {
            Mode::Echo => ("echo", modes::echo::run(&settings).await),
            Mode::Idle => ("idle", modes::idle::run(&settings).await),
            Mode::Churn => ("churn", modes::churn::run(&settings).await),
            Mode::Fanout => ("fanout", modes::fanout::run(&settings, fanout).await),
        }
    });
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            eprintln!("loadgen: {name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let v = report::to_json(name, &settings, &outcome);
    if args.json {
        println!("{v}");
    } else {
        println!("{}", report::to_text(&v));
    }
    if outcome.messages == 0 {
        eprintln!("loadgen: no message completed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Prints a rotation's windows (one JSON object with a `windows` list, or a text block each);
/// fails when no window delivered anything.
fn rotation_report(
    settings: &Settings,
    servers: &[(Target, Option<u32>)],
    windows: &[modes::fanout::Window],
    json: bool,
) -> ExitCode {
    let mut all = Vec::with_capacity(windows.len());
    for w in windows {
        let (target, pid) = &servers[w.server];
        let s = Settings { target: target.clone(), server_pid: *pid, ..settings.clone() };
        let mut v = report::to_json("fanout", &s, &w.outcome);
        v["server"] = w.server.into();
        v["round"] = w.round.into();
        if !json {
            println!("round {} server {}: {}", w.round + 1, w.server + 1, report::to_text(&v));
        }
        all.push(v);
    }
    if json {
        println!("{}", serde_json::json!({"mode": "fanout-rotation", "windows": all}));
    }
    if windows.iter().all(|w| w.outcome.messages == 0) {
        eprintln!("loadgen: no message completed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
