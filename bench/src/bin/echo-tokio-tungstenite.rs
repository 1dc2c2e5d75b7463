//! tokio-tungstenite echo server (default config, the idiomatic `next`/`send` loop).

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use wssession_bench::server::{self, ServerArgs};

fn main() -> std::io::Result<()> {
    let args = ServerArgs::parse();
    if args.deflate {
        eprintln!("note: tokio-tungstenite 0.30 has no permessage-deflate; serving uncompressed");
    }
    server::run(&args, echo)
}

/// Handshake, then echo data messages until close.
async fn echo(s: TcpStream) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            break;
        }
    }
}
