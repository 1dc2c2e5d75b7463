//! Echo server on the core: every message comes back unchanged (benchmarks, Autobahn).
//!
//! `cargo run --release -p wssession-core --example echo -- --port 9002 [--deflate] [--log-file PATH] [--no-idle-tasks]`

use std::io::{LineWriter, Write};
use std::sync::{Arc, Mutex};

use clap::Parser;
use wssession_core::log::{Level, LogRecord};
use wssession_core::{DeflateConfig, EventHandler, Frame, Handler, ServerConfig, Session};

#[derive(Parser)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 = ephemeral).
    #[arg(long, default_value_t = 9002)]
    port: u16,
    /// Offer permessage-deflate.
    #[arg(long)]
    deflate: bool,
    /// Runtime worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Size limit for frames and messages, bytes.
    #[arg(long, default_value_t = 64 << 20)]
    max_size: usize,
    /// Write the server's log records at INFO and above to this file, a line each (the bench's
    /// logging-cost row); without it nothing is logged.
    #[arg(long)]
    log_file: Option<std::path::PathBuf>,
    /// Sessions keep no task while idle (`SessionConfig::no_idle_tasks`): the default, accepted
    /// for the bench's older command lines.
    #[arg(long, conflicts_with = "idle_tasks")]
    no_idle_tasks: bool,
    /// Every session keeps a reader and a writer task (`SessionConfig::no_idle_tasks = false`).
    #[arg(long)]
    idle_tasks: bool,
}

/// One line per record: "LEVEL message k=v ...", written as it comes.
fn file_sink(path: &std::path::Path) -> std::io::Result<wssession_core::log::LogSink> {
    let out = Mutex::new(LineWriter::new(std::fs::File::create(path)?));
    Ok(Arc::new(move |r: &LogRecord| {
        let mut line = format!("{} {}", r.level, r.message);
        for (k, v) in &r.fields {
            line.push_str(&format!(" {k}={v}"));
        }
        let _ = writeln!(out.lock().unwrap(), "{line}");
    }))
}

struct Echo;

impl EventHandler for Echo {
    fn on_message(&self, session: &Session, frame: Frame) {
        let _ = session.try_send(frame);
    }
}

fn main() -> wssession_core::Result<()> {
    let args = Args::parse();
    wssession_core::runtime::set_worker_threads(args.workers)?;
    let mut config = ServerConfig { host: args.host, port: args.port, ..ServerConfig::default() };
    config.session.max_frame_size = args.max_size;
    config.session.write_hard_limit = args.max_size * 2 + (1 << 20);
    config.session.no_idle_tasks = !args.idle_tasks;
    if args.deflate {
        config.deflate = DeflateConfig::enabled();
    }
    let mut builder = wssession_core::ServerBuilder::new(config).fallback(Handler::events(Echo));
    if let Some(path) = &args.log_file {
        builder = builder.log_sink(Level::INFO, file_sink(path)?);
    }
    let server = builder.start_blocking()?;
    println!("echo server listening on ws://{}/", server.local_addr());
    wssession_core::runtime::block_on(async move {
        tokio::signal::ctrl_c().await.ok();
        server.shutdown(std::time::Duration::from_secs(2)).await;
    })
}
