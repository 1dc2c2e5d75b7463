//! Fan-out server on the core's topics (the benchmark's `rust` fan-out row): a connection to
//! `/sub/<topic>` is subscribed to `<topic>`; every message a connection to `/pub` sends is
//! published to the topic named by its text up to the first space (the publisher is no subscriber).
//!
//! `cargo run --release -p wssession-core --example fanout -- --port 9003 [--deflate] [--no-context-takeover]`

use clap::Parser;
use wssession_core::{DeflateConfig, EventHandler, Frame, FrameType, Handler, ServerConfig, Session};

#[derive(Parser)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on (0 = ephemeral).
    #[arg(long, default_value_t = 9003)]
    port: u16,
    /// Offer permessage-deflate.
    #[arg(long)]
    deflate: bool,
    /// With --deflate: reset the compressor after each message (one compression per publish).
    #[arg(long)]
    no_context_takeover: bool,
    /// Runtime worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    workers: usize,
}

struct Fanout;

impl EventHandler for Fanout {
    fn on_open(&self, session: &Session) {
        if let Some(topic) = session.request().path.strip_prefix("/sub/") {
            let _ = session.subscribe(topic);
        }
    }

    fn on_message(&self, session: &Session, frame: Frame) {
        let topic_end = frame.data.iter().position(|&b| b == b' ').unwrap_or(frame.data.len());
        if let Ok(topic) = std::str::from_utf8(&frame.data[..topic_end]) {
            let _ = session.publish(topic, &frame.data, frame.kind == FrameType::Text, None);
        }
    }
}

fn main() -> wssession_core::Result<()> {
    let args = Args::parse();
    wssession_core::runtime::set_worker_threads(args.workers)?;
    let mut config = ServerConfig { host: args.host, port: args.port, ..ServerConfig::default() };
    if args.deflate {
        config.deflate =
            DeflateConfig { server_no_context_takeover: args.no_context_takeover, ..DeflateConfig::enabled() };
    }
    let server = wssession_core::ServerBuilder::new(config).fallback(Handler::events(Fanout)).start_blocking()?;
    println!("fan-out server listening on ws://{}/", server.local_addr());
    wssession_core::runtime::block_on(async move {
        tokio::signal::ctrl_c().await.ok();
        server.shutdown(std::time::Duration::from_secs(2)).await;
    })
}
